"""The p1-login-failure verdict on one probe (vedrun.kit.login_probe): what still stops users
from logging in, each problem with what the service answered. Shared by the probe (which waits
on the host until the list is empty) and the runbook's verify filter."""

from __future__ import annotations


def _said(check):
    return f"{check.get('reason')}{': ' + check['error'] if check.get('error') else ''}"


def problems(probe, fingerprint="", origins=None):
    """The problems left: [] when the canary logs in, its token works, every preflight is right,
    Redis takes writes, and the API runs with the expected secret (by fingerprint) and origins."""
    found = []
    login, protected = probe.get("login") or {}, probe.get("protected") or {}
    if not login.get("skipped") and not login.get("ok"):
        found.append(f"canary login: {_said(login)}")
    if login.get("ok") and not protected.get("ok"):
        found.append(f"protected call: {_said(protected)}")
    for check in probe.get("cors") or []:
        if not check.get("ok"):
            found.append(f"CORS preflight from {check['origin']}: {', '.join(check['problems'])}")
    redis = probe.get("redis") or {}
    if not (redis.get("ping") or {}).get("ok"):
        found.append(f"Redis PING: {(redis.get('ping') or {}).get('error') or 'no answer'}")
    elif not (redis.get("write") or {}).get("ok"):
        found.append(f"Redis write: {(redis.get('write') or {}).get('error')}")
    env = (probe.get("api") or {}).get("env") or {}
    secret = env.get("secret") or {}
    if fingerprint and secret.get("fingerprint") != fingerprint:
        found.append("the API's JWT secret is " + ("missing" if not secret.get("set")
                                                   else "not the vault's (the fingerprints differ)"))
    if origins and sorted(set(env.get("origins") or [])) != sorted(set(origins)):
        found.append(f"the API allows {', '.join(env.get('origins') or []) or 'no origin'}, "
                     f"the environment declares {', '.join(origins)}")
    return found
