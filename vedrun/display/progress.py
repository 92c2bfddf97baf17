"""Progress while a playbook runs: a live table at a terminal, lines elsewhere."""

from __future__ import annotations

import sys
import time

import click

from vedrun.escaping import terminal
from vedrun.runner import PHASES, RunState
from vedrun.timeutil import human


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

    def started(self, incident: dict | None, run_id: int) -> None:
        """The run is recorded (a drill's view says nothing here)."""

    def update(self, state: RunState) -> None:
        if self._start is None:  # the clock starts with the run's first event
            self._start = time.monotonic()
        elapsed = human(time.monotonic() - self._start)
        if state.phase != self._phase and state.phase is not None:
            self._phase = state.phase
            click.echo(f"[{elapsed:>7}] phase {state.phase}", err=self._err)
        for failure in state.failures[self._failures:]:
            click.echo(terminal(f"[{elapsed:>7}] FAILED on {failure['host']}: {failure['task']}: "
                                f"{failure['msg']}"), err=self._err)
        self._failures = len(state.failures)
        if len(state.unreachable) > self._unreachable:
            for host in list(state.unreachable)[self._unreachable:]:
                click.echo(terminal(f"[{elapsed:>7}] UNREACHABLE {host}: {state.unreachable[host]}"),
                           err=self._err)
            self._unreachable = len(state.unreachable)


def _markup(text) -> str:
    """Text from hosts and playbooks inside the live table: controls shown escaped, and rich's
    markup (`[red]`) taken literally."""
    from rich.markup import escape

    return escape(terminal(text))


class LiveView:
    """A terminal table redrawn from ansible-runner events: phase, elapsed, per-host counts."""

    def __init__(self, title: str):
        from rich.console import Console  # imported only when a run shows it
        from rich.live import Live

        self._title = _markup(title)
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

    def started(self, incident: dict | None, run_id: int) -> None:
        """The live table shows the run; the report names the incident at the end."""

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
                      caption=f"{phases}\n[dim]{_markup(state.task)}[/]", title_justify="left",
                      min_width=76)
        for column in ("host", "ok", "changed", "failed", "unreachable"):
            table.add_column(column, justify="left" if column == "host" else "right")
        for host, counts in sorted(state.hosts.items()):
            table.add_row(_markup(host), str(counts.ok), str(counts.changed),
                          f"[red]{counts.failed}[/]" if counts.failed else "0",
                          f"[red]{counts.unreachable}[/]" if counts.unreachable else "0")
        return table


class RunProgress:
    """The progress of one runbook run as `vedrun RUNBOOK` shows it: the live table at a
    terminal; else a title line, the incident's id and a line per change (on stderr with
    --json, so that stdout holds only the JSON)."""

    def __init__(self, plan, as_json: bool):
        self.title = (f"{plan.runbook.id} on {', '.join(plan.hosts)}"
                      f"{' (check mode)' if plan.check else ''}")
        self._playbook = plan.playbook.name
        self._err = as_json
        self._live = sys.stdout.isatty() and not as_json
        self._view = LiveView(self.title) if self._live else PlainView(err=as_json)

    def __enter__(self):
        if not self._live:
            click.echo(terminal(f"{self.title}: running {self._playbook}"), err=self._err)
        self._view.__enter__()
        return self

    def __exit__(self, *exc):
        return self._view.__exit__(*exc)

    def started(self, incident: dict | None, run_id: int) -> None:
        if incident and not self._live:
            click.echo(f"Incident {incident['id']}, run #{run_id}", err=self._err)

    def update(self, state: RunState) -> None:
        self._view.update(state)


class TaskLines:
    """`lab up|down` progress: a line as each task starts, and one per failure."""

    def __init__(self):
        self._task = ""
        self._failures = 0

    def update(self, state: RunState) -> None:
        for failure in state.failures[self._failures:]:
            click.secho(terminal(f"  FAILED {failure['task']}: {failure['msg']}"), fg="red")
        self._failures = len(state.failures)
        if state.task and state.task != self._task:
            self._task = state.task
            click.echo(f"  {terminal(state.task)}")
