"""Issue 10 (hardening), the record: a full or read-only store says so (exit 5, never
"damaged"); an unwritable store does not stop a runbook (the journal); INCIDENTS.md failing after
a commit is a warning; ids are never reissued.

How each failed at e0d454e is in each test's docstring.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from vedrun.cli import cli
from vedrun.engine import Engine
from vedrun.errors import Exit, StoreError
from vedrun.journal import JOURNAL_FILE
from vedrun.store import Store, StoreUnwritable

_connect = sqlite3.connect


def vedrun(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


class _FullAtCommit:
    """A connection whose COMMIT fails as SQLite fails on a full disk."""

    def __init__(self, conn):
        object.__setattr__(self, "_conn", conn)

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def __setattr__(self, name, value):
        setattr(self._conn, name, value)

    def execute(self, sql, *args):
        if sql.strip().upper() == "COMMIT" and self._conn.in_transaction:
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorcode, error.sqlite_errorname = 13, "SQLITE_FULL"
            raise error
        return self._conn.execute(sql, *args)


def _store_connections(monkeypatch, wrap):
    """Every connection to an incidents.db goes through `wrap` (the in-memory copy of a run
    that journals does not)."""

    def connect(database, *args, **kwargs):
        conn = _connect(database, *args, **kwargs)
        return wrap(conn) if str(database).endswith("incidents.db") else conn

    monkeypatch.setattr(sqlite3, "connect", connect)


def _read_only(conn):
    conn.execute("PRAGMA query_only = 1")
    return conn


def test_disk_full_at_commit_is_disk_full_exit_5(env, home, monkeypatch):
    """A full disk at COMMIT: e0d454e let sqlite3.OperationalError escape from `_write` (a
    traceback, exit 1). Now: "disk full", the fix, exit 5, and nothing half-written."""
    Store(home).incidents()
    _store_connections(monkeypatch, _FullAtCommit)
    with pytest.raises(StoreUnwritable, match="disk full") as caught:
        Store(home).open_incident(severity="P0", title="x")
    assert caught.value.exit_code == Exit.STORE and "Free space" in str(caught.value)
    result = vedrun("incident", "log", "--severity", "P0", "--title", "API down")
    assert result.exit_code == 5, result.output
    assert "disk full" in result.output and "damaged" not in result.output
    assert "Traceback" not in result.output
    monkeypatch.setattr(sqlite3, "connect", _connect)
    assert Store(home).incidents() == []


def test_sqlite_full_during_a_write_is_disk_full_not_damaged(home):
    """SQLITE_FULL inside the transaction: e0d454e ended in a traceback (its ROLLBACK after
    SQLite's own: "cannot rollback - no transaction is active"), or called the store "damaged
    ... try .recover" when the transaction was still open."""
    store = Store(home)
    store.open_incident(severity="P1", title="first")
    conn = store._connect()
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(StoreUnwritable, match="disk full") as caught:
        store.open_incident(severity="P1", title="x" * 200_000)
    assert "damaged" not in str(caught.value) and caught.value.exit_code == Exit.STORE
    assert [i["title"] for i in Store(home).incidents()] == ["first"]


def test_a_read_only_store_is_not_writable_never_damaged(env, home, monkeypatch):
    """A read-only store: e0d454e said "Cannot write ...: Is the disk full or read-only?" (or
    "damaged" when SQLite refused after BEGIN). Now it names the cause and the fix, exit 5."""
    Store(home).open_incident(severity="P1", title="before")
    _store_connections(monkeypatch, _read_only)
    result = vedrun("incident", "log", "--severity", "P0", "--title", "x")
    assert result.exit_code == 5, result.output
    assert "is not writable" in result.output and "damaged" not in result.output
    assert "chown" in result.output


def test_incidents_md_failing_after_a_commit_is_a_warning(env, home):
    """INCIDENTS.md cannot be written after the commit: e0d454e raised IsADirectoryError out of
    the command (a traceback, exit 1) although the incident was recorded. Now: one warning on
    stderr naming the file and the cause, the commit stands, the exit code is the command's."""
    home.mkdir()
    (home / "INCIDENTS.md").mkdir()  # os.replace over it fails, as on a full or read-only disk
    result = vedrun("incident", "log", "--severity", "P1", "--title", "logins fail", "--json")
    assert result.exit_code == 0, result.output
    incident_id = json.loads(result.stdout)["id"]
    assert str(home / "INCIDENTS.md") in result.stderr and "not updated" in result.stderr
    assert "Is a directory" in result.stderr
    assert Store(home).incident(incident_id)["title"] == "logins fail"


def test_ids_are_never_reissued_after_rows_are_lost(home):
    """e0d454e numbered `count + 1`: after a lost row that is an id still in the store (a UNIQUE
    failure reported as "damaged"), and after the newest rows were lost (an older copy of the
    store put back) an id that had been issued and whose evidence folder exists."""
    store = Store(home)
    ids = [store.open_incident(severity="P1", title=f"t{n}")["id"] for n in range(3)]
    conn = store._connect()
    conn.execute("DELETE FROM timeline WHERE incident_id = ?", (ids[1],))
    conn.execute("DELETE FROM incidents WHERE id = ?", (ids[1],))
    fourth = store.open_incident(severity="P1", title="after a lost row")["id"]
    assert fourth.endswith("-004") and fourth not in ids

    # an older copy of the store comes back (a restore): the evidence folders are still here
    store.close()
    old = home.parent / "old.db"
    shutil.copy(home / "incidents.db", old)
    store = Store(home)
    newer = [store.open_incident(severity="P1", title=f"n{n}")["id"] for n in range(2)]
    for incident_id in newer:
        (home / "incidents" / incident_id / "evidence").mkdir(parents=True)
    store.close()
    for suffix in ("-wal", "-shm"):
        (home / f"incidents.db{suffix}").unlink(missing_ok=True)
    shutil.copy(old, home / "incidents.db")
    again = Store(home).open_incident(severity="P1", title="after a restore")["id"]
    assert again not in newer and again.endswith("-007")


# -- the journal ----------------------------------------------------------------------------
def _lock_store(home: Path) -> sqlite3.Connection:
    """Another process holding the store's write lock (beyond any busy timeout)."""
    Store(home).incidents()
    holder = _connect(home / "incidents.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def _log(project, home, warnings):
    log = Engine(project, home).incidents
    log.warn = warnings.append
    log.busy_timeout = 0.2
    return log


def test_a_locked_store_journals_and_the_next_write_merges_once_in_order(project, home):
    """A store locked beyond the busy timeout at the start of a runbook run: e0d454e stopped the
    run with exit 5 (nothing ran). Now the records go to the journal (J ids, run references),
    the run reads them back, and the next write merges them in order, exactly once."""
    holder = _lock_store(home)
    warnings: list[str] = []
    log = _log(project, home, warnings)
    log.journal_when_unwritable()
    assert log.reap_dead_runs() == []
    incident = log.open_incident(severity="P0", title="API down", runbook="p0-fake-outage")
    assert incident["id"].split("-")[2].startswith("J")
    run = log.start_run(incident_id=incident["id"], runbook="p0-fake-outage", check_mode=False,
                        inventory="inv", limit=None, hosts=["local-1"], artifacts_dir="a",
                        evidence_dir="e")
    finished = log.finish_run(run, outcome="recovered", rc=0, phases={}, host_stats={}, faults={},
                              unreachable=[], failures=[],
                              timeline={"recovered_at": "2026-11-26T03:10:00.000Z"})
    assert finished["outcome"] == "recovered"
    log.add_note(incident["id"], "journaled note")
    assert log.incident(incident["id"])["status"] == "recovered"  # the run reads its own record
    assert len(warnings) == 1 and "cannot be written (locked)" in warnings[0]
    journal = home / JOURNAL_FILE
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert [json.loads(line)["op"] for line in journal.read_text().splitlines()] == \
        ["open_incident", "start_run", "finish_run", "add_note"]
    holder.execute("ROLLBACK")
    assert Store(home).incidents() == []  # nothing reached the store yet

    other = _log(project, home, warnings).open_incident(severity="P1", title="later")
    assert not journal.exists()
    store = Store(home)
    merged = store.incident(incident["id"])
    assert merged["status"] == "recovered" and merged["recovered_at"] == "2026-11-26T03:10:00.000Z"
    texts = [e["text"] for e in store.timeline(incident["id"])]
    assert texts[-1] == "journaled note" and any("ended: recovered" in t for t in texts)
    (merged_run,) = store.runs(incident["id"])
    assert merged_run["outcome"] == "recovered" and isinstance(merged_run["id"], int)
    assert other["id"].endswith("-001")  # the J id took no number of the day
    assert incident["id"] in (home / "INCIDENTS.md").read_text()
    _log(project, home, warnings).add_note(other["id"], "again")
    assert len(Store(home).runs()) == 1 and len(Store(home).incidents()) == 2


def test_a_journal_line_is_applied_once_even_after_a_crash_before_its_removal(project, home):
    """The merge commits, then vedrun dies before removing the journal: the next write must not
    apply the lines again (journal_applied, in the merge's transaction)."""
    holder = _lock_store(home)
    log = _log(project, home, [])
    log.journal_when_unwritable()
    incident = log.open_incident(severity="P1", title="once")
    log.add_note(incident["id"], "only once")
    holder.execute("ROLLBACK")
    kept = (home / JOURNAL_FILE).read_text()
    Store(home).open_incident(severity="P1", title="merges")
    (home / JOURNAL_FILE).write_text(kept)  # as if the removal never happened
    Store(home).open_incident(severity="P1", title="merges again")
    assert not (home / JOURNAL_FILE).exists()
    texts = [e["text"] for e in Store(home).timeline(incident["id"])]
    assert texts.count("only once") == 1
    assert len(Store(home).incidents()) == 3


def test_a_command_that_is_not_a_runbook_run_still_fails_clearly(project, home):
    """Only a runbook run goes ahead: `incident log` on a locked store is exit 5, named."""
    holder = _lock_store(home)
    try:
        with pytest.raises(StoreError, match="locked by another process"):
            _log(project, home, []).log(severity="P0", title="x")
    finally:
        holder.execute("ROLLBACK")
    assert not (home / JOURNAL_FILE).exists()


@pytest.mark.ansible
def test_a_runbook_runs_when_the_store_is_read_only_and_nothing_is_lost(env, project, fault_dir,
                                                                         home, monkeypatch):
    """A P0 runbook against a read-only store: e0d454e refused to run (StoreError at
    open_incident, exit 5, the fault left in place). Now it warns once, runs, recovers, keeps the
    record in the journal, and the next command that writes merges it."""
    Store(home).open_incident(severity="P2", title="an older incident")
    (fault_dir / "local-1.fault").touch()
    _store_connections(monkeypatch, _read_only)
    result = vedrun("p0-fake-outage", "-i", str(project / "inventory"), "-l", "prod", "--json")
    assert result.exit_code == 0, result.output
    assert not (fault_dir / "local-1.fault").exists()
    data = json.loads(result.stdout)
    assert data["outcome"] == "recovered" and data["incident"]["status"] == "recovered"
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "not writable" in warnings[0] and JOURNAL_FILE in warnings[0]
    incident_id = data["incident"]["id"]
    assert (home / JOURNAL_FILE).is_file()
    assert len(Store(home).incidents()) == 1  # (read through the injection: reads still work)

    monkeypatch.setattr(sqlite3, "connect", _connect)
    shown = vedrun("incident", "show", incident_id)  # show merges a pending journal first
    assert shown.exit_code == 0, shown.output
    assert "run #1 ended: recovered" in shown.output and not (home / JOURNAL_FILE).exists()
    noted = vedrun("incident", "update", incident_id, "--note", "after the disk was fixed")
    assert noted.exit_code == 0, noted.output
    store = Store(home)
    merged = store.incident(incident_id)
    assert merged["recovered_at"] == data["incident"]["recovered_at"]
    assert merged["detected_at"] == data["incident"]["detected_at"]
    (run,) = store.runs(incident_id)
    assert run["outcome"] == "recovered" and run["faults"] == {"local-1": ["marker present"]}
    assert store.timeline(incident_id)[-1]["text"] == "after the disk was fixed"
    assert incident_id in (home / "INCIDENTS.md").read_text()
