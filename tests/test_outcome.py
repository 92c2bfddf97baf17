"""The Outcome enum: one row per outcome, and the store's decision made with it."""

from __future__ import annotations

import json

import pytest

from vedrun.errors import Exit
from vedrun.outcome import Outcome
from vedrun.store import Store

# outcome, stored value, exit code, counts as an attempt, escalates, colour
TABLE = [(Outcome.RUNNING, "running", Exit.FAILED, False, False, "yellow"),
         (Outcome.RECOVERED, "recovered", Exit.OK, True, False, "green"),
         (Outcome.NO_FAULT_FOUND, "no fault found", Exit.OK, False, False, "green"),
         (Outcome.CHECKED, "checked", Exit.OK, False, False, "cyan"),
         (Outcome.FAILED, "failed", Exit.FAILED, True, True, "red"),
         (Outcome.UNREACHABLE, "unreachable", Exit.UNREACHABLE, True, True, "red"),
         (Outcome.ABORTED, "aborted", Exit.ABORTED, True, True, "red"),
         (Outcome.NOT_AUTOMATED, "not automated", Exit.NOT_AUTOMATED, False, True, "red"),
         (Outcome.AWAITING_CONFIRMATION, "awaiting confirmation", Exit.CONFIRM, False, False, "yellow"),
         (Outcome.HOST_BUSY, "host busy", Exit.BUSY, False, False, "yellow"),
         (Outcome.HANDED_OFF, "handed off", Exit.HANDED_OFF, False, True, "yellow")]


@pytest.mark.parametrize(("outcome", "value", "exit_code", "attempt", "escalates", "colour"), TABLE)
def test_each_outcome_knows_its_traits(outcome, value, exit_code, attempt, escalates, colour):
    assert outcome == value and str(outcome) == value and Outcome(value) is outcome
    assert json.dumps({"outcome": outcome}) == json.dumps({"outcome": value})
    assert outcome.exit_code is exit_code
    assert outcome.is_attempt is attempt
    assert outcome.escalates is escalates
    assert outcome.colour == colour


def test_the_table_covers_every_outcome():
    assert {row[0] for row in TABLE} == set(Outcome)


def _judged(tmp_path, state):
    from pathlib import Path

    from vedrun.catalog import Runbook
    from vedrun.runner import RunResult
    from vedrun.runs import Plan, judge

    runbook = Runbook(id="p1-x", severity="P1", title="X", scenario="s", causes=(), quick_actions=(),
                      playbook="playbooks/x.yml")
    plan = Plan(runbook=runbook, playbook=Path("x.yml"), inventory=tmp_path, limit=None, hosts=["db-1"],
                environment="production", check=False)
    return judge(plan, RunResult(rc=0, status="successful", state=state, artifacts_dir=tmp_path))


def test_a_fault_handed_off_to_a_person_is_never_a_recovery(tmp_path):
    """An N+1 is code: the runbook names it (vedrun_handoffs) and verifies the rest; the run is
    handed off (exit 8, escalates), not recovered, even with everything else fixed."""
    from vedrun.runner import RunState

    state = RunState()
    state.faults = {"db-1": ["missing index", "n+1 queries"]}
    state.phases = {"verify": {"started_at": "2026-12-02T10:00:00Z", "ended_at": "2026-12-02T10:00:05Z"}}
    state.results = {"vedrun_handoffs": {"db-1": [{"fault": "n+1 queries",
                                                  "detail": "500 calls/s from /courses/featured"}]}}
    outcome, message = _judged(tmp_path, state)
    assert outcome is Outcome.HANDED_OFF and outcome.exit_code == 8 and outcome.escalates
    assert "db-1: n+1 queries: 500 calls/s from /courses/featured" in message
    state.results = {}
    assert _judged(tmp_path, state) == (Outcome.RECOVERED, None)
    state.results = {"vedrun_handoffs": {"db-1": []}}
    assert _judged(tmp_path, state) == (Outcome.RECOVERED, None)


def test_a_run_refused_by_the_hosts_own_lock_is_host_busy_not_failed(tmp_path):
    """The host's lock (vedrun.kit.host_lock) refused the run before it changed anything: exit 4,
    naming the holder, and it counts as no attempt of the runbook."""
    from pathlib import Path

    from vedrun.catalog import Runbook
    from vedrun.runner import RunResult, RunState
    from vedrun.runs import HOST_LOCK_BUSY, Plan, judge

    runbook = Runbook(id="p0-x", severity="P0", title="X", scenario="s", causes=(), quick_actions=(),
                      playbook="playbooks/x.yml")
    plan = Plan(runbook=runbook, playbook=Path("x.yml"), inventory=tmp_path, limit=None, hosts=["web-1"],
                environment="production", check=False)
    state = RunState()
    state.faults = {"web-1": ["container crashed"]}
    state.failures = [{"host": "web-1", "task": "Lock | take or renew the host's runbook lock",
                       "msg": f"{HOST_LOCK_BUSY} (/run/lock/vedrun/runbooks.lock): bob@laptop ..."}]
    result = RunResult(rc=2, status="failed", state=state, artifacts_dir=tmp_path)
    outcome, message = judge(plan, result)
    assert outcome is Outcome.HOST_BUSY and "web-1: another runbook run holds" in message
    assert "bob@laptop" in message
    state.failures[0]["msg"] = "something else broke"
    assert judge(plan, result)[0] is Outcome.FAILED


@pytest.mark.parametrize(("outcome", "recovered", "updates"), [
    (Outcome.CHECKED, False, False),  # a check run changes nothing, its outcome included
    (Outcome.NO_FAULT_FOUND, True, False),  # it confirms a recovery, it does not replace it
    (Outcome.NO_FAULT_FOUND, False, True),
    (Outcome.FAILED, True, True),
    (Outcome.RECOVERED, False, True),
])
def test_which_outcome_becomes_the_incidents(outcome, recovered, updates):
    assert outcome.updates_incident(recovered=recovered) is updates


def _finish(store: Store, incident_id: str, outcome: Outcome, timeline: dict | None = None) -> None:
    run = store.start_run(incident_id=incident_id, runbook="p0-service-down", check_mode=False,
                          inventory="inv", limit=None, hosts=["a"], artifacts_dir="x", evidence_dir="y")
    store.finish_run(run, outcome=outcome, rc=0, phases={}, host_stats={}, faults={},
                     unreachable=[], failures=[], timeline=timeline or {})


def test_store_keeps_a_recovery_over_a_later_no_fault_found_and_ignores_checks(home):
    store = Store(home)
    incident = store.open_incident(severity="P0", title="API down")["id"]
    _finish(store, incident, Outcome.CHECKED)
    assert store.incident(incident)["outcome"] is None
    _finish(store, incident, Outcome.RECOVERED, {"recovered_at": "2026-11-26T03:10:00.000Z"})
    _finish(store, incident, Outcome.NO_FAULT_FOUND)
    record = store.incident(incident)
    assert record["outcome"] == "recovered" and record["status"] == "recovered"
    assert [r["outcome"] for r in store.runs(incident)] == ["checked", "recovered", "no fault found"]


def test_store_refuses_an_unknown_outcome(home):
    store = Store(home)
    incident = store.open_incident(severity="P0", title="x")["id"]
    with pytest.raises(ValueError, match="is not a valid Outcome"):
        _finish(store, incident, "fixed-ish")
