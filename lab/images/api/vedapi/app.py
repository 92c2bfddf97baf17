"""The vedfinance API stand-in: Flask app with the production API's endpoints and failure modes."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import jwt
import psycopg
import redis
import stripe
from flask import Flask, g, has_request_context, jsonify, request
from psycopg_pool import ConnectionPool
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.security import check_password_hash, generate_password_hash

from . import leak
from .config import Config

log = logging.getLogger("vedapi")
access_log = logging.getLogger("vedapi.access")

TOKEN_TTL = 3600  # seconds: JWT exp and the Redis session TTL
HEALTH_BUDGET = 2.5  # seconds for all health checks together (they run concurrently)
HEALTH_PG_POOL_WAIT = 1.5  # seconds to wait for a pooled connection in /health
# psycopg_pool backs off 1, 2, 4 s between reconnect attempts and gives up after this long;
# the next request then starts a fresh attempt, so recovery after an outage stays quick.
DB_RECONNECT_TIMEOUT = 10.0


class Unavailable(Exception):
    """A dependency is down: answered with 503 and the dependency's name."""

    def __init__(self, component: str, detail: str) -> None:
        super().__init__(f"{component}: {detail}")
        self.component = component
        self.detail = detail


def tagged(sql: str) -> str:
    """The statement with the route that sends it, as sqlcommenter writes it (a trailing
    /*route='%2Fcourses'*/ comment, URL-encoded): pg_stat_statements and pg_stat_activity then
    say which endpoint a statement comes from. '%' is doubled for psycopg's placeholders."""
    rule = request.url_rule.rule if has_request_context() and request.url_rule else ""
    if not rule:
        return sql
    route = urllib.parse.quote(rule, safe="").replace("%", "%%")
    return f"{sql} /*route='{route}'*/"


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no detail"
    return f"{type(exc).__name__}: {text}"[:300]


