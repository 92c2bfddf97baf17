"""The p1-payment-failure runbook's decisions (vedrun.kit.payment_failure_plan, _env, _verify,
_said) and the reconciliation (module_utils/reconcile.py), from probes shaped as
vedrun.kit.payment_probe returns them. No Docker, no Stripe: the Stripe client against the
Stripe stand-in is tests/kit/test_stripe_api.py."""

from __future__ import annotations

import copy
import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.vedrun.kit.plugins.filter.login_failure import secret_fingerprint
from ansible_collections.vedrun.kit.plugins.filter.payment_failure import (
    payment_failure_env,
    payment_failure_plan,
    payment_failure_said,
    payment_failure_verify,
)
from ansible_collections.vedrun.kit.plugins.module_utils import reconcile

NONCE = "3c" * 16
KEY = "sk_test_theEnvironmentsOwnKey0001"
WHSEC = "whsec_theEnvironmentsOwnSecret01"
URL = "https://api.vedfinance.test/webhooks/stripe"
T = 1_790_000_000
SETTINGS = {
    "key_fingerprint": secret_fingerprint(KEY, NONCE),
    "webhook_secret_fingerprint": secret_fingerprint(WHSEC, NONCE),
    "mode": "test",
    "webhook_url": URL,
    "key_env": "STRIPE_SECRET_KEY",
    "secret_env": "STRIPE_WEBHOOK_SECRET",
    "endpoint_confirmed": "",
}
REJECTED = {
    "set": True,
    "type": "secret",
    "mode": "test",
    "ok": False,
    "status": 401,
    "error": {
        "status": 401,
        "type": "invalid_request_error",
        "code": "api_key_expired",
        "message": "Expired API Key provided: sk_test_****0009",
    },
}


def intent(n, status="succeeded", amount=1000, created=None):
    return {
        "id": f"pi_{n}",
        "amount": amount,
        "currency": "usd",
        "status": status,
        "created": created or T + n,
    }


def row(n, status="paid", amount=1000):
    return {
        "intent_id": f"pi_{n}",
        "amount": amount,
        "currency": "usd",
        "status": status,
        "created_at": f"2026-09-21T00:00:{n:02d}Z",
    }


def event(n, intent_n=None, kind="payment_intent.succeeded", pending=0):
    return {
        "id": f"evt_{n}",
        "type": kind,
        "created": T + n,
        "intent": f"pi_{intent_n or n}",
        "pending_webhooks": pending,
    }


def healthy():
    key = {"set": True, "fingerprint": secret_fingerprint(KEY, NONCE)}
    secret = {"set": True, "fingerprint": secret_fingerprint(WHSEC, NONCE)}
    accepted = {"set": True, "type": "secret", "mode": "test", "ok": True, "status": 200, "error": None}
    return copy.deepcopy(
        {
            "since": {"at": T, "iso": reconcile.iso(T), "source": "window"},
            "api": {
                "container": {"exists": True, "running": True},
                "env": {"key": key, "webhook_secret": secret},
            },
            "deploy": {"entries": 1, "env": {"key": key, "webhook_secret": secret}},
            "keys": {"running": accepted, "vault": dict(accepted)},
            "endpoints": {"data": [{"id": "we_1", "url": URL, "status": "enabled"}]},
            "events": {"undelivered": [], "handled": [event(1), event(2)], "complete": True},
            "signatures": {"failures": 0, "last": ""},
            "reconcile": reconcile.reconcile([intent(1), intent(2)], [row(1), row(2)]),
        }
    )


def faults(plan):
    return [f["fault"] for f in plan["faults"]]


def handed(plan):
    return [f["fault"] for f in plan["handoffs"]]


def test_a_healthy_system_has_no_fault_and_no_step():
    plan = payment_failure_plan(healthy(), SETTINGS)
    assert plan["faults"] == [] and plan["handoffs"] == [] and plan["confirm"] is None
    assert plan["steps"] == {"env": False, "endpoint": False, "resend": False, "act": False}
    assert payment_failure_verify(healthy(), plan, SETTINGS) == {"ok": True, "problems": []}


# -- the reconciliation ------------------------------------------------------------------------


