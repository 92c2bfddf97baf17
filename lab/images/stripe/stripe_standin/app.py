"""A stand-in for the parts of the Stripe API that the vedfinance API uses, and that its runbooks look at.

State lives in memory behind one lock. Webhook events are signed exactly like Stripe signs them
(`Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<payload>")>`) and delivered to each
webhook endpoint by that endpoint's own worker thread, in order, with automatic retries on an
exponential backoff; every attempt is recorded for /_standin/deliveries.
"""

from __future__ import annotations

import base64
import collections
import fnmatch
import hashlib
import heapq
import hmac
import ipaddress
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
from urllib.parse import urlsplit

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

API_VERSION = "2022-11-15"  # the version python3-stripe 5.0 is generated from
MAX_DELIVERIES = 2000
EVENT_LIST_WINDOW_S = 30 * 86400  # GET /v1/events lists the last 30 days, as Stripe does
ACCOUNT_ID = "acct_1VedrunLabStandin"  # named in restricted-key permission errors
DEFAULT_KEY_ID = "key_default"  # the id of STRIPE_SECRET_KEY in /_standin/api_keys
DELIVERY_TIMEOUT_S = 5

# Restricted-key permissions: resource -> (read permission, write permission), as Stripe names them.
PERMISSIONS = {
    "payment_intents": ("rak_payment_intent_read", "rak_payment_intent_write"),
    "events": ("rak_event_read", "rak_event_write"),
    "webhook_endpoints": ("rak_webhook_read", "rak_webhook_write"),
}
LEVELS = ("none", "read", "write")

log = logging.getLogger("stripe-standin")
access_log = logging.getLogger("stripe-standin.access")

_ALNUM = string.ascii_letters + string.digits


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def mask_key(key: str, tail: int = 4) -> str:
    """Mask an API key the way Stripe's error message does: known prefix and the last chars only."""
    if len(key) < 12:
        return "****"
    m = re.match(r"^((?:sk|rk|pk)_(?:test|live)_)", key)
    return (m.group(1) if m else "") + "****" + key[-tail:]


def key_livemode(key: str) -> bool:
    """sk_live_/rk_live_/pk_live_ keys see live-mode objects; every other key sees test mode."""
    return re.match(r"^(?:sk|rk|pk)_live_", key) is not None


def loopback_host(host: str | None) -> bool:
    """A literal 127/8 or ::1 address, or `localhost` (names are never resolved)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and loopback_host(parts.hostname)
    except ValueError:
        return False


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
    retry_max_interval: float = 60.0
    clock_offset: float = 0.0
    webhook_endpoint_id: str = ""  # the first endpoint's id ('' = a random one, as Stripe makes)


class ApiError(Exception):
    """A Stripe-shaped error raised while reading parameters; rendered by stripe_error()."""

    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class AdminError(Exception):
    """An error of the /_standin/ control plane: {"error": message} with a status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class EndpointQueue:
    """The delivery queue of one webhook endpoint: jobs ordered by due time, then by arrival."""

    def __init__(self, lock: threading.Lock) -> None:
        self.cv = threading.Condition(lock)
        self.heap: list[tuple[float, int, str, str, int]] = []
        self.n = 0
        self.closed = False

    def push(self, due: float, event_id: str, trigger: str, attempt: int) -> None:
        """Queue a delivery attempt (the caller holds the store lock)."""
        self.n += 1
        heapq.heappush(self.heap, (due, self.n, event_id, trigger, attempt))
        self.cv.notify()


