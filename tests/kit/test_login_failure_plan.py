"""The p1-login-failure runbook's decisions (vedrun.kit.login_failure_plan, login_failure_env,
login_failure_verify, secret_fingerprint, redis_bytes), from probes shaped as
vedrun.kit.login_probe returns them; and the env files the fix writes. No Docker (the probe, the
Redis client and redis_fix against real Redis: tests/test_drill_login_failure.py)."""

from __future__ import annotations

import copy
import os

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.vedrun.kit.plugins.filter.login_failure import (
    login_failure_env,
    login_failure_plan,
    login_failure_said,
    login_failure_verify,
    redis_bytes,
    secret_fingerprint,
)
from ansible_collections.vedrun.kit.plugins.module_utils import env_file

NONCE = "0f" * 16
OOM = "OOM command not allowed when used memory > 'maxmemory'."
SECRET = "the-environment's-own-signing-secret"
ORIGINS = ["https://app.vedfinance.test", "https://admin.vedfinance.test"]
SETTINGS = {"secret_fingerprint": secret_fingerprint(SECRET, NONCE), "origins": ORIGINS, "maxmemory": "64mb",
            "maxmemory_policy": "noeviction", "secret_env": "JWT_SECRET", "origins_env": "CORS_ORIGINS"}


def healthy():
    fingerprint = {"set": True, "fingerprint": secret_fingerprint(SECRET, NONCE)}
    return copy.deepcopy({
        "nonce": NONCE,
        "login": {"status": 200, "ok": True, "reason": "HTTP 200", "error": "", "token": True},
        "protected": {"status": 200, "ok": True, "reason": "HTTP 200", "error": ""},
        "cors": [{"origin": o, "expect": "allow", "status": 204, "ok": True, "problems": []} for o in ORIGINS]
        + [{"origin": "https://x.invalid", "expect": "refuse", "status": 204, "ok": True, "problems": []}],
        "redis": {"container": {"exists": True, "status": "running", "running": True, "restarting": False,
                                "paused": False, "exit_code": 0, "oom_killed": False},
                  "ping": {"ok": True, "error": ""}, "write": {"ok": True, "error": ""},
                  "info": {"used_memory": "1048576", "maxmemory": str(64 * 1048576),
                           "maxmemory_policy": "noeviction", "rdb_bgsave_in_progress": "0",
                           "rdb_last_bgsave_status": "ok"},
                  "config": {"maxmemory": str(64 * 1048576), "maxmemory-policy": "noeviction"}},
        "api": {"container": {"exists": True, "running": True},
                "env": {"secret": fingerprint, "origins": ORIGINS},
                "health": {"status": 200, "ok": True, "failed": [], "redis": ""}},
        "deploy": {"entries": 2, "env": {"secret": fingerprint, "origins": ORIGINS}},
    })


def faults(plan):
    return [f["fault"] for f in plan["faults"]]


def test_a_healthy_system_has_no_fault_and_no_step():
    plan = login_failure_plan(healthy(), SETTINGS)
    assert plan["faults"] == [] and plan["handoffs"] == [] and plan["notes"] == []
    assert plan["steps"] == {"redis": False, "env": False, "restart": False, "act": False}
    assert login_failure_verify(healthy(), SETTINGS) == {"ok": True, "problems": []}


def test_a_missing_secret_is_restored_from_the_vault():
    probe = healthy()
    probe["api"]["env"]["secret"] = {"set": False, "fingerprint": ""}
    probe["login"] = {"status": 500, "ok": False, "reason": "HTTP 500", "token": False,
                      "error": "login unavailable: token signing is not configured"}
    probe["protected"] = {"skipped": True, "ok": None}
    plan = login_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["jwt secret missing"]  # the 500 is explained, not a second fault
    assert plan["fixes"]["env"] == {"set_secret": True, "origins": None}
    assert plan["steps"]["env"] and plan["steps"]["act"] and not plan["handoffs"]
    assert login_failure_env(plan, SECRET, SETTINGS) == {"JWT_SECRET": SECRET}
    assert "restore the JWT secret from the vault" in login_failure_said(plan)[0]
    verdict = login_failure_verify(probe, SETTINGS)
    assert not verdict["ok"] and "canary login: HTTP 500: login unavailable" in verdict["problems"][0]
    assert "the API's JWT secret is missing" in verdict["problems"]


