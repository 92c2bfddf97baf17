"""Tests of the Stripe stand-in over real HTTP: the stand-in runs as a subprocess on 127.0.0.1 (a free
port in 12400-12499) and delivers its webhooks to a small http.server receiver in the same range.

    /work/main/.venv/bin/python -m pytest -q lab/images/stripe/test_standin.py

The stand-in needs Flask and waitress, and one test the Python `stripe` SDK: the venv of `make test`
has them (pyproject.toml's dev extras); the stand-in runs on this test's own interpreter.
No Docker, and no address but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
KEY = "sk_test_standinTestKey0000abcd"  # a made-up test key
WHSEC = "whsec_standinTestSecret0000"  # a made-up webhook secret
PORTS = range(12400, 12500)
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never via a proxy


# The stand-in runs on this interpreter: `make test` installs Flask, waitress and the `stripe` SDK
# into the venv (pyproject.toml, dev extras), so nothing here is ever skipped for want of them.
PYTHON = SDK_PYTHON = sys.executable

_next_port = [PORTS.start]
_port_lock = threading.Lock()


def free_port() -> int:
    """The next port in 12400-12499 that nothing listens on (a new one for each server in this run)."""
    with _port_lock:
        for _ in range(len(PORTS)):
            port = _next_port[0]
            _next_port[0] = port + 1 if port + 1 < PORTS.stop else PORTS.start
            with socket.socket() as s:
                # as the servers bind: a port only in TIME_WAIT from an earlier run is free for them
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port in 12400-12499")


def wait_until(what: str, fn, timeout: float = 5.0, every: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def verify(body: bytes, header: str, secret: str, tolerance: int = 300) -> bool:
    """Stripe's check: some v1 is hex HMAC-SHA256(secret, "<t>.<body>") and t is recent."""
    items = [part.split("=", 1) for part in header.split(",")]
    t = int(dict(items)["t"])
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - t) <= tolerance
    return fresh and any(k == "v1" and hmac.compare_digest(v, expected) for k, v in items)