class Store:
    def __init__(self, clock_offset: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.intents: dict[str, dict] = {}
        self.events: dict[str, dict] = {}
        self.endpoints: dict[str, dict] = {}  # we_id -> the public WebhookEndpoint object
        self.endpoint_secrets: dict[str, list[dict]] = {}  # we_id -> [{secret, expires_at}], newest first
        self.queues: dict[str, EndpointQueue] = {}
        # event id -> endpoint id -> {"delivered": bool, "attempts": int}: the endpoints an event is for
        self.targets: dict[str, dict[str, dict]] = {}
        self.keys: dict[str, dict] = {}  # key id -> {id, key, type, livemode, permissions, ...}
        self.seq: dict[str, int] = {}  # object id -> creation order (ties on `created`)
        self.next_seq = 0
        self.idempotency: dict[str, tuple[str, dict]] = {}
        self.deliveries: collections.deque[dict] = collections.deque(maxlen=MAX_DELIVERIES)
        self.delivery_seq = 0
        self.clock_offset = clock_offset

    def now(self) -> int:
        """The stand-in's clock: real time plus the offset (STRIPE_CLOCK_OFFSET, /_standin/clock)."""
        return int(time.time() + self.clock_offset)

    def stamp(self, obj_id: str) -> None:
        self.next_seq += 1
        self.seq[obj_id] = self.next_seq


def stripe_error(status: int, message: str, *, type_: str = "invalid_request_error", **extra):
    err = {"type": type_, "message": message, **extra}
    if extra.get("code"):
        err["doc_url"] = "https://stripe.com/docs/error-codes/" + extra["code"].replace("_", "-")
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


def parse_int(value, param: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise ApiError(
            400, f"Invalid integer: {value}", param=param, code="parameter_invalid_integer"
        ) from None


def parse_bool(value, param: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ApiError(400, f"Invalid boolean: {value}", param=param)


def reject_unknown(params: dict, allowed: set[str]) -> None:
    for name in params:
        if name not in allowed:
            raise ApiError(400, f"Received unknown parameter: {name}", param=name, code="parameter_unknown")


def created_filter(params: dict):
    """`created=<ts>` or `created[gt|gte|lt|lte]=<ts>` -> a predicate on a timestamp."""
    raw = params.get("created")
    if raw is None:
        return lambda _ts: True
    if isinstance(raw, dict):
        bounds = {}
        for op, value in raw.items():
            if op not in ("gt", "gte", "lt", "lte"):
                raise ApiError(
                    400,
                    f"Received unknown parameter: created[{op}]",
                    param=f"created[{op}]",
                    code="parameter_unknown",
                )
            bounds[op] = parse_int(value, f"created[{op}]")

        def check(ts: int) -> bool:
            return (
                ("gt" not in bounds or ts > bounds["gt"])
                and ("gte" not in bounds or ts >= bounds["gte"])
                and ("lt" not in bounds or ts < bounds["lt"])
                and ("lte" not in bounds or ts <= bounds["lte"])
            )

        return check
    if isinstance(raw, list):
        raise ApiError(400, "Invalid created: must be an integer or a hash", param="created")
    exact = parse_int(raw, "created")
    return lambda ts: ts == exact


def event_matches(enabled_events: list[str], type_: str) -> bool:
    return "*" in enabled_events or type_ in enabled_events


def copy(obj):
    return json.loads(json.dumps(obj))


def create_app(cfg: Settings) -> Flask:
    app = Flask("stripe_standin")
    app.json.sort_keys = False
    store = Store(cfg.clock_offset)
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

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return stripe_error(exc.status, exc.message, **exc.extra)

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

    # -- API keys ----------------------------------------------------------------------------------
    def add_key(key: str, *, key_id: str | None = None, permissions: dict | None = None) -> dict:
        """Register an API key (caller holds the lock). Restricted keys (rk_) carry permissions."""
        rec = {
            "id": key_id or "key_" + _rand(14),
            "key": key,
            "type": "restricted" if permissions is not None else "secret",
            "livemode": key_livemode(key),
            "permissions": permissions,
            "created": store.now(),
            "expires_at": None,
            "rolled_to": None,
            "deleted": False,
        }
        store.keys[rec["id"]] = rec
        return rec

    def find_key(key: str) -> dict | None:
        found = None
        for rec in store.keys.values():
            if hmac.compare_digest(rec["key"].encode(), key.encode()):
                found = rec
        return found

    def key_status(rec: dict) -> str:
        if rec["deleted"]:
            return "deleted"
        if rec["expires_at"] is not None:
            return "expired" if rec["expires_at"] <= store.now() else "expiring"
        return "active"

    def key_view(rec: dict, *, reveal: bool = False) -> dict:
        view = {
            "id": rec["id"],
            "object": "api_key",
            "type": rec["type"],
            "livemode": rec["livemode"],
            "masked": mask_key(rec["key"]),
            "status": key_status(rec),
            "created": rec["created"],
            "expires_at": rec["expires_at"],
            "rolled_to": rec["rolled_to"],
            "permissions": rec["permissions"],
        }
        if reveal:
            view["secret"] = rec["key"]
        return view

    def required_permission(method: str, path: str) -> tuple[str, str, str] | None:
        """(resource, level, Stripe's permission name) that a /v1 request needs from a restricted key."""
        m = re.match(r"^/v1/(payment_intents|events|webhook_endpoints)(?:/|$)", path)
        if not m:
            return None
        resource = m.group(1)
        write = method not in ("GET", "HEAD")
        if resource == "events" and write:  # POST /v1/events/<id>/retry resends to a webhook endpoint
            resource = "webhook_endpoints"
        read_name, write_name = PERMISSIONS[resource]
        return resource, "write" if write else "read", write_name if write else read_name

    with store.lock:
        add_key(cfg.secret_key, key_id=DEFAULT_KEY_ID)

    # -- authentication, exactly like api.stripe.com -------------------------------------------
    @app.before_request
    def _auth():
        if request.path.startswith("/_standin/") and not loopback_host(request.remote_addr):
            return jsonify(error="the stand-in's control plane answers loopback clients only"), 403
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
        with store.lock:
            rec = find_key(key) if key else None
            status = key_status(rec) if rec else None
            rec = copy(rec) if rec else None
        if not key:
            resp = stripe_error(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        elif rec is None or status == "deleted":
            log.warning("rejected API key %s", mask_key(key))
            resp = stripe_error(401, f"Invalid API Key provided: {mask_key(key)}")
        elif status == "expired":
            log.warning("rejected expired API key %s", mask_key(key))
            resp = stripe_error(401, f"Expired API Key provided: {mask_key(key)}", code="api_key_expired")
        else:
            g.key_id = rec["id"]
            g.livemode = rec["livemode"]
            need = required_permission(request.method, request.path)
            if rec["type"] == "restricted" and need:
                resource, level, name = need
                have = (rec["permissions"] or {}).get(resource, "none")
                if not (have == "write" or (have == "read" and level == "read")):
                    log.warning(
                        "restricted key %s lacks %s for %s %s",
                        mask_key(key),
                        name,
                        request.method,
                        request.path,
                    )
                    return stripe_error(
                        403,
                        f"The provided key '{mask_key(key, 6)}' does not have the required permissions "
                        f"for this endpoint on account '{ACCOUNT_ID}'. Having the '{name}' permission "
                        "would allow this request to continue.",
                    )
            return None
        resp[0].headers["WWW-Authenticate"] = 'Bearer realm="Stripe"'
        return resp

    def no_such(kind: str, obj_id: str, param: str, *, other_mode: bool, status: int = 404):
        message = f"No such {kind}: '{obj_id}'"
        if other_mode:
            here, there = ("live", "test") if g.livemode else ("test", "live")
            message += (
                f"; a similar object exists in {there} mode, but a {here} mode key was used to make "
                "this request."
            )
        return stripe_error(status, message, code="resource_missing", param=param)

    # -- lists, the way Stripe lists -----------------------------------------------------------
    def list_body(items: list[dict], params: dict, url: str, lookup, kind: str) -> dict:
        """Newest first by (created, creation order); limit, starting_after / ending_before, has_more.

        `lookup(id)` finds a cursor object of this resource in the caller's mode (or None)."""
        limit = 10
        if params.get("limit") not in (None, ""):
            limit = parse_int(params["limit"], "limit")
            if not 1 <= limit <= 100:
                raise ApiError(400, "Invalid limit: must be between 1 and 100", param="limit")
        after, before = params.get("starting_after") or None, params.get("ending_before") or None
        if after and before:
            raise ApiError(
                400, "You may only specify one of these parameters: ending_before, starting_after."
            )

        def order(o: dict) -> tuple[int, int]:
            return (o["created"], store.seq.get(o["id"], 0))

        items = sorted(items, key=order, reverse=True)
        cursor_id = after or before
        if cursor_id:
            cursor = lookup(cursor_id)
            if cursor is None:
                raise ApiError(
                    400,
                    f"No such {kind}: '{cursor_id}'",
                    param="starting_after" if after else "ending_before",
                    code="resource_missing",
                )
            mark = order(cursor)
            if after:
                rest = [o for o in items if order(o) < mark]
                data, has_more = rest[:limit], len(rest) > limit
            else:
                rest = [o for o in items if order(o) > mark]
                data, has_more = rest[-limit:], len(rest) > limit
        else:
            data, has_more = items[:limit], len(items) > limit
        return {"object": "list", "data": data, "has_more": has_more, "url": url}

    # -- webhook endpoints -------------------------------------------------------------------------
    def add_endpoint(
        url: str,
        enabled_events: list[str],
        *,
        livemode: bool,
        secret: str | None = None,
        description: str | None = None,
        metadata: dict | None = None,
        api_version: str | None = None,
        we_id: str = "",
    ) -> tuple[dict, str]:
        """Create an endpoint and start its delivery worker (caller holds the lock)."""
        we_id = we_id or "we_" + _rand(24)
        endpoint = {
            "id": we_id,
            "object": "webhook_endpoint",
            "api_version": api_version,
            "application": None,
            "created": store.now(),
            "description": description,
            "enabled_events": list(enabled_events),
            "livemode": livemode,
            "metadata": metadata or {},
            "status": "enabled",
            "url": url,
        }
        secret = secret or "whsec_" + _rand(32)
        store.endpoints[we_id] = endpoint
        store.endpoint_secrets[we_id] = [{"secret": secret, "expires_at": None}]
        store.stamp(we_id)
        queue = EndpointQueue(store.lock)
        store.queues[we_id] = queue
        threading.Thread(target=worker, args=(we_id, queue), name=f"deliver-{we_id}", daemon=True).start()
        return endpoint, secret

    def active_secrets(we_id: str) -> list[str]:
        now = store.now()
        return [
            s["secret"]
            for s in store.endpoint_secrets.get(we_id, [])
            if s["expires_at"] is None or s["expires_at"] > now
        ]

    def endpoint_view(endpoint: dict, secret: str | None = None) -> dict:
        body = copy(endpoint)
        if secret is not None:  # only when the endpoint is created, as Stripe does
            body = {
                **{k: v for k, v in body.items() if k not in ("status", "url")},
                "secret": secret,
                "status": body["status"],
                "url": body["url"],
            }
        return body

    # -- webhook delivery ------------------------------------------------------------------------
    def sign(payload: str, ts: int, keys: list[str]) -> str:
        sigs = [
            "v1=" + hmac.new(k.encode("utf-8"), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
            for k in keys
        ]
        return ",".join([f"t={ts}", *sigs])

    def pending(event_id: str) -> int:
        return sum(
            1
            for we_id, t in store.targets.get(event_id, {}).items()
            if not t["delivered"] and we_id in store.endpoints
        )

    def render_event(event: dict) -> dict:
        body = copy(event)
        body["pending_webhooks"] = pending(event["id"])
        return body

    def backoff(attempt: int) -> float:
        """Wait after failed attempt N: RETRY_INTERVAL * 2^(N-1), capped at RETRY_MAX_INTERVAL."""
        return min(cfg.retry_max_interval, cfg.retry_interval * (2 ** (attempt - 1)))

    def deliver_once(event_id: str, we_id: str, attempt: int, trigger: str) -> dict | None:
        with store.lock:
            endpoint = store.endpoints.get(we_id)
            if endpoint is None or event_id not in store.events:
                return None
            event = render_event(store.events[event_id])
            url = endpoint["url"]
            keys = active_secrets(we_id)
        payload = json.dumps(event, indent=2)
        ts = int(time.time())  # real time: receivers check it against their own clock
        record = {
            "event": event_id,
            "type": event["type"],
            "endpoint": we_id,
            "url": url,
            "trigger": trigger,
            "attempt": attempt,
            "status": None,
            "error": None,
            "ok": False,
            "at": ts,
            "at_iso": datetime.fromtimestamp(ts, UTC).isoformat(),
            "duration_ms": None,
        }
        req = urllib.request.Request(  # noqa: S310 - URLs are checked to be http(s) on loopback
            url,
            data=payload.encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": sign(payload, ts, keys),
            },
        )
        t0 = time.perf_counter()
        try:
            with opener.open(req, timeout=DELIVERY_TIMEOUT_S) as resp:
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
            target = store.targets.setdefault(event_id, {}).setdefault(
                we_id, {"delivered": False, "attempts": 0}
            )
            target["attempts"] += 1
            if record["ok"]:
                target["delivered"] = True
        log.info(
            "webhook %s %s -> %s attempt %d (%s) -> %s",
            event_id,
            event["type"],
            we_id,
            attempt,
            trigger,
            record["status"] if record["status"] is not None else f"error: {record['error']}",
        )
        return record

    def worker(we_id: str, queue: EndpointQueue) -> None:
        """Deliver one endpoint's queue in order; a failed attempt is queued again after its backoff."""
        while True:
            with store.lock:
                while True:
                    if queue.closed or we_id not in store.endpoints:
                        return
                    if not queue.heap:
                        queue.cv.wait()
                        continue
                    delay = queue.heap[0][0] - time.monotonic()
                    if delay > 0:
                        queue.cv.wait(delay)
                        continue
                    _, _, event_id, trigger, attempt = heapq.heappop(queue.heap)
                    target = store.targets.get(event_id, {}).get(we_id)
                    if store.endpoints[we_id]["status"] != "enabled":
                        log.info("webhook %s -> %s not sent: the endpoint is disabled", event_id, we_id)
                        continue
                    if attempt > 1 and target and target["delivered"]:
                        continue  # delivered meanwhile (by a resend): no more retries
                    break
            record = deliver_once(event_id, we_id, attempt, trigger)
            if record is not None and not record["ok"] and attempt <= cfg.retries:
                with store.lock:
                    queue.push(time.monotonic() + backoff(attempt), event_id, trigger, attempt + 1)

    def deliver_inline(event_id: str, we_id: str, trigger: str) -> list[dict]:
        """Deliver now in this thread, with retries and backoff; stops if the endpoint gets disabled."""
        attempts: list[dict] = []
        for attempt in range(1, cfg.retries + 2):
            with store.lock:
                endpoint = store.endpoints.get(we_id)
                if endpoint is None or endpoint["status"] != "enabled":
                    break
            record = deliver_once(event_id, we_id, attempt, trigger)
            if record is None:
                break
            attempts.append(record)
            if record["ok"]:
                break
            if attempt <= cfg.retries:
                time.sleep(backoff(attempt))
        return attempts

    def enqueue(event_id: str, we_id: str, trigger: str) -> None:
        """Queue a first attempt (caller holds the lock)."""
        store.queues[we_id].push(time.monotonic(), event_id, trigger, 1)

    def matching_endpoints(event: dict) -> list[str]:
        return [
            we_id
            for we_id, ep in store.endpoints.items()
            if ep["livemode"] == event["livemode"] and event_matches(ep["enabled_events"], event["type"])
        ]

    def new_event(
        type_: str,
        obj: dict,
        *,
        request_info: dict,
        created: int | None = None,
        deliver: bool = True,
        trigger: str = "created",
    ) -> str:
        """Create an event and queue it for every enabled endpoint it is for (caller holds the lock).

        A disabled endpoint is still counted in `pending_webhooks` but gets nothing until a resend."""
        event = {
            "id": "evt_" + _rand(24),
            "object": "event",
            "api_version": API_VERSION,
            "created": store.now() if created is None else created,
            "data": {"object": copy(obj)},
            "livemode": obj["livemode"],
            "pending_webhooks": 0,
            "request": request_info,
            "type": type_,
        }
        store.events[event["id"]] = event
        store.stamp(event["id"])
        targets = matching_endpoints(event)
        store.targets[event["id"]] = {we: {"delivered": False, "attempts": 0} for we in targets}
        if not targets:
            log.info("event %s %s not delivered: no webhook endpoint for it", event["id"], type_)
        elif deliver:
            for we_id in targets:
                if store.endpoints[we_id]["status"] == "enabled":
                    enqueue(event["id"], we_id, trigger)
                else:
                    log.info("event %s not sent to %s: the endpoint is disabled", event["id"], we_id)
        return event["id"]

    def api_request_info() -> dict:
        return {"id": g.request_id, "idempotency_key": request.headers.get("Idempotency-Key")}

    def succeed(intent: dict, *, request_info: dict, **kw) -> str:
        """Mark an intent succeeded (caller holds the lock); returns the new event id."""
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        intent["latest_charge"] = "ch_" + _rand(24)
        intent["payment_method"] = intent["payment_method"] or "pm_" + _rand(24)
        return new_event("payment_intent.succeeded", intent, request_info=request_info, **kw)

    if cfg.webhook_url:
        with store.lock:
            first, _ = add_endpoint(
                cfg.webhook_url, ["*"], livemode=key_livemode(cfg.secret_key), secret=cfg.webhook_secret,
                we_id=cfg.webhook_endpoint_id,
            )
        log.info("webhook endpoint %s -> %s (from STRIPE_WEBHOOK_URL)", first["id"], cfg.webhook_url)

    # -- payment intents -------------------------------------------------------------------------
    def check_amount_currency(params: dict) -> tuple[int, str]:
        for name in ("amount", "currency"):
            if not params.get(name):
                raise ApiError(400, f"Missing required param: {name}.", param=name, code="parameter_missing")
        amount = parse_int(params["amount"], "amount")
        if amount <= 0:
            raise ApiError(400, "This value must be greater than or equal to 1.", param="amount")
        currency = str(params["currency"]).lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise ApiError(400, f"Invalid currency: {currency}.", param="currency")
        return amount, currency

    def new_intent(
        params: dict, amount: int, currency: str, *, livemode: bool, created: int | None = None
    ) -> dict:
        intent_id = "pi_" + _rand(24)
        metadata = params.get("metadata") if isinstance(params.get("metadata"), dict) else {}
        return {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "capture_method": "automatic",
            "client_secret": f"{intent_id}_secret_{_rand(25)}",
            "confirmation_method": "automatic",
            "created": store.now() if created is None else created,
            "currency": currency,
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": livemode,
            "metadata": metadata,
            "payment_method": params.get("payment_method"),
            "payment_method_types": params.get("payment_method_types") or ["card"],
            "receipt_email": params.get("receipt_email"),
            "status": "requires_confirmation",
        }

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
        amount, currency = check_amount_currency(params)
        intent = new_intent(params, amount, currency, livemode=g.livemode)
        with store.lock:
            store.intents[intent["id"]] = intent
            store.stamp(intent["id"])
            if idem:
                store.idempotency[idem] = (intent["id"], params)
            if cfg.auto_confirm or str(params.get("confirm", "")).lower() == "true":
                succeed(intent, request_info=api_request_info())
            body = copy(intent)
        log.info(
            "payment_intent %s created: %s %s, status %s", intent["id"], amount, currency, body["status"]
        )
        return jsonify(body)

    def intent_in_mode(intent_id: str):
        """(intent, None) in the key's mode, or (None, 404 response)."""
        intent = store.intents.get(intent_id)
        if intent is None or intent["livemode"] != g.livemode:
            return None, no_such("payment_intent", intent_id, "intent", other_mode=intent is not None)
        return intent, None

    @app.get("/v1/payment_intents")
    def list_intents():
        params = parse_form(request.args)
        when = created_filter(params)
        with store.lock:
            items = [i for i in store.intents.values() if i["livemode"] == g.livemode and when(i["created"])]

            def lookup(obj_id):
                i = store.intents.get(obj_id)
                return i if i and i["livemode"] == g.livemode else None

            body = list_body(items, params, "/v1/payment_intents", lookup, "payment_intent")
            return jsonify(copy(body))

    @app.get("/v1/payment_intents/<intent_id>")
    def get_intent(intent_id: str):
        with store.lock:
            intent, missing = intent_in_mode(intent_id)
            if missing:
                return missing
            return jsonify(copy(intent))

    @app.post("/v1/payment_intents/<intent_id>/confirm")
    def confirm_intent(intent_id: str):
        with store.lock:
            intent, missing = intent_in_mode(intent_id)
            if missing:
                return missing
            if intent["status"] == "succeeded":
                return stripe_error(
                    400,
                    "This PaymentIntent's status is succeeded, but it must be requires_confirmation to be "
                    "confirmed.",
                    code="payment_intent_unexpected_state",
                )
            succeed(intent, request_info=api_request_info(), trigger="confirm")
            body = copy(intent)
        log.info("payment_intent %s confirmed", intent_id)
        return jsonify(body)

    # -- events ----------------------------------------------------------------------------------
    def event_in_mode(event_id: str, *, status: int = 404, param: str = "id"):
        event = store.events.get(event_id)
        if event is None or event["livemode"] != g.livemode:
            return None, no_such("event", event_id, param, other_mode=event is not None, status=status)
        return event, None

    @app.get("/v1/events")
    def list_events():
        params = parse_form(request.args)
        type_, types = params.get("type"), params.get("types")
        if type_ and types:
            raise ApiError(400, "You may only specify one of these parameters: type, types.")
        if isinstance(types, str):
            types = [types]
        if types is not None and not isinstance(types, list):
            raise ApiError(400, "Invalid array", param="types")
        if types and len(types) > 20:
            raise ApiError(400, "Invalid types: must contain at most 20 event types", param="types")
        success = None
        if params.get("delivery_success") not in (None, ""):
            success = parse_bool(params["delivery_success"], "delivery_success")
        when = created_filter(params)

        def wanted(e: dict) -> bool:
            if type_ and not fnmatch.fnmatchcase(e["type"], type_):  # `payment_intent.*` works too
                return False
            if types and e["type"] not in types:
                return False
            if success is not None and (pending(e["id"]) == 0) != success:
                return False
            return when(e["created"])

        with store.lock:
            oldest = store.now() - EVENT_LIST_WINDOW_S
            items = [
                e
                for e in store.events.values()
                if e["livemode"] == g.livemode and e["created"] >= oldest and wanted(e)
            ]

            def lookup(obj_id):
                e = store.events.get(obj_id)
                return e if e and e["livemode"] == g.livemode else None

            body = list_body(items, params, "/v1/events", lookup, "event")
            body["data"] = [render_event(e) for e in body["data"]]
            return jsonify(body)

    @app.get("/v1/events/<event_id>")
    def get_event(event_id: str):
        with store.lock:
            event, missing = event_in_mode(event_id)
            if missing:
                return missing
            return jsonify(render_event(event))

    def resend_problem(event: dict, we_id: str) -> str | None:
        """Why an event cannot be resent to an endpoint (caller holds the lock), or None."""
        endpoint = store.endpoints[we_id]
        if endpoint["livemode"] != event["livemode"]:
            return f"The webhook endpoint '{we_id}' and the event '{event['id']}' are not in the same mode."
        if event["created"] < store.now() - EVENT_LIST_WINDOW_S:
            return f"The event '{event['id']}' is more than 30 days old and can no longer be resent."
        if endpoint["status"] != "enabled":
            return f"The webhook endpoint '{we_id}' is disabled. Enable it before resending events to it."
        if not event_matches(endpoint["enabled_events"], event["type"]):
            return f"The webhook endpoint '{we_id}' is not enabled for events of type '{event['type']}'."
        return None

    @app.post("/v1/events/<event_id>/retry")
    def retry_event(event_id: str):
        """What `stripe events resend <evt> --webhook-endpoint <we>` calls: queue one more delivery."""
        params = parse_form(request.form)
        reject_unknown(params, {"webhook_endpoint", "account", "expand"})
        with store.lock:
            event, missing = event_in_mode(event_id)
            if missing:
                return missing
            we_id = params.get("webhook_endpoint")
            if not we_id:
                raise ApiError(
                    400,
                    "Missing required param: webhook_endpoint.",
                    param="webhook_endpoint",
                    code="parameter_missing",
                )
            endpoint = store.endpoints.get(we_id)
            if endpoint is None or endpoint["livemode"] != g.livemode:
                return no_such(
                    "webhook endpoint", we_id, "webhook_endpoint", other_mode=endpoint is not None, status=400
                )
            problem = resend_problem(event, we_id)
            if problem:
                raise ApiError(400, problem, param="webhook_endpoint")
            enqueue(event_id, we_id, "resend")
            body = render_event(event)
        log.info("resend of %s to %s queued (API)", event_id, we_id)
        return jsonify(body)

    # -- webhook endpoints (the API) -------------------------------------------------------------
    def endpoint_in_mode(we_id: str):
        endpoint = store.endpoints.get(we_id)
        if endpoint is None or endpoint["livemode"] != g.livemode:
            return None, no_such(
                "webhook endpoint", we_id, "webhook_endpoint", other_mode=endpoint is not None
            )
        return endpoint, None

    def check_url(url) -> str:
        if not isinstance(url, str) or not url.strip():
            raise ApiError(400, "Missing required param: url.", param="url", code="parameter_missing")
        if not loopback_url(url.strip()):
            raise ApiError(
                400,
                f"Invalid URL: {url}. The stand-in delivers only to http(s) URLs on a loopback address "
                "(lab network rule).",
                param="url",
                code="url_invalid",
            )
        return url.strip()

    def check_events(value) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise ApiError(
                400,
                "Missing required param: enabled_events.",
                param="enabled_events",
                code="parameter_missing",
            )
        for i, name in enumerate(value):
            if name != "*" and not re.fullmatch(r"[a-z_]+(?:\.[a-z_]+)+", name):
                raise ApiError(
                    400,
                    f"Invalid enabled_events[{i}]: {name!r} is not an event type or '*'",
                    param=f"enabled_events[{i}]",
                )
        return list(dict.fromkeys(value))

    def check_metadata(value, current: dict | None = None) -> dict:
        if value is None:
            return dict(current or {})
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise ApiError(400, "Invalid metadata: must be a hash", param="metadata")
        out = dict(current or {})
        for k, v in value.items():
            if v == "":
                out.pop(k, None)  # Stripe unsets a key sent empty
            else:
                out[k] = v
        return out

    @app.get("/v1/webhook_endpoints")
    def list_endpoints():
        params = parse_form(request.args)
        with store.lock:
            items = [e for e in store.endpoints.values() if e["livemode"] == g.livemode]

            def lookup(obj_id):
                e = store.endpoints.get(obj_id)
                return e if e and e["livemode"] == g.livemode else None

            body = list_body(items, params, "/v1/webhook_endpoints", lookup, "webhook endpoint")
            return jsonify(copy(body))

    @app.post("/v1/webhook_endpoints")
    def create_endpoint():
        params = parse_form(request.form)
        reject_unknown(
            params, {"url", "enabled_events", "description", "metadata", "api_version", "connect", "expand"}
        )
        url = check_url(params.get("url"))
        events = check_events(params.get("enabled_events"))
        with store.lock:
            endpoint, secret = add_endpoint(
                url,
                events,
                livemode=g.livemode,
                description=params.get("description") or None,
                metadata=check_metadata(params.get("metadata")),
                api_version=params.get("api_version") or None,
            )
            body = endpoint_view(endpoint, secret)
        log.info("webhook endpoint %s created -> %s", endpoint["id"], url)
        return jsonify(body)

    @app.get("/v1/webhook_endpoints/<we_id>")
    def get_endpoint(we_id: str):
        with store.lock:
            endpoint, missing = endpoint_in_mode(we_id)
            if missing:
                return missing
            return jsonify(endpoint_view(endpoint))

    @app.post("/v1/webhook_endpoints/<we_id>")
    def update_endpoint(we_id: str):
        params = parse_form(request.form)
        reject_unknown(params, {"url", "enabled_events", "description", "metadata", "disabled", "expand"})
        url = check_url(params["url"]) if "url" in params else None
        events = check_events(params["enabled_events"]) if "enabled_events" in params else None
        disabled = parse_bool(params["disabled"], "disabled") if "disabled" in params else None
        with store.lock:
            endpoint, missing = endpoint_in_mode(we_id)
            if missing:
                return missing
            if url is not None:
                endpoint["url"] = url
            if events is not None:
                endpoint["enabled_events"] = events
            if disabled is not None:
                endpoint["status"] = "disabled" if disabled else "enabled"
            if "description" in params:
                endpoint["description"] = params["description"] or None
            endpoint["metadata"] = check_metadata(params.get("metadata"), endpoint["metadata"])
            body = endpoint_view(endpoint)
        log.info("webhook endpoint %s updated: status %s, url %s", we_id, body["status"], body["url"])
        return jsonify(body)

    @app.delete("/v1/webhook_endpoints/<we_id>")
    def delete_endpoint(we_id: str):
        with store.lock:
            _, missing = endpoint_in_mode(we_id)
            if missing:
                return missing
            del store.endpoints[we_id]
            queue = store.queues.pop(we_id)
            queue.closed = True
            queue.cv.notify()
        log.info("webhook endpoint %s deleted", we_id)
        return jsonify(id=we_id, object="webhook_endpoint", deleted=True)

    # -- stand-in control plane (no API key; loopback only) ---------------------------------------
    def admin_params() -> dict:
        if request.is_json:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise AdminError(400, "the JSON body must be an object")
            return body
        return parse_form(request.form)

    @app.errorhandler(AdminError)
    def _admin_error(exc: AdminError):
        return jsonify(error=exc.message), exc.status

    def admin_int(params: dict, name: str, default: int | None = None) -> int | None:
        value = params.get(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise AdminError(400, f"{name} must be an integer, got {value!r}") from None

    def admin_bool(params: dict, name: str, default: bool) -> bool:
        value = params.get(name)
        if value in (None, ""):
            return default
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("1", "true", "yes"):
            return True
        if text in ("0", "false", "no"):
            return False
        raise AdminError(400, f"{name} must be true or false, got {value!r}")

    def wait_requested() -> bool:
        return request.args.get("wait", "").lower() in ("1", "true", "yes")

    @app.get("/_standin/health")
    def standin_health():
        with store.lock:
            counts = {
                "intents": len(store.intents),
                "events": len(store.events),
                "deliveries": len(store.deliveries),
                "webhook_endpoints": len(store.endpoints),
                "clock_offset": store.clock_offset,
            }
        return jsonify(
            status="ok", webhook_url=cfg.webhook_url or None, auto_confirm=cfg.auto_confirm, **counts
        )

    @app.get("/_standin/clock")
    def standin_clock():
        with store.lock:
            return jsonify(now=store.now(), real=int(time.time()), offset=store.clock_offset)

    @app.post("/_standin/clock")
    def standin_set_clock():
        params = admin_params()
        given = [n for n in ("advance", "offset", "now") if params.get(n) not in (None, "")]
        if len(given) != 1:
            raise AdminError(400, "give exactly one of: advance (seconds), offset (seconds), now (unix time)")
        value = admin_int(params, given[0])
        with store.lock:
            if given[0] == "advance":
                store.clock_offset += value
            elif given[0] == "offset":
                store.clock_offset = float(value)
            else:
                store.clock_offset = float(value - time.time())
            now, offset = store.now(), store.clock_offset
        log.info("clock set: now %s (offset %+.0f s)", now, offset)
        return jsonify(now=now, real=int(time.time()), offset=offset)

    @app.get("/_standin/deliveries")
    def standin_deliveries():
        event_id = request.args.get("event")
        we_id = request.args.get("endpoint")
        with store.lock:
            data = [
                d
                for d in store.deliveries
                if (not event_id or d["event"] == event_id) and (not we_id or d["endpoint"] == we_id)
            ]
        return jsonify(object="list", data=data)

    @app.post("/_standin/events/<event_id>/redeliver")
    def standin_redeliver(event_id: str):
        with store.lock:
            event = store.events.get(event_id)
            if event is None:
                return jsonify(error=f"no such event: {event_id}"), 404
            if not store.endpoints:
                return jsonify(error="STRIPE_WEBHOOK_URL is empty: nowhere to deliver"), 409
            candidates = list(
                dict.fromkeys(
                    [we for we in store.targets.get(event_id, {}) if we in store.endpoints]
                    + matching_endpoints(event)
                )
            )
            enabled = [we for we in candidates if store.endpoints[we]["status"] == "enabled"]
            if not enabled:
                why = (
                    "every webhook endpoint for it is disabled"
                    if candidates
                    else "no webhook endpoint is for it"
                )
                return jsonify(error=f"event {event_id}: {why}: nowhere to deliver"), 409
            if not wait_requested():
                for we_id in enabled:
                    enqueue(event_id, we_id, "redeliver")
        log.info("redelivering %s to %s", event_id, ", ".join(enabled))
        if wait_requested():
            attempts = []
            delivered = True
            for we_id in enabled:
                tries = deliver_inline(event_id, we_id, "redeliver")
                attempts.extend(tries)
                delivered = delivered and bool(tries) and tries[-1]["ok"]
            return jsonify(event=event_id, delivered=delivered, attempts=attempts), (
                200 if delivered else 502
            )
        return jsonify(event=event_id, queued=True), 202

    # -- control plane: webhook endpoints ------------------------------------------------------
    def admin_endpoint(we_id: str) -> dict:
        endpoint = store.endpoints.get(we_id)
        if endpoint is None:
            raise AdminError(404, f"no such webhook endpoint: {we_id}")
        return endpoint

    def secret_view(we_id: str) -> dict:
        now = store.now()
        return {
            "id": we_id,
            "secret": store.endpoint_secrets[we_id][0]["secret"],
            "secrets": [
                {
                    "masked": mask_key(s["secret"]),
                    "expires_at": s["expires_at"],
                    "active": s["expires_at"] is None or s["expires_at"] > now,
                }
                for s in store.endpoint_secrets[we_id]
            ],
        }

    @app.get("/_standin/webhook_endpoints")
    def standin_endpoints():
        with store.lock:
            data = []
            for we_id, ep in store.endpoints.items():
                events = store.targets
                waiting = sum(1 for t in events.values() if we_id in t and not t[we_id]["delivered"])
                data.append({**copy(ep), "pending_events": waiting})
        return jsonify(object="list", data=data)

    @app.get("/_standin/webhook_endpoints/<we_id>/secret")
    def standin_endpoint_secret(we_id: str):
        with store.lock:
            admin_endpoint(we_id)
            return jsonify(secret_view(we_id))

    @app.post("/_standin/webhook_endpoints/<we_id>/secret")
    def standin_set_endpoint_secret(we_id: str):
        """Rotate the signing secret (Stripe's "Roll secret"); the old one may keep signing a while."""
        params = admin_params()
        secret = params.get("secret") or "whsec_" + _rand(32)
        if not isinstance(secret, str) or not secret.strip():
            raise AdminError(400, "secret must be a non-empty string")
        keep = admin_int(params, "expires_in", 0)
        with store.lock:
            admin_endpoint(we_id)
            now = store.now()
            old = [
                s for s in store.endpoint_secrets[we_id] if s["expires_at"] is None or s["expires_at"] > now
            ]
            for s in old:
                if keep > 0:
                    s["expires_at"] = min(s["expires_at"] or now + keep, now + keep)
            store.endpoint_secrets[we_id] = [{"secret": secret.strip(), "expires_at": None}] + (
                old if keep > 0 else []
            )
            body = secret_view(we_id)
        log.info(
            "webhook endpoint %s: signing secret rotated to %s (old one kept %d s)",
            we_id,
            mask_key(secret),
            keep,
        )
        return jsonify(body)

    @app.post("/_standin/webhook_endpoints/<we_id>/events/<event_id>/resend")
    def standin_resend(we_id: str, event_id: str):
        """The Dashboard's "Resend" for one endpoint: signed with its current secret, new timestamp."""
        with store.lock:
            admin_endpoint(we_id)
            event = store.events.get(event_id)
            if event is None:
                raise AdminError(404, f"no such event: {event_id}")
            problem = resend_problem(event, we_id)
            if problem:
                raise AdminError(409, problem)
            if not wait_requested():
                enqueue(event_id, we_id, "resend")
        log.info("resending %s to %s", event_id, we_id)
        if wait_requested():
            attempts = deliver_inline(event_id, we_id, "resend")
            ok = bool(attempts) and attempts[-1]["ok"]
            return jsonify(event=event_id, endpoint=we_id, delivered=ok, attempts=attempts), (
                200 if ok else 502
            )
        return jsonify(event=event_id, endpoint=we_id, queued=True), 202

    # -- control plane: API keys ------------------------------------------------------------------
    def admin_key(key_id: str) -> dict:
        rec = store.keys.get(key_id)
        if rec is None:
            raise AdminError(404, f"no such API key: {key_id}")
        return rec

    def check_permissions(value) -> dict:
        if not isinstance(value, dict):
            raise AdminError(400, 'a restricted key needs permissions, e.g. {"events": "read"}')
        out = {}
        for resource, level in value.items():
            if resource not in PERMISSIONS:
                raise AdminError(400, f"unknown resource {resource!r}: one of {', '.join(PERMISSIONS)}")
            if level not in LEVELS:
                raise AdminError(400, f"permission for {resource} must be one of {', '.join(LEVELS)}")
            out[resource] = level
        return {r: out.get(r, "none") for r in PERMISSIONS}

    @app.get("/_standin/api_keys")
    def standin_keys():
        with store.lock:
            return jsonify(object="list", data=[key_view(r) for r in store.keys.values()])

    @app.post("/_standin/api_keys")
    def standin_add_key():
        params = admin_params()
        key = params.get("key")
        livemode = admin_bool(params, "livemode", False)
        type_ = params.get("type") or ("restricted" if params.get("permissions") else "secret")
        if type_ not in ("secret", "restricted"):
            raise AdminError(400, "type must be secret or restricted")
        prefix = ("sk_" if type_ == "secret" else "rk_") + ("live_" if livemode else "test_")
        if key:
            m = re.match(r"^(sk|rk)_(test|live)_[A-Za-z0-9]{8,}$", str(key))
            if not m:
                raise AdminError(
                    400, "key must look like sk_test_/sk_live_/rk_test_/rk_live_ + 8 or more letters"
                )
            type_ = "secret" if m.group(1) == "sk" else "restricted"
        else:
            key = prefix + _rand(32)
        permissions = check_permissions(params.get("permissions")) if type_ == "restricted" else None
        with store.lock:
            if find_key(key):
                raise AdminError(409, f"the key {mask_key(key)} exists already")
            rec = add_key(key, permissions=permissions)
            body = key_view(rec, reveal=True)
        log.info("API key %s added: %s %s", rec["id"], type_, mask_key(key))
        return jsonify(body), 201

    @app.post("/_standin/api_keys/<key_id>/expire")
    def standin_expire_key(key_id: str):
        params = admin_params()
        delay = admin_int(params, "in", 0)
        with store.lock:
            rec = admin_key(key_id)
            rec["expires_at"] = store.now() + max(0, delay)
            body = key_view(rec)
        log.info("API key %s (%s) expires at %s", key_id, body["masked"], body["expires_at"])
        return jsonify(body)

    @app.post("/_standin/api_keys/<key_id>/roll")
    def standin_roll_key(key_id: str):
        """Stripe's "Roll key": a new key; the old one expires now or after `expires_in` seconds."""
        params = admin_params()
        keep = admin_int(params, "expires_in", 0)
        with store.lock:
            old = admin_key(key_id)
            if key_status(old) in ("deleted", "expired"):
                raise AdminError(409, f"API key {key_id} is {key_status(old)}: nothing to roll")
            prefix = re.match(r"^((?:sk|rk)_(?:test|live)_)", old["key"])
            new_key = (
                prefix.group(1) if prefix else ("sk_live_" if old["livemode"] else "sk_test_")
            ) + _rand(32)
            new = add_key(new_key, permissions=copy(old["permissions"]))
            old["expires_at"] = store.now() + max(0, keep)
            old["rolled_to"] = new["id"]
            body = {"rolled": key_view(old), **key_view(new, reveal=True)}
        log.info(
            "API key %s rolled to %s (%s); the old key expires at %s",
            key_id,
            new["id"],
            mask_key(new_key),
            old["expires_at"],
        )
        return jsonify(body)

    @app.post("/_standin/api_keys/<key_id>/restore")
    def standin_restore_key(key_id: str):
        with store.lock:
            rec = admin_key(key_id)
            rec["expires_at"], rec["deleted"] = None, False
            body = key_view(rec)
        log.info("API key %s (%s) restored", key_id, body["masked"])
        return jsonify(body)

    @app.delete("/_standin/api_keys/<key_id>")
    def standin_delete_key(key_id: str):
        with store.lock:
            rec = admin_key(key_id)
            rec["deleted"] = True
            body = key_view(rec)
        log.info("API key %s (%s) deleted", key_id, body["masked"])
        return jsonify(body)

    # -- control plane: a payment that reaches Stripe without the API -----------------------------
    @app.post("/_standin/payment_intents")
    def standin_payment():
        """A customer paid (or their card was declined) at Stripe: the intent and its event, no API call."""
        params = admin_params()
        try:
            amount, currency = check_amount_currency(params)
        except ApiError as exc:
            raise AdminError(400, exc.message) from None
        outcome = params.get("outcome") or "succeeded"
        if outcome not in ("succeeded", "failed"):
            raise AdminError(400, "outcome must be succeeded or failed")
        created = admin_int(params, "created")
        deliver = admin_bool(params, "deliver", True)
        with store.lock:
            livemode = admin_bool(params, "livemode", store.keys[DEFAULT_KEY_ID]["livemode"])
            intent = new_intent(params, amount, currency, livemode=livemode, created=created)
            store.intents[intent["id"]] = intent
            store.stamp(intent["id"])
            info = {"id": None, "idempotency_key": None}
            if outcome == "succeeded":
                event_id = succeed(
                    intent, request_info=info, created=created, deliver=deliver, trigger="admin"
                )
            else:
                intent["status"] = "requires_payment_method"
                intent["payment_method"] = intent["payment_method"] or "pm_" + _rand(24)
                intent["last_payment_error"] = {
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                    "message": "Your card was declined.",
                    "type": "card_error",
                }
                event_id = new_event(
                    "payment_intent.payment_failed",
                    intent,
                    request_info=info,
                    created=created,
                    deliver=deliver,
                    trigger="admin",
                )
            body = {"payment_intent": copy(intent), "event": render_event(store.events[event_id])}
        log.info(
            "payment_intent %s %s at Stripe (stand-in): %s %s, event %s%s",
            intent["id"],
            outcome,
            amount,
            currency,
            event_id,
            "" if deliver else " (not delivered)",
        )
        return jsonify(body), 201

    return app
