"""Docker env files (`KEY=VALUE` per line, as `docker run --env-file` reads them) and secret
fingerprints. The values never leave this host: what is returned is whether a key is set and a
keyed fingerprint of its value (HMAC-SHA256 under a key the controller makes for the run and
never keeps, 16 hex digits), so the controller can compare it with the declared value's
fingerprint under the same key. Without the key, a fingerprint in a run's records cannot be
tested against guesses of the secret."""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile


def parse(text):
    """An env file's variables, in order (comments, blank lines and bare names skipped)."""
    env = {}
    for raw in text.splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        env[key] = value
    return env


def read(path):
    with open(path, encoding="utf-8") as handle:
        return parse(handle.read())


def render(env):
    for key, value in env.items():
        if not key or "=" in key or any(c in key + value for c in "\r\n\0"):
            raise ValueError(f"{key!r}: a name without '=' and values without line breaks are required")
    return "".join(f"{key}={value}\n" for key, value in env.items())


def fingerprint(value, nonce):
    """HMAC-SHA256(nonce, value), 16 hex digits; '' for an unset or empty value."""
    if not value:
        return ""
    return hmac.new(nonce.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


def content_name(env):
    """The 12 hex digits an env file is named by (roles/container_deploy's rule: the sha256 of
    the environment as sorted JSON)."""
    import json

    text = json.dumps(env, sort_keys=True, separators=(", ", ": "))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def write_private(path, text):
    """Write atomically with mode 0600 (a crash leaves the old file or none, never half)."""
    folder = os.path.dirname(path) or "."
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=".vedrun-env-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
