"""The incident store: SQLite (WAL, versioned schema), every change one transaction.

Safe under concurrent `vedrun` processes: writers take SQLite's write lock up front
(BEGIN IMMEDIATE) and wait for each other; readers never block. A damaged store, or one
written by a newer vedrun, is refused with a clear error and never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from vedrun.errors import IncidentNotFound, StoreError, UsageError
from vedrun.outcome import Outcome
from vedrun.timeutil import iso, now

DB_FILE = "incidents.db"
STATUSES = ("open", "investigating", "mitigated", "recovered", "resolved")
KINDS = ("real", "drill")

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
)
SCHEMA_VERSION = len(_MIGRATIONS)
_JSON_COLUMNS = ("hosts", "phases", "host_stats", "faults", "unreachable", "failures")


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """One SQLite file under vedrun's home."""

    def __init__(self, home: Path):
        self.home = Path(home)
        self.path = self.home / DB_FILE
        self._conn: sqlite3.Connection | None = None

    # -- connection, schema ------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create vedrun's home {self.home}: {exc.strerror}. "
                             "Set VEDRUN_HOME or --home to a writable folder.") from None
        if self.path.exists() and self.path.stat().st_size and not self._looks_like_sqlite():
            raise self._damaged("it is not an SQLite database")
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
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
        except sqlite3.DatabaseError as exc:
            raise self._damaged(str(exc)) from None
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

    def _migrate(self, conn: sqlite3.Connection, version: int) -> None:
        if version > 0:  # keep the old file: a migration must never cost a record
            shutil.copy2(self.path, self.path.with_name(f"{DB_FILE}.v{version}.bak"))
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]  # another process won?
            for number in range(current, SCHEMA_VERSION):
                for statement in _MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"Cannot write the incident store {self.path}: {exc}. "
                             "Is the disk full or read-only?") from None
        try:
            yield conn
        except sqlite3.DatabaseError as exc:
            conn.execute("ROLLBACK")
            raise self._damaged(str(exc)) from None
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
            self._committed()

    def _committed(self) -> None:
        """Called after every committed write; the incident log re-renders INCIDENTS.md here."""

    def _read(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        try:
            return self._connect().execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(str(exc)) from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- incidents ---------------------------------------------------------------------
    def open_incident(self, *, severity: str, title: str, runbook: str | None = None,
                      kind: str = "real", started_at: datetime | None = None,
                      note: str | None = None) -> dict:
        """A new incident with an id like INC-20261126-003 (UTC day, sequence)."""
        stamp = iso(now())
        started = iso(started_at) or stamp
        with self._write() as conn:
            day = stamp[:10].replace("-", "")
            count = conn.execute("SELECT count(*) FROM incidents WHERE id LIKE ?",
                                 (f"INC-{day}-%",)).fetchone()[0]
            incident_id = f"INC-{day}-{count + 1:03d}"
            conn.execute(
                "INSERT INTO incidents (id, severity, title, runbook, kind, status, started_at,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?)",
                (incident_id, severity, title, runbook, kind, started, stamp, stamp),
            )
            self._log(conn, incident_id, started, "started", f"{severity} incident began: {title}")
            self._log(conn, incident_id, stamp, "opened", f"{kind} incident opened")
            if note:
                self._log(conn, incident_id, stamp, "note", note)
        return self.incident(incident_id)

    def incident(self, incident_id: str) -> dict:
        rows = self._read("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        if not rows:
            raise IncidentNotFound(f"No incident {incident_id}. `vedrun incident list` shows the ids.")
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
        with self._write() as conn:
            self._require(conn, incident_id)
            stamp = iso(now())
            self._log(conn, incident_id, stamp, "note", text)
            conn.execute("UPDATE incidents SET updated_at = ? WHERE id = ?", (stamp, incident_id))

    def set_status(self, incident_id: str, status: str) -> None:
        if status not in STATUSES:
            raise UsageError(f"Unknown status {status!r}; use one of {', '.join(STATUSES)}")
        if status == "resolved":
            self.resolve(incident_id)
            return
        with self._write() as conn:
            self._require(conn, incident_id)
            stamp = iso(now())
            conn.execute("UPDATE incidents SET status = ?, resolved_at = NULL, updated_at = ? "
                         "WHERE id = ?", (status, stamp, incident_id))
            self._log(conn, incident_id, stamp, "status", f"status set to {status}")

    def resolve(self, incident_id: str, note: str | None = None) -> dict:
        with self._write() as conn:
            row = self._require(conn, incident_id)
            stamp = iso(now())
            if row["status"] != "resolved":
                conn.execute("UPDATE incidents SET status = 'resolved', resolved_at = ?, "
                             "updated_at = ? WHERE id = ?", (stamp, stamp, incident_id))
                self._log(conn, incident_id, stamp, "status", "resolved")
            if note:
                self._log(conn, incident_id, stamp, "note", note)
        return self.incident(incident_id)

    def timeline(self, incident_id: str) -> list[dict]:
        return [dict(row) for row in self._read(
            "SELECT at, kind, text FROM timeline WHERE incident_id = ? ORDER BY at, id",
            (incident_id,))]

    # -- runs --------------------------------------------------------------------------
    def start_run(self, *, incident_id: str | None, runbook: str, check_mode: bool,
                  inventory: str, limit: str | None, hosts: list[str],
                  artifacts_dir: str, evidence_dir: str) -> int:
        stamp = iso(now())
        with self._write() as conn:
            if incident_id:
                self._require(conn, incident_id)
            cursor = conn.execute(
                "INSERT INTO runs (incident_id, runbook, started_at, check_mode, inventory,"
                " limit_pattern, hosts, artifacts_dir, evidence_dir, pid)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (incident_id, runbook, stamp, int(check_mode), inventory, limit,
                 json.dumps(hosts), artifacts_dir, evidence_dir, os.getpid()),
            )
            if incident_id:
                mode = " in check mode" if check_mode else ""
                self._log(conn, incident_id, stamp, "run",
                          f"run #{cursor.lastrowid} of {runbook}{mode} started on {', '.join(hosts)}")
        return int(cursor.lastrowid)

    def finish_run(self, run_id: int, *, outcome: str, rc: int | None, phases: dict,
                   host_stats: dict, faults: dict, unreachable: list[str], failures: list[dict],
                   timeline: dict[str, str | None], error: str | None = None) -> dict:
        """Close a run and stamp its incident's timeline in one transaction. A timestamp
        already on the incident (from an earlier run it joined) is kept: the first wins."""
        outcome = Outcome(outcome)  # ValueError for an unknown outcome
        stamp = iso(now())
        with self._write() as conn:
            run = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            conn.execute(
                "UPDATE runs SET ended_at = ?, outcome = ?, rc = ?, phases = ?, host_stats = ?,"
                " faults = ?, unreachable = ?, failures = ?, error = ? WHERE id = ?",
                (stamp, str(outcome), rc, json.dumps(phases), json.dumps(host_stats),
                 json.dumps(faults), json.dumps(unreachable), json.dumps(failures), error, run_id),
            )
            incident_id = run["incident_id"]
            if incident_id:
                self._stamp_incident(conn, incident_id, run_id, outcome, phases, timeline, stamp)
        return self.run(run_id)

    def _stamp_incident(self, conn, incident_id, run_id, outcome, phases, timeline, stamp):
        for phase, span in phases.items():
            if span.get("ended_at"):
                self._log(conn, incident_id, span["ended_at"], "phase",
                          f"run #{run_id}: {phase} phase ended")
        current = conn.execute("SELECT status, recovered_at FROM incidents WHERE id = ?",
                               (incident_id,)).fetchone()
        sets, params = ["updated_at = ?"], [stamp]
        if outcome.updates_incident(recovered=current["recovered_at"] is not None):
            sets.append("outcome = ?")
            params.append(str(outcome))
        for column in ("detected_at", "mitigated_at", "recovered_at"):
            if timeline.get(column):
                sets.append(f"{column} = COALESCE({column}, ?)")
                params.append(timeline[column])
                label = column.removesuffix("_at")
                self._log(conn, incident_id, timeline[column], label, f"{label} (run #{run_id})")
        if outcome is Outcome.RECOVERED and current["status"] != "resolved":
            sets.append("status = 'recovered'")
        conn.execute(f"UPDATE incidents SET {', '.join(sets)} WHERE id = ?",  # noqa: S608 - fixed column names
                     (*params, incident_id))
        self._log(conn, incident_id, stamp, "run", f"run #{run_id} ended: {outcome}")

    def run(self, run_id: int) -> dict:
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        return self._run_dict(rows[0])

    def runs(self, incident_id: str | None = None) -> list[dict]:
        if incident_id is None:
            rows = self._read("SELECT * FROM runs ORDER BY id")
        else:
            rows = self._read("SELECT * FROM runs WHERE incident_id = ? ORDER BY id", (incident_id,))
        return [self._run_dict(row) for row in rows]

    @staticmethod
    def _run_dict(row: sqlite3.Row) -> dict:
        run = dict(row)
        for column in _JSON_COLUMNS:
            run[column] = json.loads(run[column]) if run[column] else None
        run["check_mode"] = bool(run["check_mode"])
        return run

    def reap_dead_runs(self) -> list[int]:
        """Runs left `running` by a vedrun process that died (kill -9, power loss): they end
        as aborted so that no record claims to be in progress forever."""
        stale = [row for row in self._read("SELECT id, pid, incident_id FROM runs "
                                           "WHERE outcome = ?", (str(Outcome.RUNNING),))
                 if not _pid_alive(row["pid"])]
        if not stale:
            return []
        stamp = iso(now())
        with self._write() as conn:
            for row in stale:
                conn.execute("UPDATE runs SET outcome = ?, ended_at = ?, error = ? "
                             "WHERE id = ? AND outcome = ?",
                             (str(Outcome.ABORTED), stamp, f"vedrun process {row['pid']} died during the run",
                              row["id"], str(Outcome.RUNNING)))
                if row["incident_id"]:
                    self._log(conn, row["incident_id"], stamp, "run",
                              f"run #{row['id']} aborted: its vedrun process died")
        return [row["id"] for row in stale]

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
