"""MTTR breakdown of an incident's timeline against its severity's targets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vedrun.timeutil import from_iso


@dataclass(frozen=True)
class PhaseTime:
    phase: str  # detection | mitigation | recovery | total
    seconds: float | None  # None while the phase has not ended
    target: float

    @property
    def breached(self) -> bool:
        return self.seconds is not None and self.seconds > self.target

    def as_dict(self) -> dict:
        return {"phase": self.phase, "seconds": self.seconds, "target": self.target,
                "breached": self.breached}


def _delta(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def breakdown(timeline: dict, targets: dict[str, float]) -> list[PhaseTime]:
    """Detection = started->detected, mitigation = detected->mitigated,
    recovery = mitigated->recovered, total = started->recovered (the seed's definitions)."""
    started = from_iso(timeline.get("started_at"))
    detected = from_iso(timeline.get("detected_at"))
    mitigated = from_iso(timeline.get("mitigated_at"))
    recovered = from_iso(timeline.get("recovered_at"))
    return [
        PhaseTime("detection", _delta(started, detected), targets["detection"]),
        PhaseTime("mitigation", _delta(detected, mitigated), targets["mitigation"]),
        PhaseTime("recovery", _delta(mitigated, recovered), targets["recovery"]),
        PhaseTime("total", _delta(started, recovered), targets["total"]),
    ]
