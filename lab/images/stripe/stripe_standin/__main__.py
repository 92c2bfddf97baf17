"""Entry point: `python3 -m stripe_standin` reads the environment and serves with waitress."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import signal
import sys
from urllib.parse import urlsplit

EX_CONFIG = 78


def _loopback(host: str | None) -> bool:
    """A literal 127/8 or ::1 address, or `localhost` (names are never resolved)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _number(env, name: str, default: str, kind=float):
    text = env.get(name, "").strip() or default
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {text!r}") from None


def load_settings(env):
    from .app import Settings

    missing = [n for n in ("STRIPE_SECRET_KEY",) if not env.get(n, "").strip()]
    url = env.get("STRIPE_WEBHOOK_URL", "").strip()
    if url and not env.get("STRIPE_WEBHOOK_SECRET", "").strip():
        missing.append("STRIPE_WEBHOOK_SECRET")
    if missing:
        raise ValueError(
            "missing required environment variable(s): " + ", ".join(missing) + " (refusing to start)"
        )
    bind = env.get("STRIPE_BIND", "").strip() or "127.0.0.1"
    if not _loopback(bind):
        raise ValueError(f"STRIPE_BIND must be a loopback address (lab network rule), got {bind!r}")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not _loopback(parts.hostname):
            raise ValueError(
                f"STRIPE_WEBHOOK_URL must be an http(s) URL on loopback (lab network rule), got {url!r}"
            )
    endpoint_id = env.get("STRIPE_WEBHOOK_ENDPOINT_ID", "").strip()
    if endpoint_id and not re.fullmatch(r"we_[A-Za-z0-9_]{1,64}", endpoint_id):
        raise ValueError(
            f"STRIPE_WEBHOOK_ENDPOINT_ID must look like we_<letters and digits>, got {endpoint_id!r}"
        )
    port = _number(env, "STRIPE_PORT", "12111", int)
    retries = _number(env, "STRIPE_WEBHOOK_RETRIES", "3", int)
    interval = _number(env, "STRIPE_WEBHOOK_RETRY_INTERVAL", "1")
    max_interval = _number(env, "STRIPE_WEBHOOK_RETRY_MAX_INTERVAL", "60")
    clock_offset = _number(env, "STRIPE_CLOCK_OFFSET", "0", int)
    auto = env.get("STRIPE_AUTO_CONFIRM", "").strip() or "1"
    if auto not in ("0", "1"):
        raise ValueError(f"STRIPE_AUTO_CONFIRM must be 0 or 1, got {auto!r}")
    return Settings(
        port=port,
        bind=bind,
        secret_key=env["STRIPE_SECRET_KEY"].strip(),
        webhook_secret=env.get("STRIPE_WEBHOOK_SECRET", "").strip(),
        webhook_url=url,
        auto_confirm=auto == "1",
        retries=max(0, retries),
        retry_interval=max(0.0, interval),
        retry_max_interval=max(0.0, max_interval),
        clock_offset=float(clock_offset),
        webhook_endpoint_id=endpoint_id,
    )


def main() -> int:
    try:
        cfg = load_settings(os.environ)
    except ValueError as exc:
        print(f"stripe-standin: configuration error: {exc}", file=sys.stderr, flush=True)
        return EX_CONFIG

    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    log = logging.getLogger("stripe-standin")

    import waitress

    from .app import create_app, mask_key

    app = create_app(cfg)

    def stop(signum, _frame):
        log.info("received %s, shutting down", signal.Signals(signum).name)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)  # PID 1 ignores SIGTERM unless it is handled
    signal.signal(signal.SIGINT, stop)
    try:
        server = waitress.create_server(app, host=cfg.bind, port=cfg.port, threads=6, ident="stripe-standin")
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", cfg.bind, cfg.port, exc)
        return 1
    log.info(
        "stripe stand-in on http://%s:%s key=%s webhook_url=%s auto_confirm=%s retries=%d "
        "backoff %ss doubling up to %ss clock_offset=%+ds",
        cfg.bind,
        cfg.port,
        mask_key(cfg.secret_key),
        cfg.webhook_url or "-",
        int(cfg.auto_confirm),
        cfg.retries,
        cfg.retry_interval,
        cfg.retry_max_interval,
        int(cfg.clock_offset),
    )
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