def test_reconcile_finds_missing_behind_differs_and_orphans_both_ways():
    intents = [
        intent(1),
        intent(2),
        intent(3),
        intent(4, amount=500),
        intent(5, status="requires_confirmation"),
    ]
    rows = [row(1), row(2, status="pending"), row(4, amount=999), row(5, status="paid"), row(9)]
    report = reconcile.reconcile(
        intents, rows, {"pi_9": {"found": False, "message": "No such payment_intent"}}
    )
    assert [e["intent"] for e in report["missing"]] == ["pi_3"]
    assert [e["intent"] for e in report["behind"]] == ["pi_2"] and report["behind"][0]["expected"] == "paid"
    assert sorted(e["intent"] for e in report["differs"]) == ["pi_4", "pi_5"]
    assert [e["intent"] for e in report["orphans"]] == ["pi_9"] and "No such" in report["orphans"][0]["why"]
    assert report["checked"] == {"intents": 5, "rows": 5} and report["clean"] is False
    assert report["missing"][0]["amount"] == 1000 and report["missing"][0]["created"] == reconcile.iso(T + 3)


def test_a_row_made_before_t_or_not_looked_up_is_no_orphan():
    report = reconcile.reconcile([intent(1)], [row(1), row(7), row(8)], {"pi_7": {"found": True}})
    assert report["orphans"] == [] and report["clean"] is True


def test_a_failed_payment_is_failed_in_the_table_and_a_pending_one_may_stay_pending():
    failed = dict(intent(1, status="requires_payment_method"), last_payment_error={"code": "card_declined"})
    report = reconcile.reconcile(
        [failed, intent(2, status="requires_confirmation")],
        [row(1, status="failed"), row(2, status="pending")],
    )
    assert report["clean"] is True
    assert reconcile.reconcile([failed], [row(1, status="pending")])["behind"][0]["expected"] == "failed"


def test_resends_are_the_undelivered_and_the_newest_handled_event_of_each_lost_payment_oldest_first():
    report = reconcile.reconcile([intent(1), intent(2), intent(3)], [row(1, status="pending")])
    # pi_2 was declined, then paid: its succeeded event is the one that writes what Stripe has now
    events = [
        event(10, 1),
        event(11, 2),
        event(12, 2, "payment_intent.payment_failed"),
        event(13, 9),
        event(9, 1),
    ]
    undelivered = [event(20, 3, pending=1), event(5, 8, pending=1)]
    chosen = reconcile.events_to_resend(events, report, undelivered)
    assert [e["id"] for e in chosen] == ["evt_5", "evt_10", "evt_11", "evt_20"]
    assert reconcile.unexplained(report, chosen) == []
    assert sorted(e["intent"] for e in reconcile.unexplained(report, [])) == ["pi_1", "pi_2", "pi_3"]


# -- the key ----------------------------------------------------------------------------------


def test_a_rejected_key_is_replaced_by_the_vaults_when_stripe_accepts_that_one():
    probe = healthy()
    probe["api"]["env"]["key"]["fingerprint"] = "0" * 16
    probe["keys"]["running"] = REJECTED
    plan = payment_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["stripe key invalid"] and handed(plan) == []
    assert (
        "api_key_expired" in plan["faults"][0]["detail"]
        and "vault's key, accepted" in plan["faults"][0]["detail"]
    )
    assert plan["fixes"]["env"] == {"key": True, "webhook_secret": False} and plan["steps"]["act"]
    assert payment_failure_env(plan, KEY, WHSEC, SETTINGS) == {"STRIPE_SECRET_KEY": KEY}
    assert payment_failure_said(plan)[0].startswith("restore the Stripe key from the vault")


def test_a_key_is_never_rolled_when_the_vaults_is_rejected_too():
    probe = healthy()
    probe["api"]["env"]["key"]["fingerprint"] = "0" * 16
    probe["keys"]["running"] = REJECTED
    probe["keys"]["vault"] = REJECTED
    plan = payment_failure_plan(probe, SETTINGS)
    assert handed(plan) == ["stripe key invalid"] and not plan["steps"]["act"]
    assert "roll it in Stripe's Dashboard" in plan["handoffs"][0]["detail"]
    with pytest.raises(AnsibleFilterError, match="no value for STRIPE_SECRET_KEY"):
        payment_failure_env({"fixes": {"env": {"key": True, "webhook_secret": False}}}, "", "", SETTINGS)