def test_no_secret_in_the_vault_is_never_generated_it_is_handed_off():
    probe = healthy()
    probe["api"]["env"]["secret"] = {"set": False, "fingerprint": ""}
    plan = login_failure_plan(probe, {**SETTINGS, "secret_fingerprint": ""})
    assert faults(plan) == ["jwt secret missing"]
    assert plan["handoffs"][0]["fault"] == "jwt secret missing"
    assert "never generates one" in plan["handoffs"][0]["detail"]
    assert not plan["steps"]["act"] and plan["fixes"]["env"]["set_secret"] is False
    with pytest.raises(AnsibleFilterError, match="the vault has no JWT secret"):
        login_failure_env({"fixes": {"env": {"set_secret": True, "origins": None}}}, "  ", SETTINGS)


def test_a_secret_other_than_the_vaults_is_told_by_fingerprint_even_when_logins_work():
    probe = healthy()
    probe["api"]["env"]["secret"] = {"set": True, "fingerprint": secret_fingerprint("rotated", NONCE)}
    plan = login_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["jwt secret mismatch"]
    assert plan["fixes"]["env"]["set_secret"] and not plan["handoffs"]
    assert SECRET not in repr(plan)  # fingerprints only
    # the vault's fingerprint depends on the nonce: a fingerprint from another run never matches
    assert secret_fingerprint(SECRET, NONCE) != secret_fingerprint(SECRET, "another run")
    assert len(secret_fingerprint(SECRET, NONCE)) == 16 and secret_fingerprint("", NONCE) == ""


def test_without_a_vault_secret_the_running_one_is_not_compared_and_the_run_says_so():
    probe = healthy()
    probe["api"]["env"]["secret"]["fingerprint"] = "whatever"
    plan = login_failure_plan(probe, {**SETTINGS, "secret_fingerprint": ""})
    assert plan["faults"] == [] and any("was not compared" in n for n in plan["notes"])


def test_a_stopped_redis_is_started_and_the_logins_503_is_explained_by_it():
    probe = healthy()
    probe["redis"]["container"].update(status="exited", running=False, exit_code=0)
    probe["redis"]["ping"] = {"ok": False, "error": "cannot connect to 127.0.0.1:6379: Connection refused"}
    probe["redis"]["write"] = {"ok": False, "error": "not tried (no connection)"}
    probe["login"] = {"status": 503, "ok": False, "reason": "HTTP 503", "error": "redis unavailable"}
    probe["api"]["health"]["failed"] = ["redis"]
    plan = login_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["redis down"] and plan["fixes"]["redis_start"]
    assert plan["steps"] == {"redis": True, "env": False, "restart": False, "act": True}
    assert login_failure_said(plan) == ["start Redis"]


def test_a_hung_or_missing_redis_is_handed_off_never_restarted():
    hung = healthy()
    hung["redis"]["ping"] = {"ok": False, "error": "TimeoutError: timed out"}
    missing = healthy()
    missing["redis"]["container"]["exists"] = False
    for probe in (hung, missing):
        plan = login_failure_plan(probe, SETTINGS)
        assert faults(plan) == ["redis down"] and [h["fault"] for h in plan["handoffs"]] == ["redis down"]
        assert not plan["steps"]["act"]


def test_redis_full_at_a_limit_other_than_the_declared_one_gets_the_declared_one_back():
    probe = healthy()
    probe["redis"]["write"] = {"ok": False, "error": OOM}
    probe["redis"]["config"].update({"maxmemory": "524288", "maxmemory-policy": "noeviction"})
    plan = login_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["redis refusing writes"]
    assert plan["fixes"]["redis_config"] == {"maxmemory": str(64 * 1048576)}
    detail = plan["faults"][0]["detail"]
    assert "0.5 MiB" in detail and "OOM command not allowed" in detail


