"""The incident store: real SQLite files, concurrent writers, refusal to touch a bad store."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from vedrun.errors import IncidentNotFound, StoreError
from vedrun.store import SCHEMA_VERSION, Store


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_store_is_wal_and_versioned(home):
    store = Store(home)
    incident = store.open_incident(severity="P0", title="API down")
    assert incident["id"].startswith("INC-") and incident["id"].endswith("-001")
    conn = sqlite3.connect(home / "incidents.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_ids_are_sequential_per_day(home):
    store = Store(home)
    ids = [store.open_incident(severity="P1", title=f"t{n}")["id"] for n in range(3)]
    assert [i[-3:] for i in ids] == ["001", "002", "003"]


def _log_many(home: str, count: int) -> None:
    store = Store(Path(home))
    for n in range(count):
        store.open_incident(severity="P1", title=f"concurrent {n}")


def test_concurrent_processes_never_collide(home):
    Store(home).incidents()  # create the schema first, as any vedrun command would
    workers = [multiprocessing.Process(target=_log_many, args=(str(home), 15)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    incidents = Store(home).incidents()
    assert len(incidents) == 60
    assert len({i["id"] for i in incidents}) == 60
    for incident in incidents:  # every record whole: its 'started' entry is on the timeline
        assert Store(home).timeline(incident["id"])[0]["kind"] == "started"


def test_newer_schema_is_refused_and_untouched(home):
    home.mkdir()
    conn = sqlite3.connect(home / "incidents.db")
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = _digest(home / "incidents.db")
    with pytest.raises(StoreError, match="newer than this vedrun understands"):
        Store(home).incidents()
    assert _digest(home / "incidents.db") == before


def test_damaged_store_is_refused_and_untouched(home):
    home.mkdir()
    (home / "incidents.db").write_bytes(b"this is not a database, it is a cat picture" * 100)
    before = _digest(home / "incidents.db")
    with pytest.raises(StoreError, match=r"is damaged .* It was not changed"):
        Store(home).open_incident(severity="P0", title="x")
    assert _digest(home / "incidents.db") == before


def test_truncated_store_is_refused(home):
    store = Store(home)
    for n in range(50):
        store.open_incident(severity="P0", title="x" * 500 + str(n))
    store.close()
    conn = sqlite3.connect(home / "incidents.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = (home / "incidents.db").read_bytes()
    (home / "incidents.db").write_bytes(data[:4096] + b"\x00" * 10 + data[8192:12000])
    before = _digest(home / "incidents.db")
    with pytest.raises(StoreError, match="damaged"):
        Store(home).incidents()
    assert _digest(home / "incidents.db") == before


def test_unknown_incident_is_named(home):
    with pytest.raises(IncidentNotFound, match="No incident INC-1"):
        Store(home).incident("INC-1")


def test_first_timestamp_wins_and_resolution(home):
    store = Store(home)
    incident = store.open_incident(severity="P0", title="API down")
    run = store.start_run(incident_id=incident["id"], runbook="p0-service-down", check_mode=False,
                          inventory="inv", limit=None, hosts=["a"], artifacts_dir="x",
                          evidence_dir="y")
    store.finish_run(run, outcome="failed", rc=2, phases={}, host_stats={}, faults={"a": ["crash"]},
                     unreachable=[], failures=[],
                     timeline={"detected_at": "2026-11-26T03:00:05.000Z"})
    run = store.start_run(incident_id=incident["id"], runbook="p0-service-down", check_mode=False,
                          inventory="inv", limit=None, hosts=["a"], artifacts_dir="x",
                          evidence_dir="y")
    store.finish_run(run, outcome="recovered", rc=0, phases={}, host_stats={}, faults={"a": ["crash"]},
                     unreachable=[], failures=[],
                     timeline={"detected_at": "2026-11-26T03:09:00.000Z",
                               "mitigated_at": "2026-11-26T03:09:30.000Z",
                               "recovered_at": "2026-11-26T03:10:00.000Z"})
    record = store.incident(incident["id"])
    assert record["detected_at"] == "2026-11-26T03:00:05.000Z"
    assert record["recovered_at"] == "2026-11-26T03:10:00.000Z"
    assert record["status"] == "recovered" and record["outcome"] == "recovered"
    resolved = store.resolve(incident["id"], "root cause: bad deploy")
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    assert [e["text"] for e in store.timeline(incident["id"])][-1] == "root cause: bad deploy"


def test_runs_of_dead_processes_end_as_aborted(home):
    store = Store(home)
    incident = store.open_incident(severity="P0", title="x")
    run = store.start_run(incident_id=incident["id"], runbook="p0-service-down", check_mode=False,
                          inventory="inv", limit=None, hosts=["a"], artifacts_dir="x",
                          evidence_dir="y")
    dead = multiprocessing.Process(target=int)
    dead.start()
    dead.join()
    store._connect().execute("UPDATE runs SET pid = ? WHERE id = ?", (dead.pid, run))
    assert store.reap_dead_runs() == [run]
    assert store.run(run)["outcome"] == "aborted"
    assert "died" in store.run(run)["error"]
