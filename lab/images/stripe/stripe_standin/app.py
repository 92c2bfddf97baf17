"""A stand-in for the parts of the Stripe API that the vedfinance API uses.

State lives in memory behind one lock. Webhook events are signed exactly like Stripe signs them
(`Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<payload>")>`) and delivered from
background threads with retries; every attempt is recorded for /_standin/deliveries.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import logging
import re
import secrets
import string
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

API_VERSION = "2022-11-15"  # the version python3-stripe 5.0 is generated from
MAX_DELIVERIES = 2000

log = logging.getLogger("stripe-standin")
access_log = logging.getLogger("stripe-standin.access")

_ALNUM = string.ascii_letters + string.digits


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def mask_key(key: str) -> str:
    """Mask an API key the way Stripe's error message does: known prefix and last 4 chars only."""
    if len(key) < 12:
        return "****"
    m = re.match(r"^((?:sk|rk|pk)_(?:test|live)_)", key)
    return (m.group(1) if m else "") + "****" + key[-4:]


@dataclass(frozen=True)
class Settings:
    port: int
    bind: str
    secret_key: str
    webhook_secret: str
    webhook_url: str
    auto_confirm: bool
    retries: int
    retry_interval: float


class Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.intents: dict[str, dict] = {}
        self.events: dict[str, dict] = {}  # insertion order = creation order
        self.idempotency: dict[str, tuple[str, dict]] = {}
        self.deliveries: collections.deque[dict] = collections.deque(maxlen=MAX_DELIVERIES)
        self.delivery_seq = 0


def stripe_error(status: int, message: str, *, type_: str = "invalid_request_error", **extra):
    err = {"type": type_, "message": message, **extra}
    return jsonify(error=err), status


def parse_form(form) -> dict:
    """Decode Stripe's form encoding one level deep: a[b]=c -> {'a': {'b': 'c'}}, a[]=x / a[0]=x -> lists."""
    out: dict = {}
    for key in form:
        values = form.getlist(key)
        m = re.fullmatch(r"([A-Za-z0-9_]+)\[([^\]]*)\]", key)
        if not m:
            out[key] = values[-1]
            continue
        name, sub = m.groups()
        if sub == "" or sub.isdigit():
            out.setdefault(name, [])
            if isinstance(out[name], list):
                out[name].extend(values)
        else:
            if not isinstance(out.get(name), dict):
                out[name] = {}
            out[name][sub] = values[-1]
    return out


