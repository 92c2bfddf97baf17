"""`vedrun incident log|list|show|update|resolve|rca`: the incident log."""

from __future__ import annotations

from pathlib import Path

import click

from vedrun.cli.options import MomentType, SeverityType, SinceType, emit_json, engine_of, json_option

STATUSES = ["open", "investigating", "mitigated", "recovered", "resolved"]


@click.group()
def incident():
    """The incident log: log, list, show, update, resolve, rca."""


def _title(ctx, param, value):
    if value is not None and not value.strip():
        raise click.BadParameter("give a short description", ctx=ctx, param=param)
    return value.strip() if value else value


@incident.command("log")
@click.option("--severity", required=True, type=SeverityType(), help="P0, P1 or P2 (from runbooks.yml).")
@click.option("--title", required=True, callback=_title, help="A brief description of what users see.")
@click.option("--runbook", help="The runbook you are following, if any.")
@click.option("--started-at", type=MomentType(),
              help="When it began, within the last 30 days (see --backfill). Default: now.")
@click.option("--backfill", is_flag=True, is_eager=True,  # read before --started-at
              help="Record a past incident: --started-at may go back to 2000-01-01.")
@click.option("--note", help="A first note for the timeline.")
@click.option("--drill", is_flag=True, help="Record a drill, not a real incident.")
@json_option("Print the new incident with its id.")
@click.pass_context
def incident_log(ctx, severity, title, runbook, started_at, backfill, note, drill, as_json):
    """Open a new incident."""
    from vedrun.escaping import terminal

    record = engine_of(ctx).incidents.log(severity=severity, title=title, runbook=runbook,
                                          drill=drill, started_at=started_at, note=note)
    if as_json:
        emit_json(record)
    else:
        click.echo(f"Opened {record['id']} ({severity}): {terminal(record['title'])}")


@incident.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only incidents not resolved.")
@click.option("--since", type=SinceType(), help="Only incidents started in this period: 30d, 2w...")
@click.option("--kind", type=click.Choice(["real", "drill"]), help="Only real incidents or drills.")
@json_option()
@click.pass_context
def incident_list(ctx, open_only, since, kind, as_json):
    """The incidents, newest first."""
    from vedrun.display.tables import incident_table

    rows = _store_only(ctx).incidents(open_only=open_only, since=since, kind=kind)
    if as_json:
        emit_json(rows)
    else:
        incident_table(rows)


def _store_only(ctx):
    """The store without the catalog and without rendering: listing must start fast."""
    from vedrun.paths import default_home
    from vedrun.store import Store

    home = (ctx.find_root().obj or {}).get("home")
    return Store(Path(home).expanduser() if home else default_home())


@incident.command("show")
@click.argument("incident_id", metavar="ID")
@json_option()
@click.pass_context
def incident_show(ctx, incident_id, as_json):
    """One incident: timeline, MTTR, runs and their evidence."""
    from vedrun.display.tables import incident_detail

    view = engine_of(ctx).incidents.show(incident_id)
    if as_json:
        emit_json(view.as_json())
    else:
        incident_detail(view)


@incident.command("update")
@click.argument("incident_id", metavar="ID")
@click.option("--note", help="Add a note to the timeline.")
@click.option("--status", type=click.Choice(STATUSES), help="Set the status.")
@json_option()
@click.pass_context
def incident_update(ctx, incident_id, note, status, as_json):
    """Add a note or change the status."""
    if not note and not status:
        raise click.UsageError("Nothing to update: give --note TEXT and/or --status STATUS.")
    record = engine_of(ctx).incidents.update(incident_id, note=note, status=status)
    if as_json:
        emit_json(record)
    else:
        click.echo(f"Updated {incident_id}: status {record['status']}")


@incident.command("resolve")
@click.argument("incident_id", metavar="ID")
@click.option("--note", help="What resolved it, for the timeline.")
@json_option()
@click.pass_context
def incident_resolve(ctx, incident_id, note, as_json):
    """Mark an incident resolved."""
    record = engine_of(ctx).incidents.resolve(incident_id, note)
    if as_json:
        emit_json(record)
    else:
        click.echo(f"Resolved {incident_id}. Next: `vedrun incident rca {incident_id}` "
                   "(an RCA is due within 24 hours for P0/P1).")


@incident.command("rca")
@click.argument("incident_id", metavar="ID")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file.")
@click.pass_context
def incident_rca(ctx, incident_id, output):
    """An RCA draft in Markdown from the timeline, runs and evidence."""
    from vedrun.files import atomic_write

    text = engine_of(ctx).incidents.rca(incident_id)
    if output:
        atomic_write(Path(output), text)  # 0600: an RCA holds production details
        click.echo(f"Wrote {output}")
    else:
        click.echo(text, nl=False)
