"""The incident store's schema (versioned migrations) and what its failures mean.

A failure to write is told apart from damage: a full disk, a read-only store and a store locked
beyond the busy timeout are `StoreUnwritable` (the store is sound, nothing was written, and a
runbook run keeps its record in the journal instead); only what SQLite calls corrupt, or a file
that is not a database, is "damaged".
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from vedrun.errors import StoreError

DB_FILE = "incidents.db"
BUSY_TIMEOUT_SECONDS = 30  # how long a write waits for another vedrun's transaction
RUN_BUSY_TIMEOUT_SECONDS = 10  # a runbook run waits less, then keeps its record in the journal

_MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        severity TEXT NOT NULL,
        title TEXT NOT NULL,
        runbook TEXT,
        kind TEXT NOT NULL DEFAULT 'real' CHECK (kind IN ('real', 'drill')),
        status TEXT NOT NULL DEFAULT 'open',
        outcome TEXT,
        started_at TEXT NOT NULL,
        detected_at TEXT,
        mitigated_at TEXT,
        recovered_at TEXT,
        resolved_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX incidents_started ON incidents (started_at);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT REFERENCES incidents (id),
        runbook TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT NOT NULL DEFAULT 'running',
        rc INTEGER,
        check_mode INTEGER NOT NULL DEFAULT 0,
        inventory TEXT,
        limit_pattern TEXT,
        hosts TEXT NOT NULL DEFAULT '[]',
        phases TEXT NOT NULL DEFAULT '{}',
        host_stats TEXT NOT NULL DEFAULT '{}',
        faults TEXT NOT NULL DEFAULT '{}',
        unreachable TEXT NOT NULL DEFAULT '[]',
        failures TEXT NOT NULL DEFAULT '[]',
        artifacts_dir TEXT,
        evidence_dir TEXT,
        pid INTEGER,
        error TEXT
    );
    CREATE INDEX runs_incident ON runs (incident_id);
    CREATE TABLE timeline (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT NOT NULL REFERENCES incidents (id),
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX timeline_incident ON timeline (incident_id, at);
    """,
    # version 2: ids never reissued, and the journal of records kept while the store was unwritable
    """
    CREATE TABLE id_sequence (
        day TEXT PRIMARY KEY,
        last INTEGER NOT NULL
    );
    CREATE TABLE journal_applied (
        entry TEXT PRIMARY KEY,
        applied_at TEXT NOT NULL,
        result TEXT NOT NULL,
        line TEXT NOT NULL
    );
    CREATE TABLE journal_runs (
        ref TEXT PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id)
    );
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


def apply_migrations(conn: sqlite3.Connection, current: int) -> None:
    """Bring a schema at version `current` to SCHEMA_VERSION (inside the caller's transaction)."""
    for number in range(current, SCHEMA_VERSION):
        for statement in _MIGRATIONS[number].split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class StoreUnwritable(StoreError):
    """The store is sound but cannot be written now; `reason` says why (disk full, not
    writable, locked). Exit code 5, like every StoreError."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


FULL, NOT_WRITABLE, LOCKED = "disk full", "not writable", "locked"
_SQLITE_REASONS = {13: FULL, 3: NOT_WRITABLE, 8: NOT_WRITABLE, 10: NOT_WRITABLE, 14: NOT_WRITABLE,
                   23: NOT_WRITABLE, 5: LOCKED, 6: LOCKED}  # FULL, PERM, READONLY, IOERR, CANTOPEN,
# AUTH, BUSY, LOCKED (primary result codes)
_OS_REASONS = {errno.ENOSPC: FULL, errno.EDQUOT: FULL, errno.EROFS: NOT_WRITABLE,
               errno.EACCES: NOT_WRITABLE, errno.EPERM: NOT_WRITABLE}


def unwritable_reason(exc: BaseException) -> str | None:
    """FULL, NOT_WRITABLE or LOCKED when the error says the store cannot be written; None else."""
    if isinstance(exc, OSError):
        return _OS_REASONS.get(exc.errno)
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _SQLITE_REASONS:
        return _SQLITE_REASONS[code & 0xFF]
    text = str(exc).lower()
    if "disk is full" in text:
        return FULL
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return NOT_WRITABLE
    if "locked" in text or "busy" in text:
        return LOCKED
    return None


def unwritable(path: Path, reason: str, detail: str,
               timeout: float = BUSY_TIMEOUT_SECONDS) -> StoreUnwritable:
    """The message of a store that cannot be written, with what fixes it."""
    home = path.parent
    if reason == FULL:
        text = (f"The incident store {path} cannot be written: disk full ({detail}). Nothing was "
                f"written. Free space on that disk (old run folders are under {home}/incidents/; "
                "VEDRUN_KEEP_ARTIFACTS keeps fewer) or point VEDRUN_HOME elsewhere, then run the "
                "command again.")
    elif reason == LOCKED:
        text = (f"The incident store {path} is locked by another process beyond "
                f"{timeout:g}s ({detail}). Nothing was written. Let the other vedrun (or "
                "sqlite3) finish, then run the command again.")
    else:
        text = (f"The incident store {path} is not writable ({detail}). Nothing was written. Check "
                f"that you own {home} and the files in it (after a `sudo vedrun`: "
                f"sudo chown -R \"$USER\" {home}) and that the disk is not mounted read-only.")
    return StoreUnwritable(text, reason)
