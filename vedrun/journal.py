"""The journal: the records of a runbook run that could not write the incident store.

When the store cannot be written at the start of a runbook run (disk full, read-only, locked
beyond the busy timeout), the run goes ahead and every change it would have made to the store
is appended to `<home>/incidents.journal`: one JSON line per change (the store's operation and
its arguments, times included), fsynced, 0600. The run itself reads and writes an in-memory
copy of the store with the journal applied, so its report is whole.

The next write to the store, by any vedrun command, applies the pending lines first, in file
order, in its own transaction, and removes the file. Each line has an id that is recorded in
`journal_applied` in that same transaction, so a line is applied exactly once even if vedrun
dies between the commit and the removal; a line that cannot be applied is kept there, with why.

Ids: an incident opened in the journal is `INC-<day>-J<hex>`, which no sequence of the store can
reach, and keeps that id for good (its evidence folder is named by it); a run started in the
journal is named by a reference (`journal_runs`) until the merge gives it its number.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from vedrun.errors import VedrunError
from vedrun.files import open_private
from vedrun.timeutil import iso, now

JOURNAL_FILE = "incidents.journal"
Apply = Callable[[sqlite3.Connection, str, dict], object]


class Journal:
    """`<home>/incidents.journal`, appended and merged under an flock of the home folder."""

    def __init__(self, home: Path):
        self.home = Path(home)
        self.path = self.home / JOURNAL_FILE

    def pending(self) -> bool:
        return os.path.lexists(self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock

    def append(self, op: str, args: dict) -> None:
        """One change, as one line, on disk before this returns (OSError when it cannot be)."""
        line = json.dumps({"entry": secrets.token_hex(16), "op": op, "args": args,
                           "pid": os.getpid(), "at": iso(now())}, sort_keys=True) + "\n"
        with self._locked():
            fd = open_private(self.path, os.O_RDWR | os.O_APPEND)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = "\n" + line  # a line cut by a crash stays alone on its line
                try:
                    os.write(fd, line.encode())
                    os.fsync(fd)
                except OSError:
                    os.ftruncate(fd, size)  # never half a line
                    raise
            finally:
                os.close(fd)
            if size == 0:
                _fsync_folder(self.home)

    def _lines(self) -> list[str]:
        try:
            fd = open_private(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return []
        with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as handle:
            return [line for line in handle.read().split("\n") if line.strip()]

    @contextmanager
    def merging(self) -> Iterator[Merge]:
        """The pending lines, held under the lock until the caller's transaction is done."""
        if not self.pending():
            yield Merge([], None)
            return
        with self._locked():
            yield Merge(self._lines(), self.path)

    def replay(self, conn: sqlite3.Connection, apply: Apply) -> None:
        """Apply the pending lines to a copy of the store (the degraded run's view)."""
        with self.merging() as merge:
            conn.execute("BEGIN")
            merge.apply(conn, apply)
            conn.execute("COMMIT")


class Merge:
    """Pending journal lines, applied inside a transaction of the store, then removed."""

    def __init__(self, lines: list[str], path: Path | None):
        self.lines = lines
        self.path = path

    def apply(self, conn: sqlite3.Connection, apply: Apply) -> None:
        """Each line not applied yet, in order; one that cannot be applied is recorded as
        rejected (with the line) rather than blocking every later write."""
        for line in self.lines:
            key, op, args = _parse(line)
            if conn.execute("SELECT 1 FROM journal_applied WHERE entry = ?", (key,)).fetchone():
                continue
            result = "applied" if op is not None else "rejected: not a journal record"
            if op is not None:
                conn.execute("SAVEPOINT journal_line")
                try:
                    apply(conn, op, args)
                except (VedrunError, ValueError, KeyError, TypeError, sqlite3.IntegrityError) as exc:
                    conn.execute("ROLLBACK TO journal_line")
                    result = f"rejected: {exc}"
                conn.execute("RELEASE journal_line")
            conn.execute("INSERT INTO journal_applied (entry, applied_at, result, line) "
                         "VALUES (?, ?, ?, ?)", (key, iso(now()), result, line))

    def done(self) -> None:
        """After the commit: the lines are in the store, the file goes."""
        if self.path is not None and self.lines:
            self.path.unlink(missing_ok=True)


def _parse(line: str) -> tuple[str, str | None, dict | None]:
    try:
        entry = json.loads(line)
        if isinstance(entry["op"], str) and isinstance(entry["args"], dict):
            return str(entry["entry"]), entry["op"], entry["args"]
    except (ValueError, KeyError, TypeError):
        pass
    return "line-" + hashlib.sha256(line.encode()).hexdigest()[:32], None, None


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def with_journal_ids(conn: sqlite3.Connection, op: str, args: dict) -> dict:
    """The arguments of a journaled change with the ids that cannot collide later: a J id for a
    new incident, a reference for a new run, and that reference where a change names the run."""
    args = dict(args)
    if op == "open_incident" and not args.get("id"):
        args["id"] = f"INC-{args['stamp'][:10].replace('-', '')}-J{secrets.token_hex(3)}"
    elif op == "start_run":
        args["ref"] = f"J{secrets.token_hex(6)}"
    elif op == "finish_run" and isinstance(args.get("run"), int):
        row = conn.execute("SELECT ref FROM journal_runs WHERE run_id = ?", (args["run"],)).fetchone()
        if row is not None:
            args["run"] = row[0]
    return args


def apply_in_memory(conn: sqlite3.Connection, apply: Apply, op: str, args: dict):
    """One change to the in-memory copy, all or nothing."""
    conn.execute("BEGIN")
    try:
        result = apply(conn, op, args)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def memory_copy(path: Path, journal: Journal, apply: Apply, migrate: Callable) -> sqlite3.Connection:
    """The store as it is on disk (empty when it cannot even be read) with the journal's pending
    lines applied, in memory: what a run that cannot write the store reads and writes."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        source = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            source.backup(conn)
        finally:
            source.close()
    except sqlite3.Error:
        conn.close()
        conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("BEGIN")
    migrate(conn, conn.execute("PRAGMA user_version").fetchone()[0])
    conn.execute("COMMIT")
    conn.execute("PRAGMA foreign_keys = ON")
    try:
        journal.replay(conn, apply)
    except (OSError, VedrunError):
        if conn.in_transaction:
            conn.execute("ROLLBACK")  # no journal to read (no home, a planted link): the store alone
    return conn