def test_redis_full_at_its_declared_limit_is_handed_off_never_flushed():
    probe = healthy()
    probe["redis"]["write"] = {"ok": False, "error": OOM}
    plan = login_failure_plan(probe, SETTINGS)
    assert [h["fault"] for h in plan["handoffs"]] == ["redis refusing writes"]
    assert "never flushes" in plan["handoffs"][0]["detail"] and not plan["steps"]["act"]
    # nothing declared: nothing to set back either
    plan = login_failure_plan(probe, {**SETTINGS, "maxmemory": "", "maxmemory_policy": ""})
    assert plan["handoffs"] and not plan["fixes"]["redis_config"]


def test_a_failed_save_is_retried_with_the_safety_left_on_and_a_save_in_progress_is_waited_for():
    probe = healthy()
    probe["redis"]["write"] = {"ok": False, "error": "MISCONF Redis is configured to save RDB snapshots, but "
                                                    "it's currently unable to persist to disk."}
    probe["redis"]["info"]["rdb_last_bgsave_status"] = "err"
    # it refuses PING too (MISCONF): it answers, so it is not taken for a hung Redis
    probe["redis"]["ping"] = {"ok": False, "answered": True, "error": "MISCONF Redis is configured to save"}
    plan = login_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["redis refusing writes"]
    assert plan["fixes"]["redis_bgsave"]
    assert "stop-writes-on-bgsave-error stays on" in plan["faults"][0]["detail"]
    probe["redis"]["info"]["rdb_bgsave_in_progress"] = "1"
    plan = login_failure_plan(probe, SETTINGS)
    assert not plan["fixes"]["redis_bgsave"] and plan["handoffs"]


def test_a_read_only_replica_is_handed_off():
    probe = healthy()
    probe["redis"]["write"] = {"ok": False, "error": "READONLY You can't write against a read only replica."}
    plan = login_failure_plan(probe, SETTINGS)
    assert "read-only replica" in plan["handoffs"][0]["detail"]


def test_wrong_or_missing_allowed_origins_are_restored_and_order_does_not_matter():
    probe = healthy()
    probe["api"]["env"]["origins"] = list(reversed(ORIGINS))
    assert login_failure_plan(probe, SETTINGS)["faults"] == []
    for running in (["https://old.vedfinance.test"], None, []):
        probe["api"]["env"]["origins"] = running
        probe["cors"][0] = {"origin": ORIGINS[0], "expect": "allow", "status": 204, "ok": False,
                            "problems": ["no Access-Control-Allow-Origin"]}
        plan = login_failure_plan(probe, SETTINGS)
        assert faults(plan) == ["cors origins wrong"], running
        assert plan["fixes"]["env"]["origins"] == ",".join(ORIGINS)
        assert login_failure_env(plan, "", SETTINGS) == {"CORS_ORIGINS": ",".join(ORIGINS)}


def test_preflights_wrong_while_the_api_runs_with_the_declared_origins_are_handed_off():
    probe = healthy()
    probe["cors"][0] = {"origin": ORIGINS[0], "expect": "allow", "status": 204, "ok": False,
                        "problems": ["Access-Control-Allow-Origin is * (browsers refuse it)"]}
    plan = login_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["cors broken"] and "ignores its setting" in plan["handoffs"][0]["detail"]


def test_no_declared_origins_means_no_cors_check_and_a_note():
    probe = healthy()
    probe["api"]["env"]["origins"] = None
    plan = login_failure_plan(probe, {**SETTINGS, "origins": []})
    assert plan["faults"] == [] and any("CORS was not checked" in n for n in plan["notes"])


@pytest.mark.parametrize("origins", [["*"], ["https://app.example.com/login"], "https://a.example.com",
                                     ["app.example.com"]])
def test_declared_origins_must_be_exact(origins):
    with pytest.raises(AnsibleFilterError, match="allowed_origins"):
        login_failure_plan(healthy(), {**SETTINGS, "origins": origins})


def test_an_api_that_did_not_reconnect_to_redis_is_restarted():
    probe = healthy()
    probe["login"] = {"status": 503, "ok": False, "reason": "HTTP 503",
                      "error": "redis unavailable: ConnectionError: not connected"}
    probe["protected"] = {"skipped": True, "ok": None}
    probe["api"]["health"].update(failed=["redis"], redis="ConnectionError: not connected")
    plan = login_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["api lost redis"] and plan["steps"]["restart"]
    # when the container is recreated anyway, no restart on top of it
    probe["api"]["env"]["origins"] = []
    plan = login_failure_plan(probe, SETTINGS)
    assert plan["steps"]["env"] and not plan["steps"]["restart"]


