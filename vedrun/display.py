"""What the engineer sees while a runbook runs, and the report at its end."""

from __future__ import annotations

import shlex
import time

import click

from vedrun.runner import PHASES, RunState
from vedrun.timeutil import human

MARK = {True: "BREACHED", False: "ok"}


class PlainView:
    """Line-per-change progress for pipes, logs and CI: a line when the phase changes and one
    per failed or unreachable host."""

    def __init__(self, err: bool = False):
        self._err = err
        self._start: float | None = None
        self._phase: str | None = None
        self._failures = 0
        self._unreachable = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, state: RunState) -> None:
        if self._start is None:  # the clock starts with the run's first event
            self._start = time.monotonic()
        elapsed = human(time.monotonic() - self._start)
        if state.phase != self._phase and state.phase is not None:
            self._phase = state.phase
            click.echo(f"[{elapsed:>7}] phase {state.phase}", err=self._err)
        for failure in state.failures[self._failures:]:
            click.echo(f"[{elapsed:>7}] FAILED on {failure['host']}: {failure['task']}: "
                       f"{failure['msg']}", err=self._err)
        self._failures = len(state.failures)
        if len(state.unreachable) > self._unreachable:
            for host in list(state.unreachable)[self._unreachable:]:
                click.echo(f"[{elapsed:>7}] UNREACHABLE {host}: {state.unreachable[host]}",
                           err=self._err)
            self._unreachable = len(state.unreachable)


class LiveView:
    """A terminal table redrawn from ansible-runner events: phase, elapsed, per-host counts."""

    def __init__(self, title: str):
        from rich.console import Console  # imported only when a run shows it
        from rich.live import Live

        self._title = title
        self._start = time.monotonic()
        self._state = RunState()
        self._console = Console()
        self._live = Live(self._render(), console=self._console, refresh_per_second=4,
                          transient=False, get_renderable=self._render)

    def __enter__(self):
        self._live.__enter__()
        return self

    def __exit__(self, *exc):
        self._live.__exit__(*exc)
        return False

    def update(self, state: RunState) -> None:
        self._state = state

    def _render(self):
        from rich.table import Table

        state = self._state
        phases = "  ".join(
            f"[bold reverse] {p} [/]" if p == state.phase else
            (f"[green]{p} ✓[/]" if (state.phases.get(p) or {}).get("ended_at") else f"[dim]{p}[/]")
            for p in PHASES)
        table = Table(title=f"{self._title}   {human(time.monotonic() - self._start)}",
                      caption=f"{phases}\n[dim]{state.task}[/]", title_justify="left",
                      min_width=76)
        for column in ("host", "ok", "changed", "failed", "unreachable"):
            table.add_column(column, justify="left" if column == "host" else "right")
        for host, counts in sorted(state.hosts.items()):
            table.add_row(host, str(counts.ok), str(counts.changed),
                          f"[red]{counts.failed}[/]" if counts.failed else "0",
                          f"[red]{counts.unreachable}[/]" if counts.unreachable else "0")
        return table


def report(outcome, runbook) -> None:
    """The end-of-run summary: outcome, timeline, MTTR against targets, where things are."""
    incident = outcome.incident
    headline = outcome.outcome.upper()
    color = {"recovered": "green", "no fault found": "green", "checked": "cyan",
             "awaiting confirmation": "yellow"}.get(outcome.outcome, "red")
    click.echo()
    click.secho(f"{runbook.id} ({runbook.severity} {runbook.title}): {headline}", fg=color, bold=True)
    if outcome.message:
        click.echo(f"  {outcome.message}")
    if outcome.outcome == "awaiting confirmation" and incident is not None:
        run = outcome.run or {}
        where = (f" -i {shlex.quote(run['inventory'])}" if run.get("inventory") else "") + (
            f" --limit {shlex.quote(run['limit_pattern'])}" if run.get("limit_pattern") else "")
        answers = " ".join(f"-e {name}=true" for name in outcome.confirming_vars())
        click.secho(f"  Nothing destructive was done. To go ahead: vedrun {runbook.id} --incident "
                    f"{incident['id']}{where} {answers}", fg="yellow")
    state = outcome.state
    if state is not None:
        found = {h: f for h, f in state.faults.items() if f}
        click.echo("  Faults found: " + ("; ".join(f"{h}: {', '.join(f)}" for h, f in found.items())
                                         if found else "none"))
        for host, counts in sorted(state.hosts.items()):
            click.echo(f"  {host}: ok={counts.ok} changed={counts.changed} failed={counts.failed} "
                       f"unreachable={counts.unreachable}")
    if incident is None:
        click.echo("  No incident recorded (check mode without --incident).")
    else:
        click.echo(f"  Incident {incident['id']} — status {incident['status']}")
        click.echo("  Timeline (UTC):")
        for column in ("started_at", "detected_at", "mitigated_at", "recovered_at"):
            value = incident.get(column)
            click.echo(f"    {column.removesuffix('_at'):<10} {(value or '-').replace('T', ' ')}")
        click.echo(f"  MTTR against {incident['severity']} targets:")
        for row in outcome.mttr:
            verdict = "-" if row.seconds is None else MARK[row.breached]
            line = (f"    {row.phase:<10} {human(row.seconds):>8}  target {human(row.target):>7}"
                    f"  {verdict}")
            click.secho(line, fg="red" if row.breached else None)
        if outcome.outcome == "no fault found" and not incident.get("recovered_at"):
            click.echo(f"  No fault found by this runbook; the incident stays open. If it was a "
                       f"false alarm: vedrun incident resolve {incident['id']} --note '...'; "
                       f"else run another runbook with --incident {incident['id']}.")
    if outcome.evidence_dir:
        click.echo(f"  Evidence:  {outcome.evidence_dir}")
    if outcome.artifacts_dir:
        click.echo(f"  Artifacts: {outcome.artifacts_dir}")
    if outcome.escalation is not None:
        level = outcome.escalation
        click.secho(f"  Escalate now to level {level.level}: {level.name}", fg="yellow", bold=True)
        for contact in level.contacts:
            click.echo(f"    - {contact}")
        if runbook.specialist and level.name != "Specialist":
            click.echo(f"    - specialist for this runbook: {runbook.specialist}")
        click.echo("  Quick actions from the runbook: " + ", ".join(runbook.quick_actions))
