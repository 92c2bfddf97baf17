"""The incident log: the store plus INCIDENTS.md, kept in step by the log itself.

Every committed write (an incident opened, a note, a status, a run started or ended, a dead run
reaped) re-renders INCIDENTS.md, so no caller has to remember to. Read-only paths (`incident
list`) use the plain Store and never load Jinja2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from vedrun import mttr
from vedrun.catalog import Catalog
from vedrun.store import Store


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


class IncidentLog(Store):
    """The incident store whose every write re-renders INCIDENTS.md."""

    def __init__(self, home: Path, project: Path, catalog: Callable[[], Catalog]):
        super().__init__(home)
        self.project = project
        self._catalog = catalog  # loaded when the first write renders, not before

    @property
    def catalog(self) -> Catalog:
        return self._catalog()

    def _committed(self) -> None:
        self.render()

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

    def show(self, incident_id: str) -> IncidentView:
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

        return render_rca(self, self.catalog, incident_id, self.project)
