"""The incident store: SQLite (WAL, versioned schema), every change one transaction.

Safe under concurrent `vedrun` processes: writers take SQLite's write lock up front
(BEGIN IMMEDIATE) and wait for each other; readers never block. A damaged store, or one
written by a newer vedrun, is refused with a clear error and never touched; one that cannot be
written (disk full, read-only, locked) says so and why (store_schema.StoreUnwritable).

Every change is an operation (`_op_<name>(conn, args)`, args JSON-able with their time in
them), so that a runbook run that could not write the store can keep the same operation in the
journal (journal.py) and the next write applies it, in order and once, exactly as it would have
been applied then.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from vedrun.errors import IncidentNotFound, StoreError, UsageError
from vedrun.files import PRIVATE_FILE, open_private, private_dir, tighten
from vedrun.journal import Journal
from vedrun.store_runs import RunRecords
from vedrun.store_schema import (
    BUSY_TIMEOUT_SECONDS,
    DB_FILE,
    SCHEMA_VERSION,
    StoreUnwritable,
    apply_migrations,
    unwritable,
    unwritable_reason,
)
from vedrun.timeutil import iso, now

__all__ = ["DB_FILE", "KINDS", "SCHEMA_VERSION", "STATUSES", "Store", "StoreUnwritable"]

STATUSES = ("open", "investigating", "mitigated", "recovered", "resolved")
KINDS = ("real", "drill")
# the changes a journal may hold (a line naming anything else is kept, not applied)
JOURNALED_OPS = frozenset({"open_incident", "add_note", "set_status", "resolve", "start_run",
                           "finish_run"})


class Store(RunRecords):
    """One SQLite file under vedrun's home (0600 in a 0700 folder)."""

    busy_timeout = BUSY_TIMEOUT_SECONDS

    def __init__(self, home: Path):
        self.home = Path(home)
        self.path = self.home / DB_FILE
        self.journal = Journal(self.home)
        self._conn: sqlite3.Connection | None = None

    # -- connection, schema ------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            private_dir(self.home)
            if not os.path.lexists(self.path):  # SQLite gives -wal and -shm the file's mode
                os.close(open_private(self.path, os.O_RDONLY))
        except OSError as exc:
            raise self._failure(exc, f"Cannot create vedrun's home {self.home}: {exc.strerror}. "
                                "Set VEDRUN_HOME or --home to a writable folder.") from None
        if self.path.exists() and self.path.stat().st_size and not self._looks_like_sqlite():
            raise self._damaged("it is not an SQLite database")
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                conn.close()
                raise StoreError(
                    f"The incident store {self.path} has schema version {version}, newer than this "
                    f"vedrun understands ({SCHEMA_VERSION}). Upgrade vedrun; the store was not touched."
                )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            if version < SCHEMA_VERSION:
                self._migrate(conn, version)
        except (sqlite3.DatabaseError, OSError) as exc:  # OSError: the copy kept before a migration
            raise self._failure(exc) from None
        self._conn = conn
        return conn

    def _looks_like_sqlite(self) -> bool:
        with self.path.open("rb") as handle:
            return handle.read(16) == b"SQLite format 3\x00"

    def _damaged(self, why: str) -> StoreError:
        return StoreError(
            f"The incident store {self.path} is damaged ({why}). It was not changed. Keep a copy, "
            f"then try `sqlite3 {self.path} .recover` into a new file, or point VEDRUN_HOME at "
            "another folder to start a new store."
        )

    def _failure(self, exc: BaseException, otherwise: str | None = None) -> StoreError:
        """What an error of SQLite or of the disk means: unwritable (full, read-only, locked)
        or, for SQLite, damaged."""
        reason = unwritable_reason(exc)
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if reason is not None:
            return unwritable(self.path, reason, detail, self.busy_timeout)
        if otherwise or isinstance(exc, OSError):
            return StoreError(otherwise or f"Cannot use the incident store {self.path}: {detail}.")
        return self._damaged(detail)

    def _migrate(self, conn: sqlite3.Connection, version: int) -> None:
        if version > 0:  # keep the old file: a migration must never cost a record
            backup = self.path.with_name(f"{DB_FILE}.v{version}.bak")
            shutil.copy2(self.path, backup)
            tighten(backup, PRIVATE_FILE)
        conn.execute("BEGIN IMMEDIATE")
        try:
            apply_migrations(conn, conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def _keep_private(self) -> None:
        """The home 0700 and the store's files 0600, tightened if an older vedrun left them looser."""
        private_dir(self.home)
        for suffix in ("", "-wal", "-shm"):
            tighten(self.path.with_name(DB_FILE + suffix), PRIVATE_FILE)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a journal left by a run that could not write is merged into it first,
        so the journal's records come before this change, once."""
        conn = self._connect()
        self._keep_private()
        with self.journal.merging() as merge:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._failure(exc) from None
            try:
                merge.apply(conn, self._apply)
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                _rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise self._failure(exc) from None
                raise
            merge.done()
        self._committed()

    def _committed(self) -> None:
        """Called after every committed write; the incident log re-renders INCIDENTS.md here."""

    def _change(self, op: str, args: dict):
        """Apply one operation in its own transaction; what the operation returns."""
        with self._write() as conn:
            return self._apply(conn, op, args)

    def _apply(self, conn: sqlite3.Connection, op: str, args: dict):
        if op not in JOURNALED_OPS:
            raise ValueError(f"unknown operation {op!r}")
        return getattr(self, f"_op_{op}")(conn, args)

    def _read(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        try:
            return self._connect().execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc) from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __del__(self) -> None:
        # sqlite3 connections sit in reference cycles and would stay open until the next
        # garbage collection: a process forked meanwhile would share SQLite's lock state
        if getattr(self, "_conn", None) is not None:
            self.close()

    # -- incidents ---------------------------------------------------------------------
    def open_incident(self, *, severity: str, title: str, runbook: str | None = None,
                      kind: str = "real", started_at: datetime | None = None,
                      note: str | None = None) -> dict:
        """A new incident with an id like INC-20261126-003 (UTC day, sequence): never an id
        issued before, even when rows were lost since."""
        stamp = iso(now())
        incident_id = self._change("open_incident", {
            "stamp": stamp, "severity": severity, "title": title, "runbook": runbook,
            "kind": kind, "started_at": iso(started_at) or stamp, "note": note})
        return self.incident(incident_id)

    def _op_open_incident(self, conn: sqlite3.Connection, args: dict) -> str:
        stamp, started = args["stamp"], args["started_at"]
        incident_id = args.get("id") or self._next_id(conn, stamp)
        conn.execute(
            "INSERT INTO incidents (id, severity, title, runbook, kind, status, started_at,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?)",
            (incident_id, args["severity"], args["title"], args["runbook"], args["kind"], started,
             stamp, stamp),
        )
        self._log(conn, incident_id, started, "started",
                  f"{args['severity']} incident began: {args['title']}")
        self._log(conn, incident_id, stamp, "opened", f"{args['kind']} incident opened")
        if args.get("note"):
            self._log(conn, incident_id, stamp, "note", args["note"])
        return incident_id

    def _next_id(self, conn: sqlite3.Connection, stamp: str) -> str:
        """The day's next sequence, above every id of the day in the store, every one ever
        issued (id_sequence) and every incident folder of the home: a deleted row or a restored
        older store never reissues an id (nor mixes two incidents' evidence in one folder)."""
        day = stamp[:10].replace("-", "")
        prefix = f"INC-{day}-"
        highest = conn.execute(
            "SELECT max(CAST(substr(id, ?) AS INTEGER)) FROM incidents WHERE id GLOB ?",
            (len(prefix) + 1, prefix + "[0-9]*")).fetchone()[0] or 0
        issued = conn.execute("SELECT last FROM id_sequence WHERE day = ?", (day,)).fetchone()
        folders = [int(name[len(prefix):]) for name in _names(self.home / "incidents")
                   if name.startswith(prefix) and name[len(prefix):].isdigit()]
        number = max(highest, issued[0] if issued else 0, *folders) + 1
        conn.execute("INSERT INTO id_sequence (day, last) VALUES (?, ?) "
                     "ON CONFLICT (day) DO UPDATE SET last = excluded.last", (day, number))
        return f"{prefix}{number:03d}"

    def incident(self, incident_id: str) -> dict:
        rows = self._read("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        if not rows:
            pending = (f" A runbook run that could not write the store left its records in "
                       f"{self.journal.path}: the next command that writes merges them."
                       if self.journal.pending() else "")
            raise IncidentNotFound(f"No incident {incident_id}. `vedrun incident list` shows the "
                                   f"ids.{pending}")
        return dict(rows[0])

    def incidents(self, *, open_only: bool = False, since: datetime | None = None,
                  kind: str | None = None) -> list[dict]:
        sql, params = "SELECT * FROM incidents WHERE 1 = 1", []
        if open_only:
            sql += " AND status != 'resolved'"
        if since is not None:
            sql += " AND started_at >= ?"
            params.append(iso(since))
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        return [dict(row) for row in self._read(sql + " ORDER BY started_at DESC, id DESC",
                                                tuple(params))]

    def add_note(self, incident_id: str, text: str) -> None:
        self._change("add_note", {"stamp": iso(now()), "incident": incident_id, "text": text})

    def _op_add_note(self, conn: sqlite3.Connection, args: dict) -> None:
        incident_id, stamp = args["incident"], args["stamp"]
        self._require(conn, incident_id)
        self._log(conn, incident_id, stamp, "note", args["text"])
        conn.execute("UPDATE incidents SET updated_at = ? WHERE id = ?", (stamp, incident_id))

    def set_status(self, incident_id: str, status: str) -> None:
        if status not in STATUSES:
            raise UsageError(f"Unknown status {status!r}; use one of {', '.join(STATUSES)}")
        if status == "resolved":
            self.resolve(incident_id)
            return
        self._change("set_status", {"stamp": iso(now()), "incident": incident_id, "status": status})

    def _op_set_status(self, conn: sqlite3.Connection, args: dict) -> None:
        incident_id, stamp, status = args["incident"], args["stamp"], args["status"]
        if status not in STATUSES or status == "resolved":
            raise ValueError(f"unknown status {status!r}")
        self._require(conn, incident_id)
        conn.execute("UPDATE incidents SET status = ?, resolved_at = NULL, updated_at = ? "
                     "WHERE id = ?", (status, stamp, incident_id))
        self._log(conn, incident_id, stamp, "status", f"status set to {status}")

    def resolve(self, incident_id: str, note: str | None = None) -> dict:
        self._change("resolve", {"stamp": iso(now()), "incident": incident_id, "note": note})
        return self.incident(incident_id)

    def _op_resolve(self, conn: sqlite3.Connection, args: dict) -> None:
        incident_id, stamp = args["incident"], args["stamp"]
        row = self._require(conn, incident_id)
        if row["status"] != "resolved":
            conn.execute("UPDATE incidents SET status = 'resolved', resolved_at = ?, "
                         "updated_at = ? WHERE id = ?", (stamp, stamp, incident_id))
            self._log(conn, incident_id, stamp, "status", "resolved")
        if args.get("note"):
            self._log(conn, incident_id, stamp, "note", args["note"])

    def timeline(self, incident_id: str) -> list[dict]:
        return [dict(row) for row in self._read(
            "SELECT at, kind, text FROM timeline WHERE incident_id = ? ORDER BY at, id",
            (incident_id,))]

    # -- helpers -----------------------------------------------------------------------
    @staticmethod
    def _require(conn: sqlite3.Connection, incident_id: str) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            raise IncidentNotFound(f"No incident {incident_id}. `vedrun incident list` shows the ids.")
        return row

    @staticmethod
    def _log(conn: sqlite3.Connection, incident_id: str, at: str, kind: str, text: str) -> None:
        conn.execute("INSERT INTO timeline (incident_id, at, kind, text) VALUES (?, ?, ?, ?)",
                     (incident_id, at, kind, text))


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back whatever is open (SQLite has already rolled back after a full disk)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []
