"""The runbook catalog (`runbooks.yml`): runbooks, severity targets, escalation levels."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vedrun import yamltext
from vedrun.errors import CatalogError
from vedrun.paths import CATALOG_FILE
from vedrun.timeutil import parse_duration

PHASES = ("detection", "mitigation", "recovery", "total")
# The one playbook of every runbook that says `automated: false`: it checks and changes nothing.
NOT_AUTOMATED_PLAYBOOK = "playbooks/not-automated.yml"
_WORDS = r"[a-z0-9]+(?:-[a-z0-9]+)*"


def id_pattern(severities) -> re.Pattern:
    """A runbook id: a severity of the catalog lower-cased, a dash, words (p0-service-down).
    It always has a dash after a severity, so it can never be the name of a vedrun command."""
    names = "|".join(re.escape(str(name).lower()) for name in severities)
    return re.compile(rf"^(?P<severity>{names})-{_WORDS}$")


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
    playbook: str | None  # None when the runbook is not automated yet
    specialist: str = ""
    automated: bool = True

    def playbook_path(self, project: Path) -> Path:
        """The playbook a run of this runbook runs: its own, or the not-automated one."""
        return project / (self.playbook if self.automated and self.playbook else NOT_AUTOMATED_PLAYBOOK)

    def as_dict(self) -> dict:
        return {"id": self.id, "severity": self.severity, "title": self.title,
                "scenario": self.scenario, "causes": list(self.causes),
                "quick_actions": list(self.quick_actions), "playbook": self.playbook,
                "specialist": self.specialist, "automated": self.automated}

    def as_extra_var(self) -> dict:
        """`vedrun_runbook`, passed to every run of it: the playbook reads its catalog entry."""
        return {"id": self.id, "severity": self.severity, "title": self.title,
                "scenario": self.scenario, "causes": list(self.causes),
                "quick_actions": list(self.quick_actions), "specialist": self.specialist}


@dataclass(frozen=True)
class EscalationLevel:
    level: int
    name: str
    after_seconds: float
    contacts: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"level": self.level, "name": self.name, "contacts": list(self.contacts)}


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
                           "scenario, causes, quick_actions, and playbook unless it says "
                           "automated: false.")
    return entry[key]


def _load_yaml(path: Path) -> dict:
    try:
        data = yamltext.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise CatalogError(f"Cannot read the runbook catalog {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path} is not valid YAML: {exc}. Fix the file and run again.") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path} must be a mapping with severities and runbooks")
    return data


def _severities(data: dict, path: Path) -> dict[str, Severity]:
    severities = {}
    for name, spec in (data.get("severities") or {}).items():
        try:
            targets = {phase: parse_duration(spec["targets"][phase]).total_seconds() for phase in PHASES}
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(
                f"{path}: severity {name} needs targets for {', '.join(PHASES)} as durations "
                f"like 5m ({exc})"
            ) from None
        severities[str(name)] = Severity(str(name), spec.get("meaning", ""), targets)
    if not severities:
        raise CatalogError(f"{path}: no 'severities' with MTTR targets defined")
    return severities


def _check_id(runbook_id: str, severity: str, severities: dict, where: str) -> None:
    match = id_pattern(severities).match(runbook_id)
    if not match:
        example = f"{next(iter(severities)).lower()}-service-down"
        raise CatalogError(f"{where}: id must look like {example} (a severity of the catalog "
                           f"lower-cased: {', '.join(s.lower() for s in severities)}, then words "
                           "joined by dashes)")
    if severity not in severities:
        raise CatalogError(f"{where}: severity {severity} is not one of {', '.join(severities)}")
    prefix = match.group("severity")
    if prefix != severity.lower():
        words = runbook_id.removeprefix(prefix + "-")
        raise CatalogError(f"{where}: the id says {prefix.upper()} but severity is {severity}. "
                           f"Rename it {severity.lower()}-{words} or set severity: {prefix.upper()}.")


def _playbook(entry: dict, runbook_id: str, where: str) -> tuple[str | None, bool]:
    automated = entry.get("automated", True)
    if not isinstance(automated, bool):
        raise CatalogError(f"{where}: automated must be true or false, not {automated!r}")
    playbook = entry.get("playbook")
    if automated and not playbook:
        raise CatalogError(f"{where}: missing 'playbook'. Add playbook: playbooks/{runbook_id}.yml, "
                           "or say automated: false while the runbook is not automated yet.")
    if not automated and playbook:
        raise CatalogError(f"{where}: says automated: false and names playbook {playbook}. Remove "
                           "'playbook' (a runbook not automated yet runs "
                           f"{NOT_AUTOMATED_PLAYBOOK}), or drop automated: false.")
    return (str(playbook) if playbook else None), automated


def _runbook(entry, index: int, severities: dict, path: Path) -> Runbook:
    if not isinstance(entry, dict):
        raise CatalogError(f"{path}: runbook #{index + 1} must be a mapping (id, severity, ...)")
    runbook_id = str(_required(entry, "id", f"{path}: runbook #{index + 1}"))
    where = f"{path}: runbook {runbook_id}"
    severity = str(_required(entry, "severity", where))
    _check_id(runbook_id, severity, severities, where)
    playbook, automated = _playbook(entry, runbook_id, where)
    return Runbook(
        id=runbook_id,
        severity=severity,
        title=str(_required(entry, "title", where)),
        scenario=str(_required(entry, "scenario", where)),
        causes=tuple(_required(entry, "causes", where)),
        quick_actions=tuple(_required(entry, "quick_actions", where)),
        playbook=playbook,
        specialist=str(entry.get("specialist", "")),
        automated=automated,
    )


def _escalation(data: dict) -> tuple[EscalationLevel, ...]:
    levels = [EscalationLevel(level=int(spec["level"]), name=str(spec["name"]),
                              after_seconds=parse_duration(spec.get("after", "0m")).total_seconds(),
                              contacts=tuple(spec.get("contacts") or ()))
              for spec in data.get("escalation") or []]
    if not levels:
        levels = [EscalationLevel(1, "Self-Service", 0, ())]
    return tuple(sorted(levels, key=lambda lvl: lvl.level))


def load(project: Path) -> Catalog:
    """Read and check `runbooks.yml`; a CatalogError names the entry and the fix."""
    path = project / CATALOG_FILE
    data = _load_yaml(path)
    severities = _severities(data, path)
    runbooks: dict[str, Runbook] = {}
    for index, entry in enumerate(data.get("runbooks") or []):
        runbook = _runbook(entry, index, severities, path)
        if runbook.id in runbooks:
            raise CatalogError(f"{path}: runbook {runbook.id}: the id is used twice")
        runbooks[runbook.id] = runbook
    return Catalog(
        runbooks=runbooks,
        severities=severities,
        escalation=_escalation(data),
        success_rate_target=float(data.get("success_rate_target", 0.95)),
        path=path,
    )