class Services:
    """Connections to PostgreSQL, Redis and Stripe, shared by all request threads."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.pool = ConnectionPool(
            cfg.database_url,
            min_size=1,
            max_size=cfg.db_pool_max,
            timeout=cfg.db_pool_timeout,
            reconnect_timeout=DB_RECONNECT_TIMEOUT,
            max_idle=60,
            name="vedfinance",
            kwargs={"connect_timeout": 2, "application_name": f"vedapi/{cfg.api_version}"},
            open=False,
        )
        self.pool.open(wait=False)  # serve (and report 503) even while PostgreSQL is down
        self.redis = redis.Redis.from_url(
            cfg.redis_url,
            socket_connect_timeout=1,
            socket_timeout=1,
            health_check_interval=30,
            decode_responses=True,
        )
        stripe.api_base = cfg.stripe_api_base
        stripe.max_network_retries = 0
        stripe.enable_telemetry = False
        stripe.default_http_client = stripe.http_client.RequestsClient(timeout=10)
        # Health checks run in their own threads so a hung dependency (e.g. `docker pause`)
        # cannot hold /health past its budget.
        self.health_pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="health")

    # -- PostgreSQL ---------------------------------------------------------------------------
    def db(self, fn, timeout: float | None = None):
        """Run fn(conn) on a pooled connection (committed on success).

        A connection found broken (PostgreSQL restarted since it was pooled) makes the pool
        check its idle connections and the call is retried once. Pool timeouts and connection
        failures raise Unavailable('postgres').
        """
        for attempt in (1, 2):
            conn = None
            try:
                with self.pool.connection(timeout=timeout) as conn:
                    return fn(conn)
            except psycopg.OperationalError as exc:
                if attempt == 1 and conn is not None and conn.broken:
                    log.warning("postgres connection lost (%s); checking pool and retrying", _describe(exc))
                    self.pool.check()
                    continue
                raise Unavailable("postgres", _describe(exc)) from exc
        raise AssertionError("unreachable")

    # -- Redis --------------------------------------------------------------------------------
    def r(self, fn):
        try:
            return fn(self.redis)
        except redis.RedisError as exc:
            raise Unavailable("redis", _describe(exc)) from exc


# -- health checks ----------------------------------------------------------------------------
def _check_postgres(svc: Services) -> dict:
    t0 = time.perf_counter()
    value = svc.db(lambda c: c.execute("SELECT 1").fetchone()[0], timeout=HEALTH_PG_POOL_WAIT)
    if value != 1:
        raise RuntimeError(f"SELECT 1 returned {value!r}")
    return {"ok": True, "ms": round((time.perf_counter() - t0) * 1000, 1)}


def _check_redis(svc: Services) -> dict:
    t0 = time.perf_counter()
    svc.r(lambda r: r.ping())
    # PING also answers when Redis refuses writes (maxmemory, MISCONF); sessions need writes.
    svc.r(lambda r: r.set("health:probe", str(time.time()), ex=30))
    return {"ok": True, "ms": round((time.perf_counter() - t0) * 1000, 1)}


def _check_data_dir(svc: Services) -> dict:
    t0 = time.perf_counter()
    path = os.path.join(svc.cfg.data_dir, f".health-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(path, "wb") as fh:
            fh.write(b"x" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    return {"ok": True, "ms": round((time.perf_counter() - t0) * 1000, 1), "path": svc.cfg.data_dir}


def create_app(cfg: Config, svc: Services | None = None) -> Flask:
    svc = svc or Services(cfg)
    app = Flask("vedapi")
    app.json.sort_keys = False
    allowed_origins = set(cfg.cors_origins)
    # A hash to check against when the email is unknown, so both cases cost one PBKDF2 run.
    dummy_hash = generate_password_hash(uuid.uuid4().hex)

    # -- request log + CORS ---------------------------------------------------------------------
    @app.before_request
    def _start():
        g.t0 = time.perf_counter()
        if (
            request.method == "OPTIONS"
            and request.headers.get("Origin")
            and request.headers.get("Access-Control-Request-Method")
        ):
            resp = app.response_class(status=204)
            if request.headers["Origin"].rstrip("/") in allowed_origins:
                resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
                resp.headers["Access-Control-Allow-Headers"] = request.headers.get(
                    "Access-Control-Request-Headers", "Authorization, Content-Type"
                )
                resp.headers["Access-Control-Max-Age"] = "600"
            return resp
        return None

    @app.after_request
    def _finish(resp):
        origin = request.headers.get("Origin")
        if origin:
            resp.headers.add("Vary", "Origin")
            if origin.rstrip("/") in allowed_origins:
                resp.headers["Access-Control-Allow-Origin"] = origin
        elapsed = (time.perf_counter() - g.get("t0", time.perf_counter())) * 1000
        access_log.info(
            '%s "%s %s" %s %.1fms%s',
            request.remote_addr,
            request.method,
            request.full_path.rstrip("?"),
            resp.status_code,
            elapsed,
            f" origin={origin}" if origin else "",
        )
        return resp

    # -- errors --------------------------------------------------------------------------------
    @app.errorhandler(Unavailable)
    def _unavailable(exc: Unavailable):
        log.error("%s %s: dependency unavailable: %s", request.method, request.path, exc)
        return jsonify(error=f"{exc.component} unavailable", failed=[exc.component], detail=exc.detail), 503

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return jsonify(error=exc.name.lower(), detail=exc.description), exc.code

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        log.exception("%s %s: unhandled error", request.method, request.path)
        return jsonify(error="internal error", detail=_describe(exc)), 500

    def body() -> dict:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise BadRequest("expected a JSON object body")
        return data

    # -- health --------------------------------------------------------------------------------
    @app.get("/health")
    def health():
        deadline = time.monotonic() + HEALTH_BUDGET
        futures = {
            "postgres": svc.health_pool.submit(_check_postgres, svc),
            "redis": svc.health_pool.submit(_check_redis, svc),
            "data_dir": svc.health_pool.submit(_check_data_dir, svc),
        }
        checks, failed = {}, []
        for name, fut in futures.items():
            try:
                checks[name] = fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                checks[name] = {"ok": False, "error": f"no answer within {HEALTH_BUDGET}s"}
            except Unavailable as exc:
                checks[name] = {"ok": False, "error": exc.detail}
            except Exception as exc:
                checks[name] = {"ok": False, "error": _describe(exc)}
            if not checks[name]["ok"]:
                failed.append(name)
        stats = svc.pool.get_stats()
        checks["postgres"]["pool"] = {
            "max": cfg.db_pool_max,
            "size": stats.get("pool_size"),
            "available": stats.get("pool_available"),
            "waiting": stats.get("requests_waiting"),
        }
        extra = {"leak_mb_per_sec": leak.rate(), "leaked_mb": round(leak.leaked_mb(), 1)}
        if failed:
            log.warning("health check failed: %s", ", ".join(f"{n} ({checks[n]['error']})" for n in failed))
            return jsonify(status="fail", version=cfg.api_version, failed=failed, checks=checks, **extra), 503
        return jsonify(status="ok", version=cfg.api_version, checks=checks, **extra)

    # -- auth ----------------------------------------------------------------------------------
    @app.post("/auth/login")
    def login():
        data = body()
        email, password = data.get("email"), data.get("password")
        if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
            return jsonify(error="email and password are required"), 400
        email = email.strip().lower()
        row = svc.db(
            lambda c: c.execute(
                "SELECT id, email, password_hash FROM users WHERE email = %s", (email,)
            ).fetchone()
        )
        ok = check_password_hash(row[2] if row else dummy_hash, password)
        if not row or not ok:
            log.info("login refused for %s", email)
            return jsonify(error="invalid credentials"), 401
        now = int(time.time())
        jti = uuid.uuid4().hex
        claims = {"sub": str(row[0]), "email": row[1], "iat": now, "exp": now + TOKEN_TTL, "jti": jti}
        token = jwt.encode(claims, cfg.jwt_secret, algorithm="HS256")
        session = json.dumps({"user_id": row[0], "email": row[1], "iat": now})
        svc.r(lambda r: r.set(f"session:{jti}", session, ex=TOKEN_TTL))
        log.info("login ok for user %s (session %s)", row[0], jti)
        return jsonify(token=token, token_type="Bearer", expires_in=TOKEN_TTL)  # noqa: S106 - a scheme name

    def current_claims():
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "missing bearer token"
        try:
            claims = jwt.decode(
                token.strip(),
                cfg.jwt_secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub", "jti"]},
            )
        except jwt.InvalidTokenError as exc:
            return None, f"invalid token ({type(exc).__name__})"
        if not svc.r(lambda r: r.exists(f"session:{claims['jti']}")):
            return None, "session not found (expired or logged out)"
        return claims, None

    @app.get("/auth/me")
    def me():
        claims, why = current_claims()
        if claims is None:
            return jsonify(error="unauthorized", detail=why), 401
        return jsonify(id=int(claims["sub"]), email=claims.get("email"), jti=claims["jti"], exp=claims["exp"])

    @app.post("/auth/logout")
    def logout():
        claims, why = current_claims()
        if claims is None:
            return jsonify(error="unauthorized", detail=why), 401
        svc.r(lambda r: r.delete(f"session:{claims['jti']}"))
        return jsonify(logged_out=True)

    # -- payments ------------------------------------------------------------------------------
    def payment_json(row) -> dict:
        return {
            "id": row[0],
            "intent_id": row[1],
            "amount": row[2],
            "currency": row[3],
            "status": row[4],
            "created_at": row[5].isoformat(),
            "updated_at": row[6].isoformat(),
        }

    @app.post("/payments")
    def create_payment():
        data = body()
        amount, currency, email = data.get("amount"), data.get("currency", "usd"), data.get("email")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            return jsonify(error="amount must be a positive integer (cents)"), 400
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
            return jsonify(error="currency must be a 3-letter ISO code"), 400
        if email is not None and not isinstance(email, str):
            return jsonify(error="email must be a string"), 400
        currency = currency.lower()
        params = {"amount": amount, "currency": currency}
        if email:
            params.update(receipt_email=email, metadata={"email": email})
        try:
            intent = stripe.PaymentIntent.create(api_key=cfg.stripe_secret_key, **params)
        except stripe.error.AuthenticationError as exc:
            # Stripe's message shows only the key's last 4 characters; the key itself is never logged.
            log.error(
                "stripe authentication failed (HTTP %s): %s; check STRIPE_SECRET_KEY",
                exc.http_status,
                exc.user_message,
            )
            return jsonify(
                error="stripe authentication failed: the Stripe API rejected STRIPE_SECRET_KEY",
                upstream="stripe",
                stripe_error="authentication_error",
            ), 502
        except stripe.error.APIConnectionError as exc:
            log.error("stripe unreachable at %s: %s", cfg.stripe_api_base, exc.user_message)
            return jsonify(error="stripe unreachable", upstream="stripe", detail=exc.user_message), 502
        except stripe.error.StripeError as exc:
            log.error("stripe error %s (HTTP %s): %s", type(exc).__name__, exc.http_status, exc.user_message)
            return jsonify(
                error=f"stripe error: {exc.user_message}", upstream="stripe", stripe_error=type(exc).__name__
            ), 502
        # The webhook may already have arrived (auto-confirm): never downgrade a paid record.
        row = svc.db(
            lambda c: c.execute(
                "INSERT INTO payments (intent_id, amount, currency, status) VALUES (%s, %s, %s, 'pending') "
                "ON CONFLICT (intent_id) DO UPDATE "
                "SET amount = EXCLUDED.amount, currency = EXCLUDED.currency "
                "RETURNING id, status",
                (intent.id, amount, currency),
            ).fetchone()
        )
        log.info("payment %s created: intent %s, %s %s", row[0], intent.id, amount, currency)
        return jsonify(id=row[0], intent_id=intent.id, client_secret=intent.client_secret, status=row[1]), 201

    @app.get("/payments/<intent_id>")
    def get_payment(intent_id: str):
        row = svc.db(
            lambda c: c.execute(
                "SELECT id, intent_id, amount, currency, status, created_at, updated_at "
                "FROM payments WHERE intent_id = %s",
                (intent_id,),
            ).fetchone()
        )
        if row is None:
            return jsonify(error="payment not found", intent_id=intent_id), 404
        return jsonify(payment_json(row))

    @app.post("/webhooks/stripe")
    def stripe_webhook():
        payload = request.get_data()
        header = request.headers.get("Stripe-Signature", "")
        try:
            event = stripe.Webhook.construct_event(payload, header, cfg.stripe_webhook_secret)
        except stripe.error.SignatureVerificationError as exc:
            log.warning("stripe webhook rejected: %s (check STRIPE_WEBHOOK_SECRET)", exc.user_message)
            return jsonify(error="invalid signature"), 400
        except ValueError:
            log.warning("stripe webhook rejected: payload is not valid JSON")
            return jsonify(error="invalid payload"), 400
        obj = (event.get("data") or {}).get("object") or {}
        if not all(key in obj for key in ("id", "amount", "currency")):
            log.warning("stripe webhook %s rejected: the payment intent lacks id, amount or currency",
                        event.get("id"))
            return jsonify(error="malformed event: data.object needs id, amount and currency"), 400
        if event["type"] == "payment_intent.succeeded":
            sql = (
                "INSERT INTO payments (intent_id, amount, currency, status) VALUES (%s, %s, %s, 'paid') "
                "ON CONFLICT (intent_id) DO UPDATE SET status = 'paid', updated_at = now() "
                "WHERE payments.status <> 'paid'"
            )
        elif event["type"] == "payment_intent.payment_failed":
            sql = (
                "INSERT INTO payments (intent_id, amount, currency, status) VALUES (%s, %s, %s, 'failed') "
                "ON CONFLICT (intent_id) DO UPDATE SET status = 'failed', updated_at = now() "
                "WHERE payments.status NOT IN ('paid', 'failed')"
            )
        else:
            log.info("stripe webhook %s (%s) ignored", event["id"], event["type"])
            return jsonify(received=True)
        changed = svc.db(lambda c: c.execute(sql, (obj["id"], obj["amount"], obj["currency"])).rowcount)
        log.info(
            "stripe webhook %s %s for %s: %s",
            event["id"],
            event["type"],
            obj["id"],
            "recorded" if changed else "already recorded (no change)",
        )
        return jsonify(received=True)

    # -- courses -------------------------------------------------------------------------------
    @app.get("/courses")
    def courses():
        category = request.args.get("category", "").strip()
        if not category:
            return jsonify(error="category query parameter is required"), 400

        def query(c):
            t0 = time.perf_counter()
            page = "SELECT id, title, category, price FROM courses WHERE category = %s ORDER BY id LIMIT 50"
            rows = c.execute(tagged(page), (category,)).fetchall()
            count_sql = tagged("SELECT count(*) FROM courses WHERE category = %s")
            count = c.execute(count_sql, (category,)).fetchone()[0]
            return rows, count, (time.perf_counter() - t0) * 1000

        rows, count, elapsed = svc.db(query)
        return jsonify(
            category=category,
            count=count,
            returned=len(rows),
            elapsed_ms=round(elapsed, 2),
            courses=[{"id": r[0], "title": r[1], "category": r[2], "price": r[3]} for r in rows],
        )

    @app.get("/courses/featured")
    def featured_courses():
        """The newest 25 courses of a category, written as an N+1 on purpose (the p1-slow-queries
        drill): one query for the ids, then one query per course, as an ORM's lazy loading does."""
        category = request.args.get("category", "wealth-management").strip()

        def query(c):
            t0 = time.perf_counter()
            ids = [r[0] for r in c.execute(
                tagged("SELECT id FROM courses WHERE category = %s ORDER BY id DESC LIMIT 25"), (category,))]
            rows = [c.execute(tagged("SELECT id, title, category, price FROM courses WHERE id = %s"),
                              (course_id,)).fetchone() for course_id in ids]
            return rows, (time.perf_counter() - t0) * 1000

        rows, elapsed = svc.db(query)
        return jsonify(
            category=category,
            returned=len(rows),
            queries=len(rows) + 1,
            elapsed_ms=round(elapsed, 2),
            courses=[{"id": r[0], "title": r[1], "category": r[2], "price": r[3]} for r in rows],
        )

    # -- fault injection ---------------------------------------------------------------------------
    @app.post("/debug/leak")
    def debug_leak():
        rate = body().get("mb_per_sec")
        if not isinstance(rate, int | float) or isinstance(rate, bool) or rate < 0:
            return jsonify(error="mb_per_sec must be a number >= 0"), 400
        leak.set_rate(float(rate))
        return jsonify(leak_mb_per_sec=leak.rate(), leaked_mb=round(leak.leaked_mb(), 1))

    app.extensions["vedapi.services"] = svc
    return app
