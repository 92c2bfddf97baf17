"""The p0-database-failure decision table (vedrun.kit.database_*), one case per row. No Docker:
the input is what vedrun.kit.db_probe returns, built by hand."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.vedrun.kit.plugins.filter.database import (
    database_damage,
    database_faults,
    rows_short,
)

SETTINGS = {"connections_min_free": 2}
DAMAGE = 'ERROR:  invalid page in block 4 of relation base/16384/16390'
LOCKED = 'ERROR:  canceling statement due to lock timeout'


def healthy() -> dict:
    return {"container": {"exists": True, "running": True, "exit_code": 0, "oom_killed": False,
                          "restart_policy": "unless-stopped"},
            "pidfile": {"present": False, "pid": None},
            "ready": {"ok": True, "rc": 0},
            "sessions": {"free": 30, "blocked": [], "blockers": []},
            "integrity": {"ran": True, "tables": ["public.courses|500000"], "errors": []},
            "history": {"entries": [], "volumes": {}}}


def probe(**parts) -> dict:
    data = healthy()
    for key, value in parts.items():
        data[key] = {**data[key], **value}
    return data


DOWN = {"running": False, "status": "exited"}
NOT_READY = {"ready": {"ok": False, "rc": 2}, "sessions": {}, "integrity": {"ran": False, "errors": []}}


@pytest.mark.parametrize(("name", "parts", "faults"), [
    ("healthy", {}, []),
    ("container missing", {"container": {"exists": False, "running": False}, **NOT_READY},
     ["postgres container missing"]),
    ("stopped cleanly", {"container": DOWN, **NOT_READY}, ["postgres stopped"]),
    ("killed: exit code", {"container": {**DOWN, "exit_code": 137}, **NOT_READY}, ["postgres killed"]),
    ("killed: OOM", {"container": {**DOWN, "oom_killed": True}, **NOT_READY}, ["postgres killed"]),
    ("killed: pid file left behind", {"container": DOWN, "pidfile": {"present": True, "pid": 1}, **NOT_READY},
     ["postgres killed"]),
    ("not ready", NOT_READY, ["postgres not ready"]),
    ("connections exhausted", {"sessions": {"free": 1}}, ["connections exhausted"]),
    ("connections at the threshold are enough", {"sessions": {"free": 2}}, []),
    ("blocking queries", {"sessions": {"blocked": [{"pid": 5}]}}, ["blocking queries"]),
    ("corruption", {"integrity": {"errors": [DAMAGE]}}, ["corruption"]),
    ("a locked table is skipped, not damaged", {"integrity": {"errors": [LOCKED]}}, []),
    ("exhausted and blocked at once", {"sessions": {"free": 0, "blocked": [{"pid": 5}]}},
     ["connections exhausted", "blocking queries"]),
])
def test_decision_table(name, parts, faults):
    assert database_faults(probe(**parts), SETTINGS) == faults, name


def test_damage_lists_only_damaged_data_errors():
    assert database_damage(probe(integrity={"errors": [LOCKED, DAMAGE]})) == [DAMAGE]


def test_rows_short():
    assert rows_short({"public.a": 3, "public.b": 2}, {"public.a": 4, "public.b": 1}) == \
        ["public.b: 1 rows, backup 2"]
    assert rows_short({"public.c": 1}, {}) == ["public.c: no table rows, backup 1"]
    assert rows_short({"public.a": 3}, {"public.a": 3}) == []


def test_a_wrong_input_is_named():
    with pytest.raises(AnsibleFilterError, match="db_probe"):
        database_faults({"ready": {}}, SETTINGS)