def test_a_refused_canary_or_an_unknown_failure_is_handed_off_with_the_apis_words():
    probe = healthy()
    probe["login"] = {"status": 401, "ok": False, "reason": "HTTP 401", "error": "invalid credentials"}
    plan = login_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["canary refused"] and "invalid credentials" in plan["handoffs"][0]["detail"]
    probe["login"] = {"status": 502, "ok": False, "reason": "HTTP 502", "error": "bad gateway"}
    plan = login_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["login failing"] and "HTTP 502: bad gateway" in plan["handoffs"][0]["detail"]
    probe = healthy()
    probe["protected"] = {"status": 401, "ok": False, "reason": "HTTP 401", "error": "unauthorized"}
    plan = login_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["login failing"] and "token is refused" in plan["handoffs"][0]["detail"]


def test_no_canary_declared_skips_the_login_and_says_so():
    probe = healthy()
    probe["login"] = {"skipped": True, "ok": None, "reason": "no canary account declared", "token": False}
    probe["protected"] = {"skipped": True, "ok": None}
    plan = login_failure_plan(probe, SETTINGS)
    assert plan["faults"] == [] and any("no canary account" in n for n in plan["notes"])
    assert login_failure_verify(probe, SETTINGS)["ok"]


def test_a_missing_api_container_belongs_to_p0_service_down():
    probe = healthy()
    probe["api"] = {"container": {"exists": False}, "env": None, "health": {"failed": []}}
    plan = login_failure_plan(probe, SETTINGS)
    assert "api missing" in faults(plan) and "p0-service-down" in plan["handoffs"][0]["detail"]


def test_redis_sizes_in_redis_units():
    assert redis_bytes("64mb") == 64 * 1048576 and redis_bytes("1gb") == 1024 ** 3
    assert redis_bytes("2k") == 2000 and redis_bytes(1048576) == 1048576 and redis_bytes("") is None
    with pytest.raises(AnsibleFilterError, match="not a Redis memory size"):
        redis_bytes("64 megs")


def test_env_files_round_trip_and_are_written_private(tmp_path):
    env = {"JWT_SECRET": "a=b c", "CORS_ORIGINS": "https://a.test,https://b.test", "EMPTY": ""}
    path = tmp_path / "api.env"
    env_file.write_private(str(path), env_file.render(env))
    assert env_file.read(str(path)) == env and os.stat(path).st_mode & 0o777 == 0o600
    assert env_file.parse("# comment\n\nBARE\nA=1\n") == {"A": "1"}
    with pytest.raises(ValueError, match="line breaks"):
        env_file.render({"A": "one\ntwo"})
    # named as roles/container_deploy names an env file: the same environment, the same file
    assert env_file.content_name(env) == env_file.content_name(dict(reversed(list(env.items()))))


def test_a_redis_in_a_restart_loop_is_handed_off_not_started_again():
    probe = healthy()
    probe["redis"]["container"].update(running=True, restarting=True, exit_code=1)
    probe["redis"]["ping"] = {"ok": False, "error": "cannot connect"}
    plan = login_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["redis down"] and not plan["fixes"]["redis_start"]
    assert "keeps restarting (exit code 1)" in plan["handoffs"][0]["detail"]


def test_without_a_deploy_env_file_to_restore_from_the_secret_is_handed_off():
    probe = healthy()
    probe["api"]["env"]["secret"] = {"set": False, "fingerprint": ""}
    probe["deploy"] = {"path": "/var/lib/vedfinance/deploys/vedfinance-api.json", "entries": 0, "env": None,
                       "problem": ""}
    plan = login_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["jwt secret missing"] and not plan["steps"]["act"]
    assert "cannot be restored here: no deploy on record in /var/lib/vedfinance/deploys/vedfinance-api.json" \
        in plan["handoffs"][0]["detail"]
