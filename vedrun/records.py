"""Typed records of what playbooks publish with set_stats, read from RunState.

Each has `from_stats(dict)` (tolerant: optional fields may be missing; fields it does not know
are kept and given back by `as_dict()`, so the JSON output is what the playbook published).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")


def _known(cls, data: dict) -> tuple[dict, dict]:
    names = {f.name for f in fields(cls)} - {"extra"}
    return ({k: v for k, v in data.items() if k in names},
            {k: v for k, v in data.items() if k not in names})


def per_host(published: dict | None, record: Callable[[dict], T]) -> dict[str, T]:
    """{host: data} as the playbook published it -> {host: record}."""
    return {str(host): record(data if isinstance(data, dict) else {})
            for host, data in (published or {}).items()}


@dataclass
class BackupManifest:
    """A backup's manifest (roles/postgres_backup, vedrun_pg_backup.py): verified when
    `verified_at` is set."""

    name: str = ""
    file: str = ""
    database: str = ""
    taken_at: str | None = None
    verified_at: str | None = None
    size_bytes: int = 0
    rows: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    sha256: str = ""
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_stats(cls, data: dict) -> BackupManifest:
        known, extra = _known(cls, data or {})
        return cls(**known, extra=extra)

    @property
    def verified(self) -> bool:
        return bool(self.verified_at)

    def as_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**self.extra, **data}


@dataclass
class BackupListing:
    """`vedrun_backup_list` of one host: its verified backups, newest first, and the files
    that were skipped (unreadable or unverified manifests)."""

    backups: list[BackupManifest] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_stats(cls, data: dict) -> BackupListing:
        return cls(backups=[BackupManifest.from_stats(b) for b in data.get("backups") or []],
                   problems=[str(p) for p in data.get("problems") or []])

    def as_dict(self) -> dict:
        return {"backups": [b.as_dict() for b in self.backups], "problems": list(self.problems)}


@dataclass
class RestoreResult:
    """`vedrun_restores` of one host: the backup restored (or, in check mode, to be restored)
    over `database`; the live one is kept as `replaced_by`."""

    backup: BackupManifest = field(default_factory=BackupManifest)
    database: str = ""
    replaced_by: str = ""
    recovery_point: str | None = None
    tables: dict[str, int] = field(default_factory=dict)
    seconds: float | None = None
    changed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_stats(cls, data: dict) -> RestoreResult:
        known, extra = _known(cls, data or {})
        known["backup"] = BackupManifest.from_stats(known.get("backup") or {})
        return cls(**known, extra=extra)

    def as_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**self.extra, **data, "backup": self.backup.as_dict()}


@dataclass
class Confirmation:
    """A question a runbook stopped on before a destructive step (`vedrun_confirmations`).
    Setting `variable` to `value` (true when the playbook gave none) goes ahead; a value binds
    the answer to the exact object shown, e.g. a backup's name."""

    host: str
    variable: str
    question: str
    value: Any = True

    @classmethod
    def from_stats(cls, host: str, data: dict) -> Confirmation:
        return cls(host=str(host), variable=str(data.get("variable") or ""),
                   question=str(data.get("question") or ""), value=data.get("value", True))

    def as_dict(self) -> dict:
        return {"host": self.host, "variable": self.variable, "question": self.question,
                "value": self.value}