class Receiver:
    """The webhook receiver: records every POST; answers with queued statuses, then `default`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhooks/stripe"
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.default = 200
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.cond:
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "body": body,
                            "event": json.loads(body),
                            "t": time.monotonic(),
                            "answered": status,
                        }
                    )
                    receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"received": true}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[dict]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError(f"the receiver got {len(self.requests)} webhooks, expected {n}")
            return list(self.requests)

    def event_ids(self) -> list[str]:
        with self.cond:
            return [r["event"]["id"] for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class StandIn:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="stripe-standin-", suffix=".log", delete=False)  # noqa: SIM115
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(HERE),
            "PYTHONUNBUFFERED": "1",
            "STRIPE_PORT": str(self.port),
            **env,
        }
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "stripe_standin"], env=full_env, stdout=self.log, stderr=subprocess.STDOUT
        )
        try:
            wait_until("the stand-in's /_standin/health", self._healthy, timeout=15, every=0.05)
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the stand-in exited with {self.proc.returncode}:\n{self.output()}")
        try:
            return self.request("GET", "/_standin/health", key=None)[0] == 200
        except OSError:
            return False

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def request(self, method, path, *, key=KEY, form=None, query=None, json_body=None):
        """(status, parsed JSON body, headers). `form` and `query` take dicts or lists of pairs."""
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {}
        data = None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - loopback
        try:
            with OPENER.open(req, timeout=15) as resp:
                status, raw, hdrs = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as exc:
            status, raw, hdrs = exc.code, exc.read(), exc.headers
        return status, (json.loads(raw) if raw else None), hdrs

    def ok(self, method, path, **kw):
        status, body, _ = self.request(method, path, **kw)
        assert 200 <= status < 300, (method, path, status, body)
        return body

    def admin(self, method, path, body=None, expect=(200, 201, 202)):
        status, data, _ = self.request(method, path, key=None, json_body=body if body is not None else {})
        assert status in expect, (method, path, status, data)
        return data

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


@pytest.fixture
def lab():
    """start(receiver=True, **env) -> (stand-in, receiver or None); everything stops after the test."""
    started: list = []

    def start(receiver: bool = True, **env):
        hook = Receiver() if receiver else None
        if hook:
            started.append(hook)
        settings = {
            "STRIPE_SECRET_KEY": KEY,
            "STRIPE_WEBHOOK_SECRET": WHSEC,
            "STRIPE_WEBHOOK_RETRIES": "2",
            "STRIPE_WEBHOOK_RETRY_INTERVAL": "0.05",
            "STRIPE_WEBHOOK_RETRY_MAX_INTERVAL": "0.2",
            **({"STRIPE_WEBHOOK_URL": hook.url} if hook else {}),
            **{k: str(v) for k, v in env.items()},
        }
        standin = StandIn(settings)
        started.append(standin)
        return standin, hook

    try:
        yield start
    finally:
        for thing in reversed(started):
            thing.stop() if isinstance(thing, StandIn) else thing.close()


def only_endpoint(s: StandIn) -> dict:
    listed = s.ok("GET", "/v1/webhook_endpoints")
    assert len(listed["data"]) == 1, listed
    return listed["data"][0]


def pay(s: StandIn, amount: int = 1000, **extra) -> dict:
    """A payment 'as if a customer paid' at Stripe: returns {"payment_intent", "event"}."""
    return s.admin("POST", "/_standin/payment_intents", {"amount": amount, "currency": "usd", **extra})


# -- what the lab API relies on -------------------------------------------------------------------
def test_lab_api_contract_unchanged(lab):
    s, hook = lab()
    status, body, headers = s.request("GET", "/v1/events", key="sk_test_wrongwrongwrong9876")
    assert status == 401
    assert body == {
        "error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****9876"}
    }
    assert headers["WWW-Authenticate"] == 'Bearer realm="Stripe"'
    status, body, _ = s.request("GET", "/v1/events", key=None)
    assert status == 401
    assert body["error"]["message"].startswith("You did not provide an API key.")

    intent = s.ok(
        "POST",
        "/v1/payment_intents",
        form={"amount": 1999, "currency": "USD", "receipt_email": "a@b.test", "metadata[email]": "a@b.test"},
    )
    assert re.fullmatch(r"pi_\w{24}", intent["id"])
    assert intent["client_secret"].startswith(intent["id"] + "_secret_")
    assert (intent["status"], intent["amount_received"], intent["currency"]) == ("succeeded", 1999, "usd")
    assert intent["livemode"] is False
    assert intent["metadata"] == {"email": "a@b.test"}
    assert s.ok("GET", f"/v1/payment_intents/{intent['id']}")["receipt_email"] == "a@b.test"
    got = hook.wait_for(1)[0]
    assert got["path"] == "/webhooks/stripe"
    assert got["headers"]["User-Agent"] == "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
    assert verify(got["body"], got["headers"]["Stripe-Signature"], WHSEC)

    # the receiver has it; the stand-in counts it delivered once the 200 is back
    wait_until("the delivery recorded", lambda: s.ok("GET", "/v1/events")["data"][0]["pending_webhooks"] == 0)
    events = s.ok("GET", "/v1/events", query={"type": "payment_intent.succeeded", "limit": 100})
    event = next(e for e in events["data"] if e["data"]["object"]["id"] == intent["id"])
    assert event["api_version"] == "2022-11-15"
    assert event["pending_webhooks"] == 0  # delivered
    status, redelivered, _ = s.request("POST", f"/_standin/events/{event['id']}/redeliver?wait=1", key=None)
    assert status == 200 and redelivered["delivered"] is True
    assert redelivered["attempts"][-1]["status"] == 200
    assert s.request("POST", "/_standin/events/evt_nope/redeliver", key=None)[0] == 404

    status, body, _ = s.request("POST", "/v1/payment_intents", form={"currency": "usd"})
    assert status == 400
    assert body["error"]["code"] == "parameter_missing" and body["error"]["param"] == "amount"
    status, body, _ = s.request("POST", f"/v1/payment_intents/{intent['id']}/confirm")
    assert status == 400 and body["error"]["code"] == "payment_intent_unexpected_state"
    health = s.ok("GET", "/_standin/health", key=None)
    assert (health["status"], health["webhook_url"], health["intents"]) == ("ok", hook.url, 1)


# -- API keys ---------------------------------------------------------------------------------------
def test_expired_key(lab):
    s, _ = lab(receiver=False)
    keys = s.admin("GET", "/_standin/api_keys")["data"]
    assert [(k["id"], k["masked"], k["status"]) for k in keys] == [
        ("key_default", "sk_test_****abcd", "active")
    ]
    assert "secret" not in keys[0]
    s.admin("POST", "/_standin/api_keys/key_default/expire")
    status, body, headers = s.request("GET", "/v1/payment_intents")
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "api_key_expired"
    assert body["error"]["message"] == "Expired API Key provided: sk_test_****abcd"
    assert headers["WWW-Authenticate"] == 'Bearer realm="Stripe"'
    assert s.admin("GET", "/_standin/api_keys")["data"][0]["status"] == "expired"
    s.admin("POST", "/_standin/api_keys/key_default/restore")
    s.ok("GET", "/v1/payment_intents")
    # expiring later: fine until the stand-in's clock passes the moment
    assert s.admin("POST", "/_standin/api_keys/key_default/expire", {"in": 600})["status"] == "expiring"
    s.ok("GET", "/v1/payment_intents")
    s.admin("POST", "/_standin/clock", {"advance": 601})
    assert s.request("GET", "/v1/payment_intents")[1]["error"]["code"] == "api_key_expired"
    s.admin("DELETE", "/_standin/api_keys/key_default")
    status, body, _ = s.request("GET", "/v1/payment_intents")
    assert status == 401
    assert body["error"] == {
        "type": "invalid_request_error",
        "message": "Invalid API Key provided: sk_test_****abcd",
    }


def test_rolled_key(lab):
    s, _ = lab(receiver=False)
    rolled = s.admin("POST", "/_standin/api_keys/key_default/roll")
    new_key = rolled["secret"]
    assert re.fullmatch(r"sk_test_\w{32}", new_key) and new_key != KEY
    assert rolled["rolled"]["rolled_to"] == rolled["id"]
    status, body, _ = s.request("GET", "/v1/events")
    assert status == 401
    assert body["error"]["code"] == "api_key_expired"
    assert body["error"]["message"] == "Expired API Key provided: sk_test_****abcd"
    assert s.request("GET", "/v1/events", key=new_key)[0] == 200
    # rolled with a grace period: both keys work until the old one expires
    newer = s.admin("POST", f"/_standin/api_keys/{rolled['id']}/roll", {"expires_in": 3600})["secret"]
    assert s.request("GET", "/v1/events", key=new_key)[0] == 200
    assert s.request("GET", "/v1/events", key=newer)[0] == 200
    s.admin("POST", "/_standin/clock", {"advance": 3601})
    status, body, _ = s.request("GET", "/v1/events", key=new_key)
    assert (status, body["error"]["code"]) == (401, "api_key_expired")
    assert body["error"]["message"] == f"Expired API Key provided: sk_test_****{new_key[-4:]}"
    assert s.request("GET", "/v1/events", key=newer)[0] == 200
    s.admin("POST", "/_standin/api_keys/key_default/roll", expect=(409,))  # expired: nothing to roll


def test_restricted_key(lab):
    s, _ = lab(receiver=False)
    created = s.admin(
        "POST",
        "/_standin/api_keys",
        {"type": "restricted", "permissions": {"events": "read", "payment_intents": "read"}},
    )
    rk = created["secret"]
    assert re.fullmatch(r"rk_test_\w{32}", rk)
    assert created["permissions"] == {
        "payment_intents": "read",
        "events": "read",
        "webhook_endpoints": "none",
    }
    pay(s)
    assert len(s.ok("GET", "/v1/events", key=rk)["data"]) == 1
    assert len(s.ok("GET", "/v1/payment_intents", key=rk)["data"]) == 1

    def denied(method, path, permission, **kw):
        status, body, _ = s.request(method, path, key=rk, **kw)
        assert status == 403, body
        assert body == {
            "error": {
                "type": "invalid_request_error",
                "message": f"The provided key 'rk_test_****{rk[-6:]}' does not have the required permissions "
                "for this endpoint on account 'acct_1VedrunLabStandin'. Having the "
                f"'{permission}' permission would allow this request to continue.",
            }
        }

    denied("POST", "/v1/payment_intents", "rak_payment_intent_write", form={"amount": 5, "currency": "usd"})
    denied("GET", "/v1/webhook_endpoints", "rak_webhook_read")
    denied("POST", "/v1/events/evt_x/retry", "rak_webhook_write", form={"webhook_endpoint": "we_x"})
    assert s.ok("GET", "/_standin/health", key=None)["intents"] == 1  # the denied create made nothing
    writer = s.admin("POST", "/_standin/api_keys", {"permissions": {"payment_intents": "write"}})["secret"]
    assert (
        s.request("POST", "/v1/payment_intents", key=writer, form={"amount": 5, "currency": "usd"})[0] == 200
    )
    assert s.request("GET", "/v1/payment_intents", key=writer)[0] == 200  # write implies read
    assert s.request("GET", "/v1/events", key=writer)[0] == 403
    s.admin("POST", "/_standin/api_keys", {"permissions": {"events": "admin"}}, expect=(400,))
    s.admin("POST", "/_standin/api_keys", {"permissions": {"charges": "read"}}, expect=(400,))


def test_livemode_follows_the_key(lab):
    s, hook = lab()
    live = s.admin("POST", "/_standin/api_keys", {"livemode": True})["secret"]
    assert live.startswith("sk_live_")
    live_pi = s.ok("POST", "/v1/payment_intents", key=live, form={"amount": 700, "currency": "usd"})
    test_pi = s.ok("POST", "/v1/payment_intents", form={"amount": 300, "currency": "usd"})
    assert (live_pi["livemode"], test_pi["livemode"]) == (True, False)
    live_events = s.ok("GET", "/v1/events", key=live)["data"]
    assert [(e["livemode"], e["data"]["object"]["id"]) for e in live_events] == [(True, live_pi["id"])]
    assert live_events[0]["pending_webhooks"] == 0  # the only endpoint is a test-mode one
    assert [i["id"] for i in s.ok("GET", "/v1/payment_intents")["data"]] == [test_pi["id"]]
    status, body, _ = s.request("GET", f"/v1/payment_intents/{live_pi['id']}")
    assert status == 404
    assert body["error"]["code"] == "resource_missing"
    assert body["error"]["message"] == (
        f"No such payment_intent: '{live_pi['id']}'; a similar object exists in live mode, but a test mode "
        "key was used to make this request."
    )
    assert s.ok("GET", "/v1/webhook_endpoints", key=live)["data"] == []
    hook.wait_for(1)
    time.sleep(0.3)
    assert [r["event"]["data"]["object"]["id"] for r in hook.requests] == [test_pi["id"]]


# -- webhook endpoints --------------------------------------------------------------------------
def test_webhook_endpoint_objects(lab):
    s, hook = lab()
    we = only_endpoint(s)
    assert list(we) == [
        "id", "object", "api_version", "application", "created", "description", "enabled_events",
        "livemode", "metadata", "status", "url",
    ]  # fmt: skip
    assert re.fullmatch(r"we_\w{24}", we["id"])
    assert (we["object"], we["status"], we["url"], we["enabled_events"], we["livemode"]) == (
        "webhook_endpoint", "enabled", hook.url, ["*"], False,
    )  # fmt: skip
    assert abs(we["created"] - time.time()) < 60
    assert s.ok("GET", f"/v1/webhook_endpoints/{we['id']}") == we
    assert s.admin("GET", f"/_standin/webhook_endpoints/{we['id']}/secret")["secret"] == WHSEC

    off = s.ok("POST", f"/v1/webhook_endpoints/{we['id']}", form={"disabled": "true"})
    assert off["status"] == "disabled" and "secret" not in off
    assert (
        s.ok("POST", f"/v1/webhook_endpoints/{we['id']}", form={"disabled": "false"})["status"] == "enabled"
    )
    status, body, _ = s.request("POST", f"/v1/webhook_endpoints/{we['id']}", form={"disabled": "maybe"})
    assert (status, body["error"]["message"], body["error"]["param"]) == (
        400,
        "Invalid boolean: maybe",
        "disabled",
    )
    status, body, _ = s.request("POST", f"/v1/webhook_endpoints/{we['id']}", form={"secret": "whsec_x"})
    assert (status, body["error"]["code"]) == (400, "parameter_unknown")
    assert body["error"]["message"] == "Received unknown parameter: secret"
    status, body, _ = s.request(
        "POST", f"/v1/webhook_endpoints/{we['id']}", form={"url": "https://example.com/h"}
    )
    assert (status, body["error"]["param"]) == (400, "url")
    status, body, _ = s.request("GET", "/v1/webhook_endpoints/we_missing")
    assert status == 404
    assert body["error"]["message"] == "No such webhook endpoint: 'we_missing'"
    assert body["error"]["code"] == "resource_missing"

    # a second endpoint, for failed payments only; `secret` is shown on creation and never again
    other = Receiver()
    try:
        made = s.ok(
            "POST",
            "/v1/webhook_endpoints",
            form={
                "url": other.url,
                "enabled_events[]": "payment_intent.payment_failed",
                "description": "ops",
            },
        )
        assert made["secret"].startswith("whsec_") and made["status"] == "enabled"
        assert "secret" not in s.ok("GET", f"/v1/webhook_endpoints/{made['id']}")
        assert [e["id"] for e in s.ok("GET", "/v1/webhook_endpoints")["data"]] == [made["id"], we["id"]]
        ok_event = pay(s)["event"]
        failed_event = pay(s, outcome="failed")["event"]
        assert (ok_event["pending_webhooks"], failed_event["pending_webhooks"]) == (1, 2)
        got = other.wait_for(1)[0]
        assert got["event"]["id"] == failed_event["id"]
        assert verify(got["body"], got["headers"]["Stripe-Signature"], made["secret"])
        assert not verify(got["body"], got["headers"]["Stripe-Signature"], WHSEC)
        hook.wait_for(2)
        wait_until(
            "both delivered", lambda: s.ok("GET", f"/v1/events/{failed_event['id']}")["pending_webhooks"] == 0
        )
        assert other.event_ids() == [failed_event["id"]]
        # moved: the first endpoint's events now go to the other receiver
        s.ok("POST", f"/v1/webhook_endpoints/{we['id']}", form={"url": other.url})
        third = pay(s)["event"]
        other.wait_for(2)
        assert other.event_ids() == [failed_event["id"], third["id"]]
        deleted = s.ok("DELETE", f"/v1/webhook_endpoints/{made['id']}")
        assert deleted == {"id": made["id"], "object": "webhook_endpoint", "deleted": True}
        assert [e["id"] for e in s.ok("GET", "/v1/webhook_endpoints")["data"]] == [we["id"]]
    finally:
        other.close()


def test_signature_with_the_endpoints_current_secret(lab):
    s, hook = lab()
    we = only_endpoint(s)
    pay(s)
    first = hook.wait_for(1)[0]
    header = first["headers"]["Stripe-Signature"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify(first["body"], header, WHSEC)
    assert not verify(first["body"], header, "whsec_wrong")
    assert not verify(first["body"].replace(b"1000", b"1001"), header, WHSEC)

    rotated = s.admin("POST", f"/_standin/webhook_endpoints/{we['id']}/secret", {"secret": "whsec_rotated1"})
    assert rotated["secret"] == "whsec_rotated1"  # noqa: S105 - the test's own value
    assert len(rotated["secrets"]) == 1
    pay(s)
    second = hook.wait_for(2)[1]
    assert verify(second["body"], second["headers"]["Stripe-Signature"], "whsec_rotated1")
    assert not verify(second["body"], second["headers"]["Stripe-Signature"], WHSEC)

    # rolled with an overlap: one v1 per live secret until the old one expires
    s.admin(
        "POST",
        f"/_standin/webhook_endpoints/{we['id']}/secret",
        {"secret": "whsec_rotated2", "expires_in": 600},
    )
    pay(s)
    third = hook.wait_for(3)[2]
    assert third["headers"]["Stripe-Signature"].count("v1=") == 2
    assert verify(third["body"], third["headers"]["Stripe-Signature"], "whsec_rotated2")
    assert verify(third["body"], third["headers"]["Stripe-Signature"], "whsec_rotated1")
    s.admin("POST", "/_standin/clock", {"advance": 601})
    pay(s)
    fourth = hook.wait_for(4)[3]
    assert fourth["headers"]["Stripe-Signature"].count("v1=") == 1
    assert not verify(fourth["body"], fourth["headers"]["Stripe-Signature"], "whsec_rotated1")


def test_disabled_endpoint_pending_then_resent_oldest_first(lab):
    s, hook = lab()
    we = only_endpoint(s)
    delivered = pay(s)["event"]
    hook.wait_for(1)
    s.ok("POST", f"/v1/webhook_endpoints/{we['id']}", form={"disabled": "true"})
    missed = []
    for i in range(3):
        s.admin("POST", "/_standin/clock", {"advance": 10})
        missed.append(pay(s, amount=100 + i)["event"]["id"])
    time.sleep(0.4)
    assert hook.event_ids() == [delivered["id"]]  # nothing sent while disabled
    assert all(d["event"] == delivered["id"] for d in s.admin("GET", "/_standin/deliveries")["data"])
    for evt in missed:
        assert s.ok("GET", f"/v1/events/{evt}")["pending_webhooks"] == 1
    assert s.ok("GET", f"/v1/events/{delivered['id']}")["pending_webhooks"] == 0
    failing = s.ok("GET", "/v1/events", query={"delivery_success": "false"})
    assert [e["id"] for e in failing["data"]] == missed[::-1]  # newest first
    assert [e["id"] for e in s.ok("GET", "/v1/events", query={"delivery_success": "true"})["data"]] == [
        delivered["id"]
    ]
    # no resend to a disabled endpoint, by either way
    s.admin("POST", f"/_standin/webhook_endpoints/{we['id']}/events/{missed[0]}/resend", expect=(409,))
    status, body, _ = s.request("POST", f"/v1/events/{missed[0]}/retry", form={"webhook_endpoint": we["id"]})
    assert status == 400 and "disabled" in body["error"]["message"]
    assert s.request("POST", f"/_standin/events/{missed[0]}/redeliver", key=None)[0] == 409

    # the secret rolled meanwhile: resends are signed with the current one
    s.admin("POST", f"/_standin/webhook_endpoints/{we['id']}/secret", {"secret": "whsec_after"})
    s.ok("POST", f"/v1/webhook_endpoints/{we['id']}", form={"disabled": "false"})
    time.sleep(0.3)
    assert hook.event_ids() == [delivered["id"]]  # re-enabling sends nothing by itself
    oldest_first = [e["id"] for e in reversed(failing["data"])]
    t0 = int(time.time())
    waited = s.admin("POST", f"/_standin/webhook_endpoints/{we['id']}/events/{oldest_first[0]}/resend?wait=1")
    assert waited["delivered"] is True and waited["attempts"][0]["trigger"] == "resend"
    for evt in oldest_first[1:]:  # what `stripe events resend <evt> --webhook-endpoint <we>` calls
        assert s.ok("POST", f"/v1/events/{evt}/retry", form={"webhook_endpoint": we["id"]})["id"] == evt
    got = hook.wait_for(4)
    assert [r["event"]["id"] for r in got[1:]] == missed
    for r in got[1:]:
        header = r["headers"]["Stripe-Signature"]
        assert verify(r["body"], header, "whsec_after") and not verify(r["body"], header, WHSEC)
        assert int(header.split(",")[0][2:]) >= t0
    wait_until(
        "nothing pending",
        lambda: s.ok("GET", "/v1/events", query={"delivery_success": "false"})["data"] == [],
    )
    assert all(s.ok("GET", f"/v1/events/{e}")["pending_webhooks"] == 0 for e in missed)


def test_automatic_retries_back_off_exponentially_with_a_cap(lab):
    s, hook = lab(
        STRIPE_WEBHOOK_RETRIES=4, STRIPE_WEBHOOK_RETRY_INTERVAL=0.2, STRIPE_WEBHOOK_RETRY_MAX_INTERVAL=0.5
    )
    hook.statuses[:] = [500, 500, 500]
    event = pay(s)["event"]
    got = hook.wait_for(4, timeout=10)
    assert [r["answered"] for r in got] == [500, 500, 500, 200]
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(got)]
    # 0.2, 0.4, then 0.5 (0.8 capped)
    assert 0.18 <= gaps[0] < 0.37, gaps
    assert 0.37 <= gaps[1] < 0.62, gaps
    assert 0.47 <= gaps[2] < 0.75, gaps
    attempts = wait_until(
        "4 attempts recorded",
        lambda: (
            [d for d in s.admin("GET", f"/_standin/deliveries?event={event['id']}")["data"] if d["ok"]]
            and s.admin("GET", f"/_standin/deliveries?event={event['id']}")["data"]
        ),
    )
    assert [(d["attempt"], d["status"], d["ok"]) for d in attempts] == [
        (1, 500, False), (2, 500, False), (3, 500, False), (4, 200, True),
    ]  # fmt: skip
    assert s.ok("GET", f"/v1/events/{event['id']}")["pending_webhooks"] == 0


def test_retries_give_up_and_the_event_stays_pending(lab):
    s, hook = lab()  # 2 retries
    hook.default = 503
    event = pay(s)["event"]
    hook.wait_for(3)
    time.sleep(0.5)
    assert len(hook.requests) == 3
    assert s.ok("GET", f"/v1/events/{event['id']}")["pending_webhooks"] == 1
    assert [e["id"] for e in s.ok("GET", "/v1/events", query={"delivery_success": "false"})["data"]] == [
        event["id"]
    ]
    status, body, _ = s.request("POST", f"/_standin/events/{event['id']}/redeliver?wait=1", key=None)
    assert status == 502 and body["delivered"] is False and len(body["attempts"]) == 3
    hook.default = 200
    assert s.admin("POST", f"/_standin/events/{event['id']}/redeliver?wait=1")["delivered"] is True
    assert s.ok("GET", "/v1/events", query={"delivery_success": "false"})["data"] == []


# -- listing events and intents ---------------------------------------------------------------------
def test_event_filters(lab):
    s, _ = lab(receiver=False)
    base = int(time.time()) - 1000
    ids = []
    for i in range(6):
        ids.append(pay(s, created=base + i, outcome="failed" if i % 2 else "succeeded")["event"]["id"])

    def listed(**query):
        return [e["id"] for e in s.ok("GET", "/v1/events", query=query)["data"]]

    def error(**query):
        status, body, _ = s.request("GET", "/v1/events", query=query)
        assert status == 400, body
        return body["error"]

    newest_first = ids[::-1]
    assert listed(type="payment_intent.succeeded") == [ids[4], ids[2], ids[0]]
    assert listed(type="payment_intent.*") == newest_first
    assert listed(**{"types[]": "payment_intent.payment_failed"}) == [ids[5], ids[3], ids[1]]
    both = [("types[]", "payment_intent.payment_failed"), ("types[]", "payment_intent.succeeded")]
    assert [e["id"] for e in s.ok("GET", "/v1/events", query=both)["data"]] == newest_first
    assert listed(**{"created[gte]": base + 2}) == newest_first[:4]
    assert listed(**{"created[gt]": base + 2}) == newest_first[:3]
    assert listed(**{"created[lte]": base + 2}) == newest_first[3:]
    assert listed(**{"created[lt]": base + 2}) == newest_first[4:]
    assert listed(**{"created[gte]": base + 1, "created[lt]": base + 3}) == [ids[2], ids[1]]
    assert listed(created=base + 3) == [ids[3]]
    assert listed(delivery_success="true") == newest_first  # no endpoint: nothing pending
    assert listed(delivery_success="false") == []
    err = error(**{"created[gte]": "yesterday"})
    assert (err["code"], err["param"], err["message"]) == (
        "parameter_invalid_integer", "created[gte]", "Invalid integer: yesterday",
    )  # fmt: skip
    assert error(type="payment_intent.succeeded", **{"types[]": "x.y"})["message"] == (
        "You may only specify one of these parameters: type, types."
    )
    assert error(delivery_success="maybe")["message"] == "Invalid boolean: maybe"
    for bad in (0, 101):
        assert error(limit=bad) == {
            "type": "invalid_request_error",
            "message": "Invalid limit: must be between 1 and 100",
            "param": "limit",
        }
    assert error(limit="ten")["code"] == "parameter_invalid_integer"


def test_event_pagination_boundaries(lab):
    s, _ = lab(receiver=False)
    for i in range(25):
        pay(s, amount=100 + i)
    full = s.ok("GET", "/v1/events", query={"limit": 100})
    assert full["has_more"] is False and len(full["data"]) == 25
    everything = [e["id"] for e in full["data"]]
    amounts = [e["data"]["object"]["amount"] for e in full["data"]]
    assert amounts == list(range(124, 99, -1))  # newest first, even within one second

    default = s.ok("GET", "/v1/events")
    assert len(default["data"]) == 10 and default["has_more"] is True
    pages, after = [], None
    while True:
        page = s.ok("GET", "/v1/events", query={"limit": 10, **({"starting_after": after} if after else {})})
        pages.append(page)
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert [len(p["data"]) for p in pages] == [10, 10, 5]
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert [e["id"] for p in pages for e in p["data"]] == everything

    back = s.ok("GET", "/v1/events", query={"limit": 10, "ending_before": pages[2]["data"][0]["id"]})
    assert [e["id"] for e in back["data"]] == everything[10:20] and back["has_more"] is True
    back = s.ok("GET", "/v1/events", query={"limit": 10, "ending_before": pages[1]["data"][0]["id"]})
    assert [e["id"] for e in back["data"]] == everything[:10] and back["has_more"] is False
    back = s.ok("GET", "/v1/events", query={"limit": 3, "ending_before": everything[-1]})
    assert [e["id"] for e in back["data"]] == everything[21:24] and back["has_more"] is True
    assert s.ok("GET", "/v1/events", query={"ending_before": everything[0]}) == {
        "object": "list", "data": [], "has_more": False, "url": "/v1/events",
    }  # fmt: skip
    last = s.ok("GET", "/v1/events", query={"starting_after": everything[-1]})
    assert (last["data"], last["has_more"]) == ([], False)
    assert s.ok("GET", "/v1/events", query={"limit": 24})["has_more"] is True
    assert s.ok("GET", "/v1/events", query={"limit": 25})["has_more"] is False

    status, body, _ = s.request("GET", "/v1/events", query={"starting_after": "evt_nope"})
    assert status == 400
    assert body["error"]["code"] == "resource_missing" and body["error"]["param"] == "starting_after"
    assert body["error"]["message"] == "No such event: 'evt_nope'"
    status, body, _ = s.request(
        "GET", "/v1/events", query={"starting_after": everything[3], "ending_before": everything[1]}
    )
    assert status == 400
    assert (
        body["error"]["message"]
        == "You may only specify one of these parameters: ending_before, starting_after."
    )


def test_events_older_than_30_days_are_not_listed(lab):
    s, hook = lab()
    now = s.admin("GET", "/_standin/clock")["now"]
    old = pay(s, created=now - 31 * 86400, deliver=False)["event"]
    recent = pay(s, created=now - 29 * 86400, deliver=False)["event"]
    assert old["created"] == now - 31 * 86400
    assert [e["id"] for e in s.ok("GET", "/v1/events")["data"]] == [recent["id"]]
    assert s.ok("GET", f"/v1/events/{old['id']}")["id"] == old["id"]  # still retrievable by id
    we = only_endpoint(s)
    status, body, _ = s.request("POST", f"/v1/events/{old['id']}/retry", form={"webhook_endpoint": we["id"]})
    assert status == 400 and "more than 30 days old" in body["error"]["message"]
    assert s.ok("POST", f"/v1/events/{recent['id']}/retry", form={"webhook_endpoint": we["id"]})
    assert hook.wait_for(1)[0]["event"]["id"] == recent["id"]
    s.admin("POST", "/_standin/clock", {"advance": 2 * 86400})
    assert s.ok("GET", "/v1/events")["data"] == []
    assert s.admin("POST", "/_standin/clock", {"offset": 0})["offset"] == 0
    assert [e["id"] for e in s.ok("GET", "/v1/events")["data"]] == [recent["id"]]


def test_clock_offset_from_the_environment(lab):
    s, _ = lab(receiver=False, STRIPE_CLOCK_OFFSET=-86400)
    clock = s.admin("GET", "/_standin/clock")
    assert clock["offset"] == -86400 and abs(clock["now"] - (clock["real"] - 86400)) <= 1
    intent = s.ok("POST", "/v1/payment_intents", form={"amount": 5, "currency": "usd"})
    assert abs(intent["created"] - (time.time() - 86400)) < 5


def test_payment_intent_list_filters_and_pagination(lab):
    s, _ = lab(receiver=False, STRIPE_AUTO_CONFIRM=0)
    made = []
    for i in range(12):
        s.admin("POST", "/_standin/clock", {"advance": 60})
        made.append(s.ok("POST", "/v1/payment_intents", form={"amount": 10 + i, "currency": "usd"}))
    assert made[0]["status"] == "requires_confirmation"
    newest_first = [i["id"] for i in reversed(made)]
    listed = s.ok("GET", "/v1/payment_intents")
    assert [i["id"] for i in listed["data"]] == newest_first[:10] and listed["has_more"] is True
    assert listed["url"] == "/v1/payment_intents"
    page2 = s.ok("GET", "/v1/payment_intents", query={"starting_after": newest_first[9]})
    assert [i["id"] for i in page2["data"]] == newest_first[10:] and page2["has_more"] is False
    back = s.ok("GET", "/v1/payment_intents", query={"ending_before": newest_first[10], "limit": 2})
    assert [i["id"] for i in back["data"]] == newest_first[8:10] and back["has_more"] is True
    cut = made[5]["created"]
    since = s.ok("GET", "/v1/payment_intents", query={"created[gte]": cut, "limit": 100})
    assert [i["id"] for i in since["data"]] == newest_first[:7]
    before = s.ok("GET", "/v1/payment_intents", query={"created[lt]": cut, "limit": 3})
    assert [i["id"] for i in before["data"]] == newest_first[7:10] and before["has_more"] is True
    status, body, _ = s.request("GET", "/v1/payment_intents", query={"starting_after": "pi_nope"})
    assert status == 400 and body["error"]["message"] == "No such payment_intent: 'pi_nope'"


# -- control plane ----------------------------------------------------------------------------------
def test_payment_as_if_a_customer_paid(lab):
    s, hook = lab()
    made = pay(s, amount=4200, currency="EUR", metadata={"order": "o-1"}, receipt_email="c@d.test")
    intent, event = made["payment_intent"], made["event"]
    assert (intent["status"], intent["amount_received"], intent["currency"]) == ("succeeded", 4200, "eur")
    assert intent["metadata"] == {"order": "o-1"} and intent["livemode"] is False
    assert (event["type"], event["request"]) == (
        "payment_intent.succeeded",
        {"id": None, "idempotency_key": None},
    )
    got = hook.wait_for(1)[0]
    assert got["event"]["data"]["object"]["id"] == intent["id"]
    assert verify(got["body"], got["headers"]["Stripe-Signature"], WHSEC)
    assert s.ok("GET", f"/v1/payment_intents/{intent['id']}")["amount"] == 4200

    quiet = pay(s, deliver=False)["event"]  # at Stripe, but the webhook never reached the API
    time.sleep(0.3)
    assert hook.event_ids() == [event["id"]]
    assert s.ok("GET", f"/v1/events/{quiet['id']}")["pending_webhooks"] == 1
    assert [e["id"] for e in s.ok("GET", "/v1/events", query={"delivery_success": "false"})["data"]] == [
        quiet["id"]
    ]

    declined = pay(s, outcome="failed")
    assert declined["payment_intent"]["status"] == "requires_payment_method"
    assert declined["payment_intent"]["last_payment_error"]["code"] == "card_declined"
    assert declined["event"]["type"] == "payment_intent.payment_failed"
    assert hook.wait_for(2)[1]["event"]["type"] == "payment_intent.payment_failed"
    s.admin("POST", "/_standin/payment_intents", {"amount": -1, "currency": "usd"}, expect=(400,))
    s.admin(
        "POST", "/_standin/payment_intents", {"amount": 1, "currency": "usd", "outcome": "x"}, expect=(400,)
    )


def test_bad_settings_exit_78():
    for env, message in [
        ({"STRIPE_WEBHOOK_RETRY_MAX_INTERVAL": "soon"}, "STRIPE_WEBHOOK_RETRY_MAX_INTERVAL must be a number"),
        ({"STRIPE_CLOCK_OFFSET": "1.5d"}, "STRIPE_CLOCK_OFFSET must be a number"),
        ({"STRIPE_WEBHOOK_URL": "http://192.0.2.1/hook", "STRIPE_WEBHOOK_SECRET": WHSEC}, "on loopback"),
    ]:
        proc = subprocess.run(
            [PYTHON, "-m", "stripe_standin"],
            env={
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": str(HERE),
                "STRIPE_PORT": "12499",
                "STRIPE_SECRET_KEY": KEY,
                **env,
            },
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 78, proc.stderr
        assert message in proc.stderr


# -- the official Python SDK ------------------------------------------------------------------------
SDK_SCRIPT = r"""
import json, sys
import stripe
args = json.loads(sys.argv[1])
stripe.api_key = args["key"]
stripe.api_base = args["base"]
stripe.max_network_retries = 0
errors = getattr(stripe, "error", stripe)
out = {"version": getattr(stripe, "VERSION", None)}
out["events"] = [e.id for e in stripe.Event.list(limit=4).auto_paging_iter()]
out["failing"] = [e.id for e in stripe.Event.list(limit=2, delivery_success=False).auto_paging_iter()]
out["since"] = [
    p.id for p in stripe.PaymentIntent.list(limit=3, created={"gte": args["since"]}).auto_paging_iter()
]
event = stripe.Webhook.construct_event(args["payload"], args["signature"], args["whsec"])
out["webhook"] = [event.id, event.type]
try:
    stripe.Webhook.construct_event(args["payload"], args["signature"], "whsec_wrong")
    out["bad_signature"] = None