@pytest.mark.parametrize(
    ("running", "why"),
    [
        ({"type": "restricted", "mode": "test"}, "a restricted key"),
        ({"type": "secret", "mode": "live"}, "a live-mode key, the environment is test mode"),
    ],
)
def test_an_accepted_key_that_is_not_the_vaults_or_of_the_wrong_mode_is_restored(running, why):
    probe = healthy()
    probe["api"]["env"]["key"]["fingerprint"] = "1" * 16
    probe["keys"]["running"].update(running)
    plan = payment_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["stripe key differs"] and why in plan["faults"][0]["detail"]
    assert plan["fixes"]["env"]["key"] is True


def test_the_vaults_key_of_the_wrong_mode_is_handed_off():
    probe = healthy()
    probe["api"]["env"]["key"]["fingerprint"] = "1" * 16
    probe["keys"]["running"] = REJECTED
    probe["keys"]["vault"]["mode"] = "live"
    plan = payment_failure_plan(probe, SETTINGS)
    assert handed(plan) == ["stripe key invalid"] and "live-mode key" in plan["handoffs"][0]["detail"]


def test_without_a_deploy_env_file_nothing_is_restored():
    probe = healthy()
    probe["api"]["env"]["key"]["fingerprint"] = "1" * 16
    probe["keys"]["running"] = REJECTED
    probe["deploy"] = {"env": None, "problem": "the newest deploy has no env file", "path": "/x"}
    plan = payment_failure_plan(probe, SETTINGS)
    assert handed(plan) == ["stripe key invalid"] and not plan["steps"]["env"]
    assert "redeploy the API" in plan["handoffs"][0]["detail"]


# -- the webhook secret and the endpoint --------------------------------------------------------


def test_a_wrong_webhook_secret_is_restored_and_the_undelivered_events_resent_oldest_first():
    probe = healthy()
    probe["api"]["env"]["webhook_secret"]["fingerprint"] = "2" * 16
    probe["signatures"] = {"failures": 4, "last": "No signatures found matching the expected signature"}
    probe["events"]["undelivered"] = [event(4, pending=1), event(3, pending=1)]
    probe["reconcile"] = reconcile.reconcile(
        [intent(n) for n in (1, 2, 3, 4)], [row(1), row(2), row(3, "pending"), row(4, "pending")]
    )
    plan = payment_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["webhook secret differs", "events undelivered", "payments missing"]
    assert "4 signature failure(s)" in plan["faults"][0]["detail"] and handed(plan) == []
    assert [e["id"] for e in plan["fixes"]["resend"]] == ["evt_3", "evt_4"] and plan["fixes"][
        "endpoint"
    ] == "we_1"
    assert payment_failure_env(plan, KEY, WHSEC, SETTINGS) == {"STRIPE_WEBHOOK_SECRET": WHSEC}


def test_signature_failures_with_the_vaults_secret_are_handed_off():
    probe = healthy()
    probe["signatures"] = {"failures": 2, "last": "No signatures found"}
    plan = payment_failure_plan(probe, SETTINGS)
    assert (
        handed(plan) == ["webhook signatures failing"] and "rolled at Stripe" in plan["handoffs"][0]["detail"]
    )


def test_a_disabled_endpoint_is_asked_about_and_nothing_is_resent_before_the_answer():
    probe = healthy()
    probe["endpoints"]["data"][0]["status"] = "disabled"
    probe["events"]["undelivered"] = [event(3, pending=1)]
    probe["reconcile"] = reconcile.reconcile([intent(1), intent(2), intent(3)], [row(1), row(2)])
    plan = payment_failure_plan(probe, SETTINGS)
    assert plan["confirm"]["variable"] == "payment_failure_enable_endpoint_confirmed"
    assert plan["confirm"]["value"] == "we_1" and "Re-enable" in plan["confirm"]["question"]
    assert not plan["steps"]["act"] and handed(plan) == []
    confirmed = payment_failure_plan(probe, dict(SETTINGS, endpoint_confirmed="we_1"))
    assert confirmed["confirm"] is None and confirmed["fixes"]["enable_endpoint"] == "we_1"
    assert [e["id"] for e in confirmed["fixes"]["resend"]] == ["evt_3"] and confirmed["steps"]["act"]
    assert "re-enable the webhook endpoint we_1 (confirmed)" in payment_failure_said(confirmed)


