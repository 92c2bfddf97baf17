"""The tables of the records: the runbook catalog, incidents, one incident, metrics."""

from __future__ import annotations

from pathlib import Path

import click

from vedrun.display.runs import mttr_rows
from vedrun.escaping import terminal
from vedrun.timeutil import human


def catalog_table(catalog) -> None:
    """The seed's table: per severity its MTTR targets, then its runbooks."""
    for name, severity in catalog.severities.items():
        books = [r for r in catalog.runbooks.values() if r.severity == name]
        if not books:
            continue
        targets = severity.targets
        click.secho(f"\n{name} - {severity.meaning} (MTTR <{human(targets['total'])}: "
                    f"detect {human(targets['detection'])}, mitigate "
                    f"{human(targets['mitigation'])}, recover "
                    f"{human(targets['recovery'])})", bold=True)
        rows = [("Runbook", "Scenario", "Common Causes", "Quick Actions")] + [
            (f"{r.id}", r.scenario, ", ".join(r.causes), ", ".join(r.quick_actions)) for r in books]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for index, row in enumerate(rows):
            click.echo("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
            if index == 0:
                click.echo("  " + "  ".join("-" * w for w in widths))


def incident_table(rows: list[dict]) -> None:
    if not rows:
        click.echo("No incidents.")
        return
    click.echo(f"{'ID':<17} {'Sev':<4} {'Kind':<5} {'Status':<13} {'Started (UTC)':<17} "
               f"{'Outcome':<15} Title")
    for row in rows:
        click.echo(f"{terminal(row['id']):<17} {terminal(row['severity']):<4} {row['kind']:<5} "
                   f"{terminal(row['status']):<13} {row['started_at'][:16].replace('T', ' '):<17} "
                   f"{terminal(row['outcome'] or '-'):<15} {terminal(row['title'])}")


def incident_detail(view) -> None:
    """One incident (an IncidentView): timeline, MTTR, runs and where their files are."""
    record = view.incident
    click.secho(f"{terminal(record['id'])}  {terminal(record['severity'])}  "
                f"{terminal(record['title'])}", bold=True)
    click.echo(f"  kind {terminal(record['kind'])}, status {terminal(record['status'])}, runbook "
               f"{terminal(record['runbook'] or '-')}, last outcome {terminal(record['outcome'] or '-')}")
    click.echo("\nTimeline (UTC)")
    for entry in view.timeline:  # a note may span lines: they stay under it, indented
        text = terminal(entry["text"], multiline=True).replace("\n", "\n" + " " * 34)
        click.echo(f"  {entry['at'][:19].replace('T', ' ')}  {terminal(entry['kind']):<10} {text}")
    if view.mttr:
        click.echo(f"\nMTTR against {record['severity']} targets")
        mttr_rows(view.mttr, indent="  ", colour=False)
    click.echo("\nRuns")
    if not view.runs:
        click.echo("  none")
    for run in view.runs:
        _run_lines(run)


def _run_lines(run: dict) -> None:
    click.echo(f"  #{run['id']} {terminal(run['runbook'])}{' (check)' if run['check_mode'] else ''}: "
               f"{terminal(run['outcome'])} on {terminal(', '.join(run['hosts']))} "
               f"[{run['started_at'][11:19]} - {(run['ended_at'] or '        ')[11:19]}]")
    if run["error"]:
        click.echo(f"      {terminal(run['error'])}")
    exists = Path(run["evidence_dir"] or "").is_dir()
    click.echo(f"      evidence:  {terminal(run['evidence_dir'])}{'' if exists else ' (none)'}")
    exists = Path(run["artifacts_dir"] or "").is_dir()
    click.echo(f"      artifacts: {terminal(run['artifacts_dir'])}{'' if exists else ' (rotated away)'}")


def metrics_table(report) -> None:
    """Times used, average MTTR and success rate per runbook and kind, below target in red."""
    target = report.target
    click.echo(f"Runbook effectiveness since {report.since:%Y-%m-%d %H:%M} UTC "
               f"(target: {target:.0%} success rate)")
    header = f"  {'Runbook':<20} {'Kind':<6} {'Times Used':>10} {'Avg MTTR':>9} {'Success Rate':>13}"
    click.echo(header)
    click.echo("  " + "-" * (len(header) - 2))
    for row in report.rows:
        if row.kind == "drill" and not row.times_used:
            continue  # drills show once a runbook has been drilled
        rate = "-" if row.success_rate is None else f"{row.success_rate:.0%}"
        below = row.success_rate is not None and row.success_rate < target
        click.secho(f"  {row.title:<20} {row.kind:<6} {row.times_used:>10} "
                    f"{human(row.avg_mttr_seconds):>9} {rate:>13}{'  below target' if below else ''}",
                    fg="red" if below else None)
