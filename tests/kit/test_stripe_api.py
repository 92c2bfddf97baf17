"""The kit's Stripe client (module_utils/stripe_api.py) against the lab's Stripe stand-in, run
here as a process on 127.0.0.1 (lab/images/stripe, Flask on waitress from the venv; no Docker).
The stand-in answers as Stripe does where the client looks: keys accepted, unknown, expired or
restricted; lists paged with has_more and starting_after; the resend of an event."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from ansible_collections.vedrun.kit.plugins.module_utils import stripe_api

REPO = Path(__file__).resolve().parents[2]
KEY = "sk_test_kitClientTestKey000000wxyz"  # made up for this test
WHSEC = "whsec_kitClientTestSecret00000"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def standin():
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO / "lab/images/stripe"),
        "STRIPE_PORT": str(port),
        "STRIPE_SECRET_KEY": KEY,
        "STRIPE_WEBHOOK_SECRET": WHSEC,
        # an endpoint nobody listens on: deliveries fail, events stay undelivered
        "STRIPE_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/webhooks/stripe",
        "STRIPE_WEBHOOK_RETRIES": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "stripe_standin"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            with OPENER.open(base + "/_standin/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(
                    "the stand-in did not start: " + proc.stderr.read().decode()[-2000:]
                ) from None
            time.sleep(0.05)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def admin(base, path, body):
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with OPENER.open(req, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("sk_live_abc", ("secret", "live")),
        ("sk_test_abc", ("secret", "test")),
        ("rk_test_abc", ("restricted", "test")),
        ("pk_test_abc", ("unknown", "unknown")),
        ("", ("unknown", "unknown")),
    ],
)
def test_a_keys_type_and_mode_come_from_its_prefix(key, kind):
    assert stripe_api.key_kind(key) == kind


def test_an_accepted_key(standin):
    check = stripe_api.check_key(standin, KEY, 5)
    assert check["ok"] and check["status"] == 200 and check["mode"] == "test" and check["error"] is None


def test_an_unknown_key_is_rejected_in_stripes_words_without_the_key(standin):
    wrong = "sk_test_notTheRightKeyAtAll00001234"
    check = stripe_api.check_key(standin, wrong, 5)
    assert not check["ok"] and check["status"] == 401
    assert check["error"]["message"].startswith("Invalid API Key provided: sk_test_****1234")
    assert wrong not in json.dumps(check)


def test_an_expired_key_says_api_key_expired(standin):
    added = admin(standin, "/_standin/api_keys", {"type": "secret"})
    admin(standin, f"/_standin/api_keys/{added['id']}/expire", {})
    check = stripe_api.check_key(standin, added["secret"], 5)
    assert check["status"] == 401 and check["error"]["code"] == "api_key_expired"


def test_no_key_and_no_stripe_are_errors_not_exceptions():
    assert stripe_api.check_key("http://127.0.0.1:9", "", 1)["error"]["message"] == "no key"
    down = stripe_api.check_key(f"http://127.0.0.1:{free_port()}", KEY, 1)
    assert not down["ok"] and down["status"] is None and "cannot reach" in down["error"]["message"]


def test_lists_are_paged_to_the_end_and_say_when_cut_short(standin):
    since = int(time.time()) - 5
    for n in range(130):
        admin(standin, "/_standin/payment_intents", {"amount": 100 + n, "currency": "usd", "deliver": False})
    client = stripe_api.Stripe(standin, KEY, 10)
    intents, complete = client.list_all("/v1/payment_intents", {"created[gte]": since})
    assert complete and len(intents) == 130 and len({i["id"] for i in intents}) == 130
    assert client.calls == 2  # 100 + 30
    cut, complete = client.list_all("/v1/payment_intents", {"created[gte]": since}, max_items=100)
    assert not complete and len(cut) == 100
    undelivered, _ = client.list_all("/v1/events", {"delivery_success": "false", "created[gte]": since})
    assert len(undelivered) == 130 and all(e["pending_webhooks"] == 1 for e in undelivered)


def test_an_event_is_resent_to_an_endpoint(standin):
    client = stripe_api.Stripe(standin, KEY, 10)
    made = admin(standin, "/_standin/payment_intents", {"amount": 4200, "currency": "eur", "deliver": False})
    endpoint = client.get("/v1/webhook_endpoints")["data"][0]
    resent = client.post(f"/v1/events/{made['event']['id']}/retry", {"webhook_endpoint": endpoint["id"]})
    assert resent["id"] == made["event"]["id"]
    with pytest.raises(stripe_api.StripeError) as error:
        client.post(f"/v1/events/{made['event']['id']}/retry", {"webhook_endpoint": "we_nope"})
    assert error.value.status == 400 and error.value.code == "resource_missing"


def test_rows_not_listed_are_looked_up_one_by_one_and_hostile_ids_are_never_sent(standin):
    from ansible_collections.vedrun.kit.plugins.modules import payment_probe

    client = stripe_api.Stripe(standin, KEY, 10)
    made = admin(standin, "/_standin/payment_intents", {"amount": 700, "currency": "usd", "deliver": False})
    known = made["payment_intent"]["id"]
    rows = [
        {"intent_id": known},
        {"intent_id": "pi_NoSuchIntent000"},
        {"intent_id": "pi_x/../../v1/balance"},
        {"intent_id": "pi_Another0001"},
    ]
    seen = payment_probe.look_up(client, rows, limit=2)
    assert seen[known] == {"found": True, "message": ""}
    assert (
        seen["pi_NoSuchIntent000"]["found"] is False
        and "No such payment_intent" in seen["pi_NoSuchIntent000"]["message"]
    )
    assert seen["pi_x/../../v1/balance"] == {"found": False, "message": "not a PaymentIntent id"}
    assert seen["_skipped"] == ["pi_Another0001"] and client.calls == 2


def admin_get(base, path):
    with OPENER.open(base + path, timeout=10) as answer:
        return json.loads(answer.read())


def test_stripe_fix_re_enables_the_endpoint_then_resends_oldest_first(standin, run_task):
    client = stripe_api.Stripe(standin, KEY, 10)
    endpoint = client.get("/v1/webhook_endpoints")["data"][0]["id"]
    client.post(f"/v1/webhook_endpoints/{endpoint}", {"disabled": "true"})
    events = [
        admin(standin, "/_standin/payment_intents", {"amount": 300 + n, "currency": "usd", "deliver": False})[
            "event"
        ]["id"]
        for n in range(3)
    ]
    task = {
        "vedrun.kit.stripe_fix": {
            "stripe_api_base": standin,
            "key": KEY,
            "endpoint": endpoint,
            "enable_endpoint": endpoint,
            "resend": events,
        }
    }
    rc, result, out = run_task(task, check=True)
    assert rc == 0 and result["changed"] and result["enabled"], out
    assert (
        client.get(f"/v1/webhook_endpoints/{endpoint}")["status"] == "disabled"
    )  # check mode changed nothing
    rc, result, out = run_task(task)
    assert rc == 0 and result["enabled"] and [r["ok"] for r in result["resent"]] == [True] * 3, out
    assert KEY not in out
    assert client.get(f"/v1/webhook_endpoints/{endpoint}")["status"] == "enabled"
    resends = [
        d
        for d in admin_get(standin, f"/_standin/deliveries?endpoint={endpoint}")["data"]
        if d["trigger"] == "resend" and d["event"] in events
    ]
    assert [d["event"] for d in resends][:3] == events  # delivered in the order asked, oldest first


def test_stripe_fix_refuses_what_is_not_a_stripe_id_before_sending_anything(standin, run_task):
    rc, result, out = run_task(
        {
            "vedrun.kit.stripe_fix": {
                "stripe_api_base": standin,
                "key": KEY,
                "endpoint": "we_1",
                "resend": ["evt_1", "evt_2/../../x"],
            }
        }
    )
    assert result["failed"] and "not Stripe ids: 'evt_2/../../x'" in result["msg"], (rc, out)
