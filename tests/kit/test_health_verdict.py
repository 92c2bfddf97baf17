"""The health check's verdict in one task (action plugin vedrun.kit.stack_health), Docker-free:
its input checks, the summary line, what it publishes and when it fails."""

from __future__ import annotations

import pytest
from ansible_collections.vedrun.kit.plugins.action.stack_health import input_problem, summary, verdict

OK = {"ok": True, "slow": False, "seconds": 0.01, "detail": "HTTP 200 (0.0 s)"}
SLOW = {"ok": True, "slow": True, "seconds": 10.0, "detail": "no answer within 5 s twice"}
DOWN = {"ok": False, "slow": False, "seconds": 0, "detail": "exited (exit code 137)"}


def test_every_check_ok_is_published_as_passed():
    out = verdict("vps-1", {"api": OK, "redis": SLOW}, fail=True, publish=True)
    assert "failed" not in out and out["unhealthy"] == []
    assert out["ansible_stats"]["data"] == {"vedrun_health": {"vps-1": {"api": OK, "redis": SLOW}},
                                            "vedrun_health_passed": {"vps-1": True}}
    assert out["msg"] == "vps-1: api ok (HTTP 200 (0.0 s)); redis ok (slow) (no answer within 5 s twice)"
    assert out["_ansible_verbose_always"] is True  # plain ansible-playbook shows it, as a debug task


def test_a_failed_check_fails_the_host_only_when_asked_and_is_still_published():
    checks = {"api": OK, "container:vedfinance-api": DOWN}
    reported = verdict("vps-1", checks, fail=False, publish=True)
    assert "failed" not in reported
    assert reported["ansible_stats"]["data"]["vedrun_health_passed"] == {}
    failed = verdict("vps-1", checks, fail=True, publish=True)
    assert failed["failed"] is True
    assert failed["msg"] == "vps-1 is unhealthy: container:vedfinance-api (exited (exit code 137))"
    assert failed["ansible_stats"]["data"]["vedrun_health"]["vps-1"] == checks


def test_nothing_is_published_unless_asked():
    assert "ansible_stats" not in verdict("vps-1", {"api": OK}, fail=False, publish=False)


def test_no_check_at_all_is_a_failure():
    assert verdict("vps-1", {}, fail=True, publish=False)["failed"] is True


def test_the_summary_names_each_check():
    assert summary("h", {"api": DOWN}) == "h: api FAILED (exited (exit code 137))"


@pytest.mark.parametrize(("args", "named"), [
    ({"api_url": "http://127.0.0.1/health"}, None),
    ({"containers": ["vedfinance-api"]}, None),
    ({"api_url": "", "containers": []}, "every check is disabled"),
    ({"containers": "[]"}, "wrong: containers"),
    ({"http_checks": {"name": "x"}, "api_url": "http://x"}, "wrong: http_checks"),
    ({"api_url": 5}, "wrong: api_url"),
    ({"api_url": "http://x", "postgres_user": ""}, "wrong: postgres_user"),
])
def test_inputs_are_checked_with_the_fix_named(args, named):
    problem = input_problem(args)
    if named is None:
        assert problem is None
    else:
        assert named in problem and "-e '{\"health_containers\": []}'" in problem
