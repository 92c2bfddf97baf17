"""`vedrun RUNBOOK` (one command per catalog entry) and `vedrun list`."""

from __future__ import annotations

import click

from vedrun.cli import terminal
from vedrun.cli.options import (
    MomentType,
    emit_json,
    engine_of,
    extra_vars_option,
    inventory_options,
    json_option,
)


def _help(runbook) -> str:
    return (f"{runbook.severity} {runbook.title}: {runbook.scenario}.\n\n"
            f"Common causes: {', '.join(runbook.causes)}.\n\n"
            f"Quick actions: {', '.join(runbook.quick_actions)}.\n\n"
            + ("Runs the runbook's playbook (detect, mitigate, resolve, verify) against the "
               "inventory, records the incident and reports MTTR against the target."
               if runbook.automated else
               "Not automated yet: records the incident, checks and changes nothing, and "
               "prints the quick actions and whom to call."))


def runbook_command(runbook) -> click.Command:
    """The command of one runbook of the catalog."""

    @click.command(name=runbook.id, help=_help(runbook),
                   short_help=f"{runbook.severity} {runbook.title}: {runbook.scenario}")
    @inventory_options
    @click.option("--check", is_flag=True,
                  help="Ansible check mode: detect and report, change nothing, record no recovery.")
    @extra_vars_option
    @click.option("--incident", "incident_id", metavar="ID",
                  help="Join this open incident instead of opening a new one.")
    @click.option("--started-at", type=MomentType(),
                  help="When the incident began (the alert's time): ISO 8601, HH:MM or '15m ago'. "
                       "Default: now.")
    @click.option("--yes", "-y", is_flag=True, help="Do not ask before touching production hosts.")
    @json_option()
    @click.pass_context
    def command(ctx, where, check, extravars, incident_id, started_at, yes, as_json):
        from vedrun.display.progress import RunProgress
        from vedrun.display.runs import report
        from vedrun.runs import RunRequest

        if incident_id and started_at:
            raise click.UsageError("--started-at opens a new incident; it cannot be used with "
                                   "--incident (the incident already has its start).")
        request = RunRequest(runbook.id, where, check=check, extravars=extravars,
                             incident_id=incident_id, started_at=started_at)
        outcome = engine_of(ctx).runs.run(
            request, approve=terminal.production_approval(yes),
            confirm=terminal.runbook_confirm(as_json),
            watch=lambda plan: RunProgress(plan, as_json))
        if as_json:
            emit_json(outcome.as_json())
        else:
            report(outcome, runbook)
        ctx.exit(outcome.exit_code)

    return command


@click.command("list")
@json_option("Print the catalog as JSON.")
@click.pass_context
def list_runbooks(ctx, as_json):
    """The runbooks and MTTR targets (the seed's table)."""
    from vedrun import catalog
    from vedrun.display.tables import catalog_table
    from vedrun.paths import find_project

    cat = catalog.load(find_project(ctx.obj.get("project")))
    if as_json:
        emit_json({"severities": {n: {"meaning": s.meaning, "targets": s.targets}
                                  for n, s in cat.severities.items()},
                   "runbooks": [r.as_dict() for r in cat.runbooks.values()]})
    else:
        catalog_table(cat)
