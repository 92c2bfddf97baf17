"""The end-of-run report of a runbook run, and the drills' summary."""

from __future__ import annotations

import json
import shlex

import click

from vedrun.escaping import terminal
from vedrun.outcome import Outcome
from vedrun.timeutil import human

MARK = {True: "BREACHED", False: "ok"}


def shell_value(value) -> str:
    """A confirming value as typed after `-e name=`: true for a plain yes, else the value."""
    if value is True:
        return "true"
    text = value if isinstance(value, str) else json.dumps(value)
    return shlex.quote(text)


def go_ahead_command(report, runbook) -> str:
    """The command that re-runs the runbook in its incident with every question answered."""
    run = report.run or {}
    where = (f" -i {shlex.quote(run['inventory'])}" if run.get("inventory") else "") + (
        f" --limit {shlex.quote(run['limit_pattern'])}" if run.get("limit_pattern") else "")
    answers = " ".join(f"-e {name}={shell_value(value)}"
                       for name, value in report.confirming_vars().items())
    return f"vedrun {runbook.id} --incident {report.incident['id']}{where} {answers}"


def report(run_report, runbook) -> None:
    """The end-of-run summary: outcome, timeline, MTTR against targets, where things are."""
    outcome = Outcome(run_report.outcome)
    click.echo()
    click.secho(f"{runbook.id} ({runbook.severity} {runbook.title}): {outcome.upper()}",
                fg=outcome.colour, bold=True)
    if run_report.message:  # hosts' messages: never raw control characters on the terminal
        click.echo(f"  {terminal(run_report.message)}")
    if outcome is Outcome.AWAITING_CONFIRMATION and run_report.incident is not None:
        click.secho("  Nothing destructive was done. To go ahead: "
                    + terminal(go_ahead_command(run_report, runbook)), fg="yellow")
    _hosts(run_report.state)
    _changes(run_report.state, outcome)
    _incident(run_report, outcome)
    if run_report.evidence_dir:
        click.echo(f"  Evidence:  {run_report.evidence_dir}")
    if run_report.artifacts_dir:
        click.echo(f"  Artifacts: {run_report.artifacts_dir}")
    _escalation(run_report.escalation, runbook)


def _hosts(state) -> None:
    if state is None:
        return
    found = {h: f for h, f in state.faults.items() if f}
    click.echo("  Faults found: " + terminal("; ".join(f"{h}: {', '.join(f)}" for h, f in found.items())
                                              if found else "none"))
    for host, counts in sorted(state.hosts.items()):
        click.echo(f"  {terminal(host)}: ok={counts.ok} changed={counts.changed} failed={counts.failed} "
                   f"unreachable={counts.unreachable}")


def _changes(state, outcome: Outcome, most: int = 15) -> None:
    """The tasks that changed something (in check mode: would have), so that an engineer sees what
    the runbook did without opening the artifacts."""
    if state is None or not state.changes:
        return
    click.echo("  Would change (check mode):" if outcome is Outcome.CHECKED else "  Changed:")
    for host, task, items in state.changes[:most]:
        label = f" ({', '.join(items)})" if items else ""
        click.echo(f"    {terminal(host)}: {terminal(task)}{terminal(label)}")
    if len(state.changes) > most:
        click.echo(f"    ... and {len(state.changes) - most} more (see the artifacts)")


def _incident(run_report, outcome: Outcome) -> None:
    incident = run_report.incident
    if incident is None:
        click.echo("  No incident recorded (check mode without --incident).")
        return
    click.echo(f"  Incident {terminal(incident['id'])} — status {terminal(incident['status'])}")
    click.echo("  Timeline (UTC):")
    for column in ("started_at", "detected_at", "mitigated_at", "recovered_at"):
        value = incident.get(column)
        click.echo(f"    {column.removesuffix('_at'):<10} {(value or '-').replace('T', ' ')}")
    click.echo(f"  MTTR against {incident['severity']} targets:")
    mttr_rows(run_report.mttr, indent="    ")
    if outcome is Outcome.NO_FAULT_FOUND and not incident.get("recovered_at"):
        click.echo(f"  No fault found by this runbook; the incident stays open. If it was a "
                   f"false alarm: vedrun incident resolve {incident['id']} --note '...'; "
                   f"else run another runbook with --incident {incident['id']}.")


def mttr_rows(rows, indent: str, colour: bool = True) -> None:
    """Each phase's time against its target, BREACHED in red."""
    for row in rows:
        verdict = "-" if row.seconds is None else MARK[row.breached]
        line = (f"{indent}{row.phase:<10} {human(row.seconds):>8}  target {human(row.target):>7}"
                f"  {verdict}")
        click.secho(line, fg="red" if row.breached and colour else None)


def _escalation(level, runbook) -> None:
    if level is None:
        return
    click.secho(f"  Escalate now to level {level.level}: {level.name}", fg="yellow", bold=True)
    for contact in level.contacts:
        click.echo(f"    - {contact}")
    if runbook.specialist and level.name != "Specialist":
        click.echo(f"    - specialist for this runbook: {runbook.specialist}")
    click.echo("  Quick actions from the runbook: " + ", ".join(runbook.quick_actions))


def drill_result(result, runbook) -> None:
    """One drill: the runbook's report and the independent verify."""
    report(result.report, runbook)
    click.echo(f"  Independent verify: {'passed' if result.verified else 'FAILED'} "
               f"(log: {result.log})\n")


def drills_summary(results) -> None:
    click.echo("Drills: " + ", ".join(
        f"{r.fault} {r.report.outcome}{'' if r.verified else ' (verify FAILED)'}" for r in results))