def create_app(cfg: Settings) -> Flask:
    app = Flask("stripe_standin")
    app.json.sort_keys = False
    store = Store()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy

    # -- request log -------------------------------------------------------------------------------
    @app.before_request
    def _start():
        g.t0 = time.perf_counter()
        g.request_id = "req_" + _rand(14)

    @app.after_request
    def _finish(resp):
        resp.headers["Request-Id"] = g.get("request_id", "")
        resp.headers["Stripe-Version"] = API_VERSION
        access_log.info(
            '%s "%s %s" %s %.1fms',
            request.remote_addr,
            request.method,
            request.full_path.rstrip("?"),
            resp.status_code,
            (time.perf_counter() - g.get("t0", time.perf_counter())) * 1000,
        )
        return resp

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if request.path.startswith("/v1/"):
            return stripe_error(
                exc.code or 500, f"Unrecognized request URL ({request.method}: {request.path})."
            )
        return jsonify(error=exc.name.lower(), detail=exc.description), exc.code

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        log.exception("%s %s: unhandled error", request.method, request.path)
        return stripe_error(500, "An unknown error occurred", type_="api_error")

    # -- authentication, exactly like api.stripe.com -------------------------------------------
    @app.before_request
    def _auth():
        if not request.path.startswith("/v1/"):
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, cred = header.partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = cred.strip()
        elif scheme.lower() == "basic":  # curl -u sk_test_...: sends the key as the user name
            try:
                key = base64.b64decode(cred.strip()).decode("utf-8").partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            resp = stripe_error(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        elif not hmac.compare_digest(key.encode(), cfg.secret_key.encode()):
            log.warning("rejected API key %s", mask_key(key))
            resp = stripe_error(401, f"Invalid API Key provided: {mask_key(key)}")
        else:
            return None
        resp[0].headers["WWW-Authenticate"] = 'Bearer realm="Stripe"'
        return resp

    # -- webhook delivery ------------------------------------------------------------------------
    def sign(payload: str, ts: int) -> str:
        mac = hmac.new(cfg.webhook_secret.encode("utf-8"), f"{ts}.{payload}".encode(), hashlib.sha256)
        return f"t={ts},v1={mac.hexdigest()}"

    def deliver_once(event_id: str, attempt: int, trigger: str) -> dict:
        with store.lock:
            event = store.events[event_id]
            payload = json.dumps(event, indent=2)
        ts = int(time.time())
        record = {
            "event": event_id,
            "type": event["type"],
            "url": cfg.webhook_url,
            "trigger": trigger,
            "attempt": attempt,
            "status": None,
            "error": None,
            "ok": False,
            "at": ts,
            "at_iso": datetime.fromtimestamp(ts, UTC).isoformat(),
            "duration_ms": None,
        }
        req = urllib.request.Request(  # noqa: S310 - the URL is checked to be http(s) on loopback at start
            cfg.webhook_url,
            data=payload.encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": sign(payload, ts),
            },
        )
        t0 = time.perf_counter()
        try:
            with opener.open(req, timeout=5) as resp:
                record["status"] = resp.status
                resp.read(4096)
        except urllib.error.HTTPError as exc:
            record["status"] = exc.code
            record["error"] = exc.read(300).decode("utf-8", "replace").strip() or exc.reason
        except (urllib.error.URLError, OSError) as exc:
            record["error"] = str(getattr(exc, "reason", exc))
        record["duration_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        record["ok"] = record["status"] is not None and 200 <= record["status"] < 300
        with store.lock:
            store.delivery_seq += 1
            record = {"id": f"whdel_{store.delivery_seq}", **record}
            store.deliveries.append(record)
            if record["ok"]:
                store.events[event_id]["pending_webhooks"] = 0
        log.info(
            "webhook %s %s attempt %d -> %s",
            event_id,
            event["type"],
            attempt,
            record["status"] if record["status"] is not None else f"error: {record['error']}",
        )
        return record

    def deliver(event_id: str, trigger: str) -> list[dict]:
        attempts = []
        for attempt in range(1, cfg.retries + 2):
            attempts.append(deliver_once(event_id, attempt, trigger))
            if attempts[-1]["ok"]:
                break
            if attempt <= cfg.retries:
                time.sleep(cfg.retry_interval)
        return attempts

    def deliver_async(event_id: str, trigger: str) -> None:
        if not cfg.webhook_url:
            log.info("event %s not delivered: STRIPE_WEBHOOK_URL is empty", event_id)
            return
        threading.Thread(
            target=deliver, args=(event_id, trigger), name=f"deliver-{event_id}", daemon=True
        ).start()

    def new_event(type_: str, obj: dict) -> str:
        """Create an event (caller holds the lock); returns its id."""
        event = {
            "id": "evt_" + _rand(24),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": json.loads(json.dumps(obj))},
            "livemode": False,
            "pending_webhooks": 1 if cfg.webhook_url else 0,
            "request": {"id": g.request_id, "idempotency_key": request.headers.get("Idempotency-Key")},
            "type": type_,
        }
        store.events[event["id"]] = event
        return event["id"]

    def succeed(intent: dict) -> str:
        """Mark an intent succeeded (caller holds the lock); returns the new event id."""
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        intent["latest_charge"] = "ch_" + _rand(24)
        intent["payment_method"] = intent["payment_method"] or "pm_" + _rand(24)
        return new_event("payment_intent.succeeded", intent)

    # -- payment intents -------------------------------------------------------------------------
    @app.post("/v1/payment_intents")
    def create_intent():
        params = parse_form(request.form)
        idem = request.headers.get("Idempotency-Key")
        with store.lock:
            if idem and idem in store.idempotency:
                intent_id, seen = store.idempotency[idem]
                if seen != params:
                    return stripe_error(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were "
                        "first used with.",
                        type_="idempotency_error",
                    )
                return jsonify(store.intents[intent_id])
        for name in ("amount", "currency"):
            if not params.get(name):
                return stripe_error(
                    400, f"Missing required param: {name}.", param=name, code="parameter_missing"
                )
        try:
            amount = int(params["amount"])
        except (TypeError, ValueError):
            return stripe_error(
                400,
                "Invalid integer: " + str(params["amount"]),
                param="amount",
                code="parameter_invalid_integer",
            )
        if amount <= 0:
            return stripe_error(400, "This value must be greater than or equal to 1.", param="amount")
        currency = str(params["currency"]).lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            return stripe_error(400, f"Invalid currency: {currency}.", param="currency")
        metadata = params.get("metadata") if isinstance(params.get("metadata"), dict) else {}
        intent_id = "pi_" + _rand(24)
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "capture_method": "automatic",
            "client_secret": f"{intent_id}_secret_{_rand(25)}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": currency,
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": metadata,
            "payment_method": params.get("payment_method"),
            "payment_method_types": params.get("payment_method_types") or ["card"],
            "receipt_email": params.get("receipt_email"),
            "status": "requires_confirmation",
        }
        event_id = None
        with store.lock:
            store.intents[intent_id] = intent
            if idem:
                store.idempotency[idem] = (intent_id, params)
            if cfg.auto_confirm or str(params.get("confirm", "")).lower() == "true":
                event_id = succeed(intent)
            body = json.loads(json.dumps(intent))
        log.info("payment_intent %s created: %s %s, status %s", intent_id, amount, currency, body["status"])
        if event_id:
            deliver_async(event_id, "created")
        return jsonify(body)

    @app.get("/v1/payment_intents")
    def list_intents():
        limit = max(1, min(100, request.args.get("limit", 10, type=int)))
        with store.lock:
            data = list(reversed(store.intents.values()))[:limit]
            body = {
                "object": "list",
                "data": data,
                "has_more": len(store.intents) > limit,
                "url": "/v1/payment_intents",
            }
            return jsonify(json.loads(json.dumps(body)))

    def missing_intent(intent_id: str):
        return stripe_error(
            404, f"No such payment_intent: '{intent_id}'", code="resource_missing", param="intent"
        )

    @app.get("/v1/payment_intents/<intent_id>")
    def get_intent(intent_id: str):
        with store.lock:
            intent = store.intents.get(intent_id)
            if intent is None:
                return missing_intent(intent_id)
            return jsonify(json.loads(json.dumps(intent)))

    @app.post("/v1/payment_intents/<intent_id>/confirm")
    def confirm_intent(intent_id: str):
        with store.lock:
            intent = store.intents.get(intent_id)
            if intent is None:
                return missing_intent(intent_id)
            if intent["status"] == "succeeded":
                return stripe_error(
                    400,
                    "This PaymentIntent's status is succeeded, but it must be requires_confirmation to be "
                    "confirmed.",
                    code="payment_intent_unexpected_state",
                )
            event_id = succeed(intent)
            body = json.loads(json.dumps(intent))
        log.info("payment_intent %s confirmed", intent_id)
        deliver_async(event_id, "confirm")
        return jsonify(body)

    # -- events ----------------------------------------------------------------------------------
    @app.get("/v1/events")
    def list_events():
        limit = max(1, min(100, request.args.get("limit", 10, type=int)))
        type_ = request.args.get("type")
        with store.lock:
            events = [e for e in reversed(store.events.values()) if not type_ or e["type"] == type_]
            body = {
                "object": "list",
                "data": events[:limit],
                "has_more": len(events) > limit,
                "url": "/v1/events",
            }
            return jsonify(json.loads(json.dumps(body)))

    @app.get("/v1/events/<event_id>")
    def get_event(event_id: str):
        with store.lock:
            event = store.events.get(event_id)
            if event is None:
                return stripe_error(404, f"No such event: '{event_id}'", code="resource_missing", param="id")
            return jsonify(json.loads(json.dumps(event)))

    # -- stand-in control plane (no API key; loopback only) ---------------------------------------
    @app.get("/_standin/health")
    def standin_health():
        with store.lock:
            counts = {
                "intents": len(store.intents),
                "events": len(store.events),
                "deliveries": len(store.deliveries),
            }
        return jsonify(
            status="ok", webhook_url=cfg.webhook_url or None, auto_confirm=cfg.auto_confirm, **counts
        )

    @app.get("/_standin/deliveries")
    def standin_deliveries():
        event_id = request.args.get("event")
        with store.lock:
            data = [d for d in store.deliveries if not event_id or d["event"] == event_id]
        return jsonify(object="list", data=data)

    @app.post("/_standin/events/<event_id>/redeliver")
    def standin_redeliver(event_id: str):
        with store.lock:
            known = event_id in store.events
        if not known:
            return jsonify(error=f"no such event: {event_id}"), 404
        if not cfg.webhook_url:
            return jsonify(error="STRIPE_WEBHOOK_URL is empty: nowhere to deliver"), 409
        log.info("redelivering %s", event_id)
        if request.args.get("wait", "").lower() in ("1", "true", "yes"):
            attempts = deliver(event_id, "redeliver")
            return jsonify(event=event_id, delivered=attempts[-1]["ok"], attempts=attempts), (
                200 if attempts[-1]["ok"] else 502
            )
        threading.Thread(
            target=deliver, args=(event_id, "redeliver"), name=f"redeliver-{event_id}", daemon=True
        ).start()
        return jsonify(event=event_id, queued=True), 202

    return app