except getattr(errors, "SignatureVerificationError") as exc:
    out["bad_signature"] = type(exc).__name__
endpoints = stripe.WebhookEndpoint.list()
out["endpoint"] = stripe.WebhookEndpoint.modify(endpoints.data[0].id, disabled=True).status
for name, key, call in [
    ("restricted", args["rk"], lambda: stripe.PaymentIntent.create(amount=5, currency="usd")),
    ("expired", args["expired"], lambda: stripe.Event.list()),
]:
    stripe.api_key = key
    try:
        call()
        out[name] = None
    except errors.StripeError as exc:
        # the SDK leaves exc.code unset on 401/403: the code is in the error body
        out[name] = [type(exc).__name__, exc.http_status, (exc.json_body or {})["error"].get("code")]
print(json.dumps(out))
"""


def test_official_python_sdk(lab):
    s, hook = lab()
    since = int(time.time()) - 500
    for i in range(9):
        pay(s, amount=500 + i, created=since + 10 * i, deliver=i != 4)
    everything = [e["id"] for e in s.ok("GET", "/v1/events", query={"limit": 100})["data"]]
    first = hook.wait_for(8)[0]
    wait_until(
        "one event left undelivered",
        lambda: len(s.ok("GET", "/v1/events", query={"delivery_success": "false"})["data"]) == 1,
    )
    rk = s.admin("POST", "/_standin/api_keys", {"permissions": {"events": "read", "payment_intents": "read"}})
    expired = s.admin("POST", "/_standin/api_keys", {"key": "sk_test_soonExpiredKey0000wxyz"})
    s.admin("POST", f"/_standin/api_keys/{expired['id']}/expire")
    args = {
        "key": KEY,
        "base": s.base,
        "since": since + 30,
        "payload": first["body"].decode(),
        "signature": first["headers"]["Stripe-Signature"],
        "whsec": WHSEC,
        "rk": rk["secret"],
        "expired": expired["secret"],
    }
    proc = subprocess.run(
        [SDK_PYTHON, "-c", SDK_SCRIPT, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": tempfile.gettempdir()},
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["events"] == everything  # 9 events over 3 pages of 4, auto-paginated
    undelivered = [e["id"] for e in s.ok("GET", "/v1/events", query={"delivery_success": "false"})["data"]]
    assert len(undelivered) == 1 and out["failing"] == undelivered
    payment_ids = [i["id"] for i in s.ok("GET", "/v1/payment_intents", query={"limit": 100})["data"]]
    assert out["since"] == payment_ids[:6]  # created at since+30 ... since+80
    assert out["webhook"] == [first["event"]["id"], "payment_intent.succeeded"]
    assert out["bad_signature"] == "SignatureVerificationError"
    assert out["endpoint"] == "disabled"
    assert out["restricted"] == ["PermissionError", 403, None]
    assert out["expired"] == ["AuthenticationError", 401, "api_key_expired"]


def test_the_first_endpoint_can_be_given_its_id():
    stand_in = StandIn(
        {
            "STRIPE_SECRET_KEY": KEY,
            "STRIPE_WEBHOOK_SECRET": WHSEC,
            "STRIPE_WEBHOOK_URL": "http://127.0.0.1:9/webhooks/stripe",
            "STRIPE_WEBHOOK_ENDPOINT_ID": "we_vedrunlab",
        }
    )
    try:
        listed = stand_in.ok("GET", "/v1/webhook_endpoints")["data"]
        assert [e["id"] for e in listed] == ["we_vedrunlab"]
    finally:
        stand_in.stop()
    bad = subprocess.run(
        [PYTHON, "-m", "stripe_standin"],
        capture_output=True,
        text=True,
        timeout=30,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(HERE),
            "STRIPE_SECRET_KEY": KEY,
            "STRIPE_WEBHOOK_ENDPOINT_ID": "we_../x",
        },
        check=False,
    )
    assert bad.returncode == 78 and "STRIPE_WEBHOOK_ENDPOINT_ID must look like we_" in bad.stderr