def test_no_endpoint_for_the_declared_url_is_handed_off_with_what_there_is():
    probe = healthy()
    probe["endpoints"]["data"][0]["url"] = "https://old.vedfinance.test/webhooks/stripe"
    probe["events"]["undelivered"] = [event(3, pending=1)]
    plan = payment_failure_plan(probe, SETTINGS)
    assert "webhook endpoint missing" in handed(plan) and "events undelivered" in handed(plan)
    assert "old.vedfinance.test" in plan["handoffs"][0]["detail"] and not plan["steps"]["act"]


# -- a database rollback ------------------------------------------------------------------------


def test_rows_lost_in_a_rollback_are_brought_back_by_resending_their_delivered_events():
    probe = healthy()
    probe["events"]["handled"] = [event(n) for n in range(1, 6)]
    probe["reconcile"] = reconcile.reconcile([intent(n) for n in range(1, 6)], [row(1), row(2)])
    plan = payment_failure_plan(probe, SETTINGS)
    assert faults(plan) == ["payments missing"] and handed(plan) == []
    assert [e["id"] for e in plan["fixes"]["resend"]] == ["evt_3", "evt_4", "evt_5"]
    after = healthy()
    after["reconcile"] = reconcile.reconcile([intent(n) for n in range(1, 6)], [row(n) for n in range(1, 6)])
    assert payment_failure_verify(after, plan, SETTINGS)["ok"]
    still = healthy()
    still["reconcile"] = reconcile.reconcile([intent(n) for n in range(1, 6)], [row(1), row(2), row(3)])
    verdict = payment_failure_verify(still, plan, SETTINGS)
    assert not verdict["ok"] and "2 payment(s) still missing" in verdict["problems"][0]


def test_what_no_resend_can_bring_back_and_orphan_rows_are_reported_never_written():
    probe = healthy()
    probe["events"]["handled"] = [event(1)]
    probe["reconcile"] = reconcile.reconcile(
        [intent(1), intent(2)], [row(9)], {"pi_9": {"found": False, "message": "No such payment_intent"}}
    )
    plan = payment_failure_plan(probe, SETTINGS)
    assert "payments unreconciled" in handed(plan)
    # the incident record itself names them, with amount and time (the hand-off's detail)
    said = next(f["detail"] for f in plan["handoffs"] if f["fault"] == "payments unreconciled")
    two, nine = plan["report"]["unexplained"][0], plan["report"]["orphans"][0]
    assert f"pi_2 {two['amount']} {two['currency']} {two['created']} (no row for this intent)" in said
    assert f"pi_9 {nine['amount']} {nine['currency']}" in said and "No such" in said
    assert [e["intent"] for e in plan["report"]["unexplained"]] == ["pi_2"]
    assert [e["intent"] for e in plan["report"]["orphans"]] == ["pi_9"]
    assert [e["id"] for e in plan["fixes"]["resend"]] == ["evt_1"]
    # verify does not fail on what was already reported as no resend's to fix
    after = healthy()
    after["reconcile"] = reconcile.reconcile(
        [intent(1), intent(2)], [row(1), row(9)], {"pi_9": {"found": False}}
    )
    assert payment_failure_verify(after, plan, SETTINGS)["ok"]


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "prod"}, "declare test or live"),
        ({"webhook_url": ""}, "declare the URL of the API's webhook endpoint"),
    ],
)
def test_bad_settings_name_the_setting_and_the_fix(change, message):
    with pytest.raises(AnsibleFilterError, match=message):
        payment_failure_plan(healthy(), dict(SETTINGS, **change))


# -- T: given, the last restore on record, or the window ------------------------------------------


def since_params(tmp_path, since=0, restores=None, window=86400):
    path = ""
    if restores is not None:
        path = str(tmp_path / "restores.json")
        (tmp_path / "restores.json").write_text(
            restores if isinstance(restores, str) else json.dumps(restores)
        )
    return {"since": since, "restores": path, "window_seconds": window}


