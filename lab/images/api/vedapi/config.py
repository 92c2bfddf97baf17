"""Configuration from environment variables (see ../README.md for the full list).

Secrets are read here and never logged or echoed: `Config.summary()` is the only view
of the configuration that is ever printed.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

EX_CONFIG = 78  # sysexits.h: configuration error

REQUIRED_SECRETS = ("JWT_SECRET", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")

DEFAULTS = {
    "API_PORT": "3001",
    "API_BIND": "127.0.0.1",
    "DATABASE_URL": "postgresql://vedfinance@127.0.0.1:5432/vedfinance",
    "DB_POOL_MAX": "5",
    "DB_POOL_TIMEOUT": "3",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "CORS_ORIGINS": "",
    "STRIPE_API_BASE": "http://127.0.0.1:12111",
    "DATA_DIR": "/data",
    "API_VERSION": "dev",
    "API_LEAK_MB_PER_SEC": "0",
}


class ConfigError(Exception):
    """A configuration problem: the process prints the message and exits with EX_CONFIG."""


def is_loopback_host(host: str | None) -> bool:
    """True for an empty host (local default), a unix socket path, `localhost` or a 127/8 or ::1
    literal. Names are never resolved: a DNS lookup would itself leave loopback."""
    if not host:
        return True
    host = host.strip().strip("[]")
    if host.startswith("/") or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mask_url(url: str) -> str:
    """The URL with any password replaced by `***` (safe to log)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable>"
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Config:
    api_port: int
    api_bind: str
    database_url: str = field(repr=False)
    db_pool_max: int
    db_pool_timeout: float
    redis_url: str = field(repr=False)
    jwt_secret: str = field(repr=False)
    cors_origins: tuple[str, ...]
    stripe_secret_key: str = field(repr=False)
    stripe_webhook_secret: str = field(repr=False)
    stripe_api_base: str
    data_dir: str
    api_version: str
    leak_mb_per_sec: float

    def summary(self) -> str:
        """One line describing the configuration, without any secret value."""
        return (
            f"version={self.api_version} bind={self.api_bind}:{self.api_port} "
            f"db={mask_url(self.database_url)} pool_max={self.db_pool_max} "
            f"pool_timeout={self.db_pool_timeout}s redis={mask_url(self.redis_url)} "
            f"stripe_api_base={self.stripe_api_base} cors_origins={','.join(self.cors_origins) or '-'} "
            f"data_dir={self.data_dir} leak_mb_per_sec={self.leak_mb_per_sec}"
        )


def _int(env: dict[str, str], name: str, lo: int, hi: int) -> int:
    raw = env.get(name) or DEFAULTS[name]
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(env: dict[str, str], name: str, lo: float) -> float:
    raw = env.get(name) or DEFAULTS[name]
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < lo:
        raise ConfigError(f"{name} must be >= {lo}, got {value}")
    return value


def _db_hosts(url: str) -> list[str]:
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
    except Exception as exc:
        raise ConfigError(f"DATABASE_URL is not a valid PostgreSQL connection string ({exc})") from None
    hosts = []
    for key in ("host", "hostaddr"):
        hosts += [h for h in str(params.get(key) or "").split(",") if h]
    return hosts


def load(env: dict[str, str] | None = None) -> Config:
    """Read and validate the configuration. Raises ConfigError with a one-line message."""
    env = dict(os.environ if env is None else env)

    missing = [name for name in REQUIRED_SECRETS if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(
            "missing required environment variable(s): " + ", ".join(missing) + " (refusing to start)"
        )

    def get(name: str) -> str:
        return (env.get(name) or DEFAULTS[name]).strip()

    cfg = Config(
        api_port=_int(env, "API_PORT", 1, 65535),
        api_bind=get("API_BIND"),
        database_url=get("DATABASE_URL"),
        db_pool_max=_int(env, "DB_POOL_MAX", 1, 100),
        db_pool_timeout=_float(env, "DB_POOL_TIMEOUT", 0.1),
        redis_url=get("REDIS_URL"),
        jwt_secret=env["JWT_SECRET"],
        cors_origins=tuple(o.strip().rstrip("/") for o in get("CORS_ORIGINS").split(",") if o.strip()),
        stripe_secret_key=env["STRIPE_SECRET_KEY"].strip(),
        stripe_webhook_secret=env["STRIPE_WEBHOOK_SECRET"].strip(),
        stripe_api_base=get("STRIPE_API_BASE").rstrip("/"),
        data_dir=get("DATA_DIR"),
        api_version=get("API_VERSION"),
        leak_mb_per_sec=_float(env, "API_LEAK_MB_PER_SEC", 0.0),
    )

    # Lab network rule: nothing talks to, or listens on, anything but 127.0.0.0/8.
    if not is_loopback_host(cfg.api_bind) or cfg.api_bind.startswith("/"):
        raise ConfigError(f"API_BIND must be a loopback address (lab network rule), got {cfg.api_bind!r}")
    for host in _db_hosts(cfg.database_url):
        if not is_loopback_host(host):
            raise ConfigError(f"DATABASE_URL host must be loopback (lab network rule), got {host!r}")
    redis_parts = urlsplit(cfg.redis_url)
    if redis_parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"REDIS_URL must be redis://, rediss:// or unix://, got {redis_parts.scheme!r}")
    if redis_parts.scheme != "unix" and not is_loopback_host(redis_parts.hostname):
        raise ConfigError(f"REDIS_URL host must be loopback (lab network rule), got {redis_parts.hostname!r}")
    stripe_parts = urlsplit(cfg.stripe_api_base)
    if stripe_parts.scheme not in ("http", "https") or not stripe_parts.hostname:
        raise ConfigError(f"STRIPE_API_BASE must be an http(s) URL, got {cfg.stripe_api_base!r}")
    if not is_loopback_host(stripe_parts.hostname):
        raise ConfigError(
            f"STRIPE_API_BASE host must be loopback (lab network rule), got {stripe_parts.hostname!r}"
        )
    return cfg
