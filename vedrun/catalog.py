"""The runbook catalog (`runbooks.yml`): runbooks, severity targets, escalation levels."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vedrun.errors import CatalogError
from vedrun.paths import CATALOG_FILE
from vedrun.timeutil import parse_duration

PHASES = ("detection", "mitigation", "recovery", "total")
_ID = re.compile(r"^p[0-2]-[a-z0-9]+(?:-[a-z0-9]+)*$")
RESERVED = {"list", "health", "incident", "metrics", "lab", "drill", "backup", "restore", "help"}


@dataclass(frozen=True)
class Severity:
    name: str
    meaning: str
    targets: dict[str, float]  # phase -> seconds


@dataclass(frozen=True)
class Runbook:
    id: str
    severity: str
    title: str
    scenario: str
    causes: tuple[str, ...]
    quick_actions: tuple[str, ...]
    playbook: str
    specialist: str = ""

    def playbook_path(self, project: Path) -> Path:
        return project / self.playbook


@dataclass(frozen=True)
class EscalationLevel:
    level: int
    name: str
    after_seconds: float
    contacts: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    runbooks: dict[str, Runbook]
    severities: dict[str, Severity]
    escalation: tuple[EscalationLevel, ...]
    success_rate_target: float = 0.95
    path: Path = field(default=Path(CATALOG_FILE))

    def get(self, runbook_id: str) -> Runbook:
        try:
            return self.runbooks[runbook_id]
        except KeyError:
            known = ", ".join(self.runbooks)
            raise CatalogError(f"No runbook {runbook_id!r} in {self.path}. Known: {known}") from None

    def next_escalation(self, runbook: Runbook | None, elapsed_seconds: float) -> EscalationLevel:
        """The level to call now that the runbook (level 1) has not restored the service."""
        due = [lvl for lvl in self.escalation if lvl.after_seconds <= elapsed_seconds]
        current = max(due, key=lambda lvl: lvl.level) if due else self.escalation[0]
        level = current if current.level >= 2 else self._level(2) or current
        if level.name == "Specialist" and runbook and runbook.specialist and not level.contacts:
            return EscalationLevel(level.level, level.name, level.after_seconds, (runbook.specialist,))
        return level

    def _level(self, number: int) -> EscalationLevel | None:
        return next((lvl for lvl in self.escalation if lvl.level == number), None)


def _required(entry: dict, key: str, where: str):
    if key not in entry or entry[key] in (None, ""):
        raise CatalogError(f"{where}: missing '{key}'. Every runbook needs id, severity, title, "
                           "scenario, causes, quick_actions and playbook.")
    return entry[key]


def load(project: Path) -> Catalog:
    path = project / CATALOG_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise CatalogError(f"Cannot read the runbook catalog {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path} is not valid YAML: {exc}. Fix the file and run again.") from None

    severities = {}
    for name, spec in (data.get("severities") or {}).items():
        try:
            targets = {phase: parse_duration(spec["targets"][phase]).total_seconds() for phase in PHASES}
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(
                f"{path}: severity {name} needs targets for {', '.join(PHASES)} as durations "
                f"like 5m ({exc})"
            ) from None
        severities[name] = Severity(name, spec.get("meaning", ""), targets)
    if not severities:
        raise CatalogError(f"{path}: no 'severities' with MTTR targets defined")

    runbooks: dict[str, Runbook] = {}
    for index, entry in enumerate(data.get("runbooks") or []):
        where = f"{path}: runbook #{index + 1}"
        runbook_id = str(_required(entry, "id", where))
        where = f"{path}: runbook {runbook_id}"
        if not _ID.match(runbook_id) or runbook_id in RESERVED:
            raise CatalogError(f"{where}: id must look like p0-service-down (severity, then words)")
        if runbook_id in runbooks:
            raise CatalogError(f"{where}: the id is used twice")
        severity = str(_required(entry, "severity", where))
        if severity not in severities:
            raise CatalogError(f"{where}: severity {severity} is not one of {', '.join(severities)}")
        runbooks[runbook_id] = Runbook(
            id=runbook_id,
            severity=severity,
            title=str(_required(entry, "title", where)),
            scenario=str(_required(entry, "scenario", where)),
            causes=tuple(_required(entry, "causes", where)),
            quick_actions=tuple(_required(entry, "quick_actions", where)),
            playbook=str(_required(entry, "playbook", where)),
            specialist=str(entry.get("specialist", "")),
        )

    levels = []
    for spec in data.get("escalation") or []:
        levels.append(EscalationLevel(
            level=int(spec["level"]),
            name=str(spec["name"]),
            after_seconds=parse_duration(spec.get("after", "0m")).total_seconds(),
            contacts=tuple(spec.get("contacts") or ()),
        ))
    if not levels:
        levels = [EscalationLevel(1, "Self-Service", 0, ())]
    return Catalog(
        runbooks=runbooks,
        severities=severities,
        escalation=tuple(sorted(levels, key=lambda lvl: lvl.level)),
        success_rate_target=float(data.get("success_rate_target", 0.95)),
        path=path,
    )
