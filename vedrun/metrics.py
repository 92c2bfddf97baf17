"""Runbook effectiveness metrics: times used, average MTTR, success rate (seed README)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from vedrun.catalog import Catalog
from vedrun.outcome import Outcome
from vedrun.store import Store
from vedrun.timeutil import from_iso


@dataclass
class RunbookMetrics:
    runbook: str
    title: str
    kind: str  # real | drill
    times_used: int
    attempts: int
    recovered: int
    avg_mttr_seconds: float | None
    success_rate: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def compute(store: Store, catalog: Catalog, since: datetime | None = None) -> list[RunbookMetrics]:
    """Per runbook and kind of incident (real, drill).

    times used   incidents in which the runbook ran (check runs excluded)
    success rate incidents it recovered / incidents in which it tried to fix a fault
    avg MTTR     started -> recovered, over the incidents it recovered
    """
    incidents = {row["id"]: row for row in store.incidents(since=since)}
    used: dict[tuple[str, str], set[str]] = {}
    attempted: dict[tuple[str, str], set[str]] = {}
    recovered: dict[tuple[str, str], set[str]] = {}
    for run in store.runs():
        incident = incidents.get(run["incident_id"])
        if incident is None or run["check_mode"]:
            continue
        key = (run["runbook"], incident["kind"])
        used.setdefault(key, set()).add(incident["id"])
        outcome = Outcome(run["outcome"])
        if outcome.is_attempt:  # no fault found and check runs tried nothing
            attempted.setdefault(key, set()).add(incident["id"])
        if outcome is Outcome.RECOVERED:
            recovered.setdefault(key, set()).add(incident["id"])

    results = []
    for runbook in catalog.runbooks.values():
        for kind in ("real", "drill"):
            key = (runbook.id, kind)
            fixed = recovered.get(key, set())
            mttrs = []
            for incident_id in fixed:
                incident = incidents[incident_id]
                start, end = from_iso(incident["started_at"]), from_iso(incident["recovered_at"])
                if start and end:
                    mttrs.append((end - start).total_seconds())
            tries = len(attempted.get(key, set()) | fixed)
            results.append(RunbookMetrics(
                runbook=runbook.id,
                title=runbook.title,
                kind=kind,
                times_used=len(used.get(key, set())),
                attempts=tries,
                recovered=len(fixed),
                avg_mttr_seconds=sum(mttrs) / len(mttrs) if mttrs else None,
                success_rate=len(fixed) / tries if tries else None,
            ))
    return results


@dataclass
class MetricsReport:
    """`vedrun metrics`: the rows since a moment, and the success-rate target."""

    since: datetime
    target: float
    rows: list[RunbookMetrics]

    def as_json(self) -> dict:
        return {"since": self.since.isoformat(), "success_rate_target": self.target,
                "runbooks": [row.as_dict() for row in self.rows]}


def report(store: Store, catalog: Catalog, since: datetime) -> MetricsReport:
    return MetricsReport(since, catalog.success_rate_target, compute(store, catalog, since=since))