def test_t_is_the_earliest_restore_point_on_record_within_30_days(tmp_path):
    from ansible_collections.vedrun.kit.plugins.modules.payment_probe import find_since

    now = T + 40 * 86400
    # a restore to an old backup, then a later one to a newer backup: both lost writes are covered
    restores = [
        {"recovery_point": reconcile.iso(T), "restored_at": reconcile.iso(T + 900), "backup": "too old"},
        {"recovery_point": reconcile.iso(T + 15 * 86400), "backup": "first"},
        {"recovery_point": reconcile.iso(T + 20 * 86400), "backup": "last"},
    ]
    since = find_since(since_params(tmp_path, restores=restores), now)
    assert (
        since["source"] == "restore"
        and since["at"] == T + 15 * 86400
        and since["restore"]["backup"] == "first"
    )


def test_t_given_wins_and_t_never_goes_past_stripes_30_days_of_events(tmp_path):
    from ansible_collections.vedrun.kit.plugins.modules.payment_probe import find_since

    now = T + 40 * 86400
    given = find_since(since_params(tmp_path, since=T + 39 * 86400, restores=[]), now)
    assert given["source"] == "given" and given["at"] == T + 39 * 86400 and not given["clamped"]
    old = find_since(since_params(tmp_path, since=T), now)
    assert old["clamped"] and old["at"] == now - 30 * 86400 + 3600
    # a restore older than 30 days is not T any more; a broken record is no record
    stale = find_since(since_params(tmp_path, restores=[{"recovery_point": reconcile.iso(T)}]), now)
    assert stale["source"] == "window" and stale["at"] == now - 86400
    assert find_since(since_params(tmp_path, restores="{not json"), now)["source"] == "window"


def test_stripe_unreachable_is_said_only_when_stripe_did_not_answer():
    probe = healthy()
    silent = {
        "set": True,
        "ok": False,
        "status": None,
        "error": {
            "status": None,
            "type": "connection_error",
            "code": "",
            "message": "cannot reach https://api.stripe.com: timed out",
        },
    }
    probe["keys"] = {"running": silent, "vault": dict(silent)}
    assert "stripe unreachable" in handed(payment_failure_plan(probe, SETTINGS))
    probe["keys"] = {"running": REJECTED, "vault": dict(REJECTED)}
    assert "stripe unreachable" not in faults(payment_failure_plan(probe, SETTINGS))


def test_the_vaults_key_is_said_rejected_without_too_when_the_apis_own_works():
    probe = healthy()
    probe["api"]["env"]["key"]["fingerprint"] = "1" * 16
    probe["keys"]["vault"] = REJECTED
    plan = payment_failure_plan(probe, SETTINGS)
    assert handed(plan) == ["stripe key differs"]
    assert "the vault's key is rejected (HTTP 401" in plan["handoffs"][0]["detail"]


def test_nothing_is_resent_to_an_api_that_is_not_there():
    probe = healthy()
    probe["api"] = {"container": {"exists": False}, "env": None}
    probe["events"]["undelivered"] = [event(3, pending=1)]
    plan = payment_failure_plan(probe, SETTINGS)
    assert {"api missing", "events undelivered"} <= set(handed(plan)) and not plan["steps"]["act"]
    assert "nothing can record them" in json.dumps(plan["handoffs"])


def test_the_incident_names_a_bounded_number_of_rows_and_says_how_many_more():
    probe = healthy()
    probe["reconcile"] = reconcile.reconcile([intent(n) for n in range(1, 10)], [])
    plan = payment_failure_plan(probe, SETTINGS)
    said = next(f["detail"] for f in plan["handoffs"] if f["fault"] == "payments unreconciled")
    more = len(plan["report"]["unexplained"]) - 5
    assert more > 0 and said.count("(no row for this intent)") == 5
    assert f"and {more} more (all in reconciliation.json)" in said


def test_a_reconciliation_cut_short_is_said():
    probe = healthy()
    probe["reconcile"]["complete"] = False
    probe["reconcile"]["skipped_lookups"] = ["pi_a", "pi_b"]
    plan = payment_failure_plan(probe, SETTINGS)
    assert plan["report"]["complete"] is False
    assert any("cut short" in n and "2 row(s) not looked up" in n for n in plan["notes"])
