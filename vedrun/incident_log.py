"""The incident log: the store plus INCIDENTS.md, kept in step by the log itself.

Every committed write (an incident opened, a note, a status, a run started or ended, a dead run
reaped) re-renders INCIDENTS.md, so no caller has to remember to; a rendering that fails after
the commit (disk full, permissions) is a warning, the record stands. Read-only paths (`incident
list`) use the plain Store and never load Jinja2.

A runbook run calls `journal_when_unwritable()` first: from then on a store that cannot be
written does not stop it. One line on stderr says so, and every change goes to the journal
(journal.py) and to an in-memory copy of the store that the run reads back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import click

from vedrun import mttr
from vedrun.catalog import Catalog
from vedrun.errors import VedrunError
from vedrun.journal import apply_in_memory, memory_copy, with_journal_ids
from vedrun.paths import INCIDENTS_FILE
from vedrun.store import Store, StoreUnwritable
from vedrun.store_schema import RUN_BUSY_TIMEOUT_SECONDS, apply_migrations


@dataclass
class IncidentView:
    """One incident as `incident show` presents it."""

    incident: dict
    timeline: list[dict]
    runs: list[dict]
    mttr: list[mttr.PhaseTime] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"incident": self.incident, "timeline": self.timeline, "runs": self.runs,
                "mttr": [row.as_dict() for row in self.mttr]}


def warn_on_stderr(message: str) -> None:
    click.echo(message, err=True)


class IncidentLog(Store):
    """The incident store whose every write re-renders INCIDENTS.md."""

    def __init__(self, home: Path, project: Path, catalog: Callable[[], Catalog],
                 warn: Callable[[str], None] = warn_on_stderr):
        super().__init__(home)
        self.project = project
        self._catalog = catalog  # loaded when the first write renders, not before
        self.warn = warn
        self._fallback = False  # a runbook run: journal rather than fail
        self.journaling: StoreUnwritable | None = None  # why, once the store could not be written
        self._journal_lost = False
        self._deferred = self._pending_render = False  # rendering_once(): render at its end

    @property
    def catalog(self) -> Catalog:
        return self._catalog()

    @contextlib.contextmanager
    def rendering_once(self, *, until_asked: bool = False):
        """Writes inside render INCIDENTS.md once, at the end (a run opens its incident and
        starts its run in two writes: one rendering is enough). With until_asked, not even
        then: render_pending() does it, or the next write. A run asks once ansible-playbook has
        started, which boots for most of a second while vedrun only waits: the rendering (a
        twentieth of a second, Jinja2 with it) is then off the time the run takes."""
        self._deferred, self._pending_render = True, False
        try:
            yield self
        finally:
            self._deferred = False
            if not until_asked:
                self.render_pending()

    def render_pending(self) -> None:
        """Render INCIDENTS.md if a write since the last rendering has not."""
        if self._pending_render:
            self._committed()

    def _committed(self) -> None:
        if self._deferred:
            self._pending_render = True
            return
        self._pending_render = False
        try:
            self.render()
        except (OSError, VedrunError) as exc:
            cause = exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
            self.warn(f"vedrun: WARNING: {self.home / INCIDENTS_FILE} was not updated ({cause}). "
                      f"The record itself is saved in {self.path}; the next write renders it again.")

    # -- a runbook run goes ahead when the store cannot be written ---------------------
    def journal_when_unwritable(self) -> None:
        """From now on a store that cannot be written does not stop this process: its changes
        go to the journal. A journal left by an earlier run is merged first, if it can be."""
        self._fallback = True
        self.busy_timeout = min(self.busy_timeout, RUN_BUSY_TIMEOUT_SECONDS)
        if self._conn is not None and self.journaling is None:
            self._conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        if self.journaling is None and self.journal.pending():
            try:
                with self._write():
                    pass  # merges the pending journal
            except StoreUnwritable as exc:
                self._degrade(exc)

    def _change(self, op: str, args: dict):
        if self.journaling is None:
            try:
                return super()._change(op, args)
            except StoreUnwritable as exc:
                if not self._fallback:
                    raise
                self._degrade(exc)
        args = with_journal_ids(self._connect(), op, args)
        result = apply_in_memory(self._connect(), self._apply, op, args)
        try:
            self.journal.append(op, args)
        except (OSError, VedrunError) as exc:
            if not self._journal_lost:
                self._journal_lost = True
                cause = getattr(exc, "strerror", None) or str(exc)
                self.warn(f"vedrun: WARNING: the record could not be kept in {self.journal.path} "
                          f"either ({cause}); write down what this run does.")
        return result

    def reap_dead_runs(self) -> list[int]:
        if self.journaling is not None:
            return []  # reaped by the next run that can write
        try:
            return super().reap_dead_runs()
        except StoreUnwritable as exc:
            if not self._fallback:
                raise
            self._degrade(exc)
            return []

    def _degrade(self, exc: StoreUnwritable) -> None:
        self.close()
        self._conn = memory_copy(self.path, self.journal, self._apply, apply_migrations)
        self.journaling = exc
        self.warn(f"vedrun: WARNING: the incident store cannot be written ({exc.reason}); the "
                  f"runbook runs anyway and its record is kept in {self.journal.path}, merged into "
                  "the store by the next vedrun command that can write it.")

    def render(self) -> Path:
        """Re-render INCIDENTS.md from the store (under a lock, atomically)."""
        from vedrun.reports import render_incidents  # jinja2: only when something was written

        return render_incidents(self, self.catalog, self.project)

    # -- what the `incident` commands do -----------------------------------------------
    def log(self, *, severity: str, title: str, runbook: str | None = None, drill: bool = False,
            started_at: datetime | None = None, note: str | None = None) -> dict:
        """Open an incident by hand; a runbook named must be in the catalog."""
        if runbook:
            self.catalog.get(runbook)
        return self.open_incident(severity=severity, title=title, runbook=runbook,
                                  kind="drill" if drill else "real", started_at=started_at,
                                  note=note)

    def merge_pending(self) -> None:
        """Merge a journal left by a run, if the store can be written now: an incident that
        run opened is then shown like any other. Quietly nothing when it still cannot."""
        if self.journaling is None and self.journal.pending():
            with contextlib.suppress(StoreUnwritable), self._write():
                pass

    def show(self, incident_id: str) -> IncidentView:
        self.merge_pending()
        record = self.incident(incident_id)
        severity = self.catalog.severities.get(record["severity"])
        return IncidentView(record, self.timeline(incident_id), self.runs(incident_id),
                            mttr.breakdown(record, severity.targets) if severity else [])

    def update(self, incident_id: str, *, note: str | None = None,
               status: str | None = None) -> dict:
        """Add a note and/or set the status; the record as it is now."""
        if note:
            self.add_note(incident_id, note)
        if status:
            self.set_status(incident_id, status)
        return self.incident(incident_id)

    def rca(self, incident_id: str) -> str:
        """An RCA draft in Markdown."""
        from vedrun.reports import render_rca

        self.merge_pending()
        return render_rca(self, self.catalog, incident_id, self.project)
