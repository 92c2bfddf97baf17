#!/usr/bin/python
"""Ansible module: can users log in, and if not, why: every signal of p1-login-failure in one
round trip on the host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: login_probe
short_description: Log in as the canary, call a protected endpoint, check CORS, Redis and the API's settings
description:
  - >-
    Read-only. From the host, as a user would: a login with the canary account, a protected call
    with the token it got, a CORS preflight from each allowed origin and from one that must be
    refused; Redis answering PING and accepting a write (a Redis that refuses writes still answers
    PING), with its persistence and memory state; the API's health.
  - >-
    The API's settings as it runs (its container's environment) and as its newest deploy declares
    them (the deploy's env file): whether the signing secret is set and its keyed fingerprint
    (HMAC-SHA256 under C(nonce)), never its value; the allowed origins as a list.
  - >-
    Returns no secret: the canary's password is an input only, the token is never returned, the
    login's answer is returned only when it is an error, the container's environment only as above.
options:
  api_url: {description: The API's base URL from the host., type: str, required: true}
  login_path:
    {description: The login endpoint (POST JSON email and password)., type: str, default: /auth/login}
  protected_path: {description: An endpoint that needs the bearer token., type: str, default: /auth/me}
  health_path: {description: The API's health endpoint., type: str, default: /health}
  canary_email: {description: The canary account's email; '' skips the login., type: str, default: ""}
  canary_password:
    {description: The canary account's password (from the vault)., type: str, default: "", no_log: true}
  origins:
    {description: The origins browsers may call the API from (exact)., type: list, elements: str, default: []}
  refused_origin: {description: An origin the API must refuse., type: str, default: ""}
  api_container: {description: The API's container., type: str, required: true}
  secret_env: {description: The variable holding the JWT signing secret., type: str, default: JWT_SECRET}
  origins_env:
    {description: The variable of the allowed origins (comma-separated)., type: str, default: CORS_ORIGINS}
  deploy_history: {description: The API's deploy history on the host., type: path, required: true}
  redis_container: {description: Redis's container., type: str, required: true}
  redis_host: {description: Redis's address on the host., type: str, default: 127.0.0.1}
  redis_port: {description: Redis's port., type: int, default: 6379}
  redis_password_env:
    description: The variable of Redis's container holding its password, if any.
    type: str
    default: REDIS_PASSWORD
  nonce:
    description: >-
      The key of the fingerprints, made by the caller for the run and never returned (without it a
      random one: fingerprints are then comparable within this call only).
    type: str
    default: ""
    no_log: true
  timeout: {description: Seconds per request., type: float, default: 5}
  wait_seconds:
    description: >-
      Probe again until nothing stops users (login, token, preflights, Redis writes, and the
      expected secret and origins below), for up to this many seconds; 0 probes once.
    type: float
    default: 0
  expect_fingerprint: {description: The secret's expected fingerprint under C(nonce)., type: str, default: ""}
  expect_origins: {description: The origins the API must run with., type: list, elements: str, default: []}
"""

RETURN = r"""
login:
  description: status, ok, seconds, reason, error (the API's error and detail, when not 2xx), token (bool)
  type: dict
  returned: always
protected: {description: "status, ok, reason, error; skipped without a token", type: dict, returned: always}
cors:
  description: >-
    [{origin, expect (allow|refuse), status, allow_origin, allow_credentials, vary_origin, problems, ok}]
  type: list
  returned: always
redis:
  description: container, ping, write, info (persistence and memory), config
  type: dict
  returned: always
api:
  description: container (state), env {secret {set, fingerprint}, origins}, health {status, failed, redis}
  type: dict
  returned: always
deploy:
  description: entries, newest {index, image, reason, deployed_at, env_file}, env as above, problem
  type: dict
  returned: always
problems: {description: What still stops users (vedrun.kit.login_verdict)., type: list, returned: always}
attempts: {description: Probes made., type: int, returned: always}
waited: {description: Seconds spent waiting., type: float, returned: always}
"""

import json
import secrets
import time
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import (
    deploys,
    docker_cli,
    env_file,
    http_probe,
    login_verdict,
    polling,
    resp,
)

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
PERSISTENCE = ("rdb_bgsave_in_progress", "rdb_last_bgsave_status", "rdb_changes_since_last_save",
               "rdb_last_save_time", "aof_enabled", "aof_last_write_status", "loading")
MEMORY = ("used_memory", "maxmemory", "maxmemory_policy", "mem_fragmentation_ratio")
CONFIG = ("maxmemory", "maxmemory-policy", "stop-writes-on-bgsave-error", "save", "appendonly")


def request(url, timeout, method="GET", body=None, headers=None):
    """One request with the whole answer kept in memory: {status, ok, seconds, reason, slow,
    headers, text}. Only what a caller picks from it is ever returned."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method=method,  # noqa: S310 - the API's http(s) URL
                                 headers=headers or {})
    started = time.monotonic()
    status, answer_headers, text, reason, slow = None, None, "", "", False
    try:
        with http_probe._OPENER.open(req, timeout=timeout) as response:  # the kit's: no proxy, no redirect
            status, answer_headers = response.status, response.headers
            text = response.read(256 * 1024).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        status, answer_headers = error.code, error.headers
        text = error.read(64 * 1024).decode("utf-8", "replace") if error.fp else ""
    except (TimeoutError, OSError, ValueError) as error:
        cause = getattr(error, "reason", error)
        if isinstance(cause, TimeoutError) or "timed out" in str(cause):
            slow, reason = True, f"no answer within {timeout:g} s"
        else:
            reason = str(getattr(cause, "strerror", None) or cause)
    if status is not None:
        reason = f"HTTP {status}"
    return {"status": status, "ok": status is not None and 200 <= status < 300, "slow": slow,
            "seconds": round(time.monotonic() - started, 3), "reason": reason,
            "headers": answer_headers, "text": text}


def _error_of(answer):
    """The API's own words of an error answer: its `error` and `detail` fields (or the text)."""
    try:
        body = json.loads(answer["text"])
    except ValueError:
        return " ".join(answer["text"].split())[:200]
    if not isinstance(body, dict):
        return ""
    words = [str(body[k]) for k in ("error", "detail") if isinstance(body.get(k), (str, int))]
    if isinstance(body.get("failed"), list):
        words.append("failed: " + ", ".join(map(str, body["failed"])))
    return ": ".join(words)[:300]


def _public(answer):
    out = {k: answer[k] for k in ("status", "ok", "seconds", "reason", "slow")}
    out["error"] = "" if answer["ok"] else _error_of(answer)
    return out


def login(params):
    """The canary's login: (what is returned, the token kept in memory for the protected call)."""
    if not params["canary_email"]:
        return {"skipped": True, "ok": None, "status": None, "reason": "no canary account declared",
                "error": "", "token": False}, None
    body = json.dumps({"email": params["canary_email"], "password": params["canary_password"]}).encode()
    answer = request(params["api_url"] + params["login_path"], params["timeout"], "POST", body, JSON)
    token = None
    if answer["ok"]:
        try:
            token = json.loads(answer["text"]).get("token")
        except (ValueError, AttributeError):
            token = None
    out = _public(answer)
    out["token"] = bool(token)
    if answer["ok"] and not token:
        out["ok"] = False
        out["error"] = "a 2xx answer without a token"
    return out, token


def protected(params, token):
    if not token:
        return {"skipped": True, "ok": None, "status": None, "reason": "no token to call it with",
                "error": ""}
    answer = request(params["api_url"] + params["protected_path"], params["timeout"],
                     headers={"Authorization": "Bearer " + token, "Accept": "application/json"})
    return _public(answer)


def preflight(params, origin, expect):
    """A browser's preflight of the login from `origin`, judged by its headers."""
    answer = request(params["api_url"] + params["login_path"], params["timeout"], "OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization"})
    headers, status = answer["headers"], answer["status"]
    allow_origin = (headers.get("Access-Control-Allow-Origin") if headers else None) or ""
    credentials = (headers.get("Access-Control-Allow-Credentials") if headers else None) or ""
    credentials = credentials.strip().lower() == "true"
    vary = ",".join(headers.get_all("Vary") or []) if headers else ""
    vary_origin = any(v.strip().lower() in ("origin", "*") for v in vary.split(","))
    problems = []
    if status is None:
        problems.append(f"no answer ({answer['reason']})")
    elif status in (404, 405) or status >= 500:
        problems.append(f"the preflight answered {status}")
    if expect == "allow" and status is not None:
        if allow_origin == "*":
            problems.append("Access-Control-Allow-Origin is * (browsers refuse it with credentials)")
        elif allow_origin != origin:
            problems.append(f"Access-Control-Allow-Origin is {allow_origin!r}, not the origin itself"
                            if allow_origin else "no Access-Control-Allow-Origin")
        if not credentials:
            problems.append("credentials not allowed (no Access-Control-Allow-Credentials: true)")
        if not vary_origin:
            problems.append("no Vary: Origin (a cache would serve one origin's answer to another)")
    elif expect == "refuse" and allow_origin:
        problems.append(f"allowed although it must be refused (Access-Control-Allow-Origin {allow_origin!r})")
    return {"origin": origin, "expect": expect, "status": status, "allow_origin": allow_origin,
            "allow_credentials": credentials, "vary_origin": vary_origin, "seconds": answer["seconds"],
            "problems": problems, "ok": not problems}


def settings(env, params, nonce):
    """What the API runs with, without a secret: the signing secret set and its fingerprint, the
    allowed origins as a list (None when the variable is not set at all)."""
    secret = env.get(params["secret_env"], "")
    origins = env.get(params["origins_env"])
    listed = None if origins is None else [o.strip().rstrip("/") for o in origins.split(",") if o.strip()]
    secret = secret.strip()
    return {"secret": {"set": bool(secret), "fingerprint": env_file.fingerprint(secret, nonce)},
            "origins": listed}


def api_state(params, nonce):
    inspected = docker_cli.inspect(params["api_container"])
    summary = docker_cli.summary(inspected)
    state = {k: summary[k] for k in ("exists", "id", "image", "status", "running", "restarting",
                                     "started_at", "restart_count")}
    env = settings(deploys.env_of(inspected), params, nonce) if inspected else None
    health = request(params["api_url"] + params["health_path"], params["timeout"])
    failed, redis_error = [], ""
    try:
        body = json.loads(health["text"])
        failed = [str(x) for x in body.get("failed") or []]
        redis_error = str(((body.get("checks") or {}).get("redis") or {}).get("error") or "")[:300]
    except (ValueError, AttributeError):
        pass
    return {"container": state, "env": env,
            "health": {"status": health["status"], "ok": health["ok"], "reason": health["reason"],
                       "failed": failed, "redis": redis_error}}


def deploy_state(params, nonce):
    return deploys.newest_env(params["deploy_history"], lambda env: settings(env, params, nonce))


def redis_password(params):
    if not params["redis_password_env"]:
        return ""
    return deploys.env_of(docker_cli.inspect(params["redis_container"])).get(params["redis_password_env"], "")


def redis_state(params):
    summary = docker_cli.summary(docker_cli.inspect(params["redis_container"]))
    out = {"container": {k: summary[k] for k in ("exists", "status", "running", "restarting", "paused",
                                                 "exit_code", "oom_killed", "finished_at", "health")},
           "ping": {"ok": False, "error": ""}, "write": {"ok": False, "error": ""}, "info": {}, "config": {}}
    try:
        client = resp.Redis(params["redis_host"], params["redis_port"], timeout=params["timeout"])
    except OSError as exc:
        where = f"{params['redis_host']}:{params['redis_port']}"
        out["ping"]["error"] = f"cannot connect to {where}: {exc.strerror or exc}"
        out["write"]["error"] = "not tried (no connection)"
        return out
    with client:
        try:
            password = redis_password(params)
            if password:
                client.call("AUTH", password)
            try:
                out["ping"]["ok"] = client.call("PING") == "PONG"
            except resp.ReplyError as exc:  # Redis answers PING with MISCONF while it cannot save
                out["ping"].update(answered=True, error=str(exc)[:300])
            key = "vedrun:probe:" + uuid.uuid4().hex
            try:
                out["write"]["ok"] = client.call("SET", key, "1", "EX", 30) == "OK"
                client.call("DEL", key)
            except resp.ReplyError as exc:
                out["write"]["error"] = str(exc)[:300]
            info = resp.parse_info(client.call("INFO", "persistence"))
            info.update(resp.parse_info(client.call("INFO", "memory")))
            out["info"] = {k: info[k] for k in PERSISTENCE + MEMORY if k in info}
            for name in CONFIG:
                try:
                    pair = client.call("CONFIG", "GET", name)
                    if pair:
                        out["config"][pair[0]] = pair[1]
                except resp.ReplyError:  # CONFIG renamed away: the INFO numbers still tell
                    pass
        except resp.ReplyError as exc:
            out["ping"]["error"] = out["ping"]["error"] or str(exc)[:300]
        except (OSError, ConnectionError) as exc:
            out["ping"]["error"] = out["ping"]["error"] or f"{type(exc).__name__}: {exc}"
    return out


def main():
    module = AnsibleModule(argument_spec={
        "api_url": {"type": "str", "required": True},
        "login_path": {"type": "str", "default": "/auth/login"},
        "protected_path": {"type": "str", "default": "/auth/me"},
        "health_path": {"type": "str", "default": "/health"},
        "canary_email": {"type": "str", "default": ""},
        "canary_password": {"type": "str", "default": "", "no_log": True},
        "origins": {"type": "list", "elements": "str", "default": []},
        "refused_origin": {"type": "str", "default": ""},
        "api_container": {"type": "str", "required": True},
        "secret_env": {"type": "str", "default": "JWT_SECRET"},
        "origins_env": {"type": "str", "default": "CORS_ORIGINS"},
        "deploy_history": {"type": "path", "required": True},
        "redis_container": {"type": "str", "required": True},
        "redis_host": {"type": "str", "default": "127.0.0.1"},
        "redis_port": {"type": "int", "default": 6379},
        "redis_password_env": {"type": "str", "default": "REDIS_PASSWORD", "no_log": False},
        "nonce": {"type": "str", "default": "", "no_log": True},
        "timeout": {"type": "float", "default": 5},
        "wait_seconds": {"type": "float", "default": 0},
        "expect_fingerprint": {"type": "str", "default": ""},
        "expect_origins": {"type": "list", "elements": "str", "default": []},
    }, supports_check_mode=True)
    params = dict(module.params)
    params["api_url"] = params["api_url"].rstrip("/")
    nonce = params["nonce"] or secrets.token_hex(16)
    def problems(answer):
        return login_verdict.problems(answer, params["expect_fingerprint"], params["expect_origins"])

    try:
        result, attempts, waited = polling.until_settled(
            lambda: probe(params, nonce), lambda answer: not problems(answer), params["wait_seconds"])
    except docker_cli.DockerError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, problems=problems(result), attempts=attempts, waited=waited, **result)


def probe(params, nonce):
    """Every signal once: Redis first (a login writes to it), the canary, the preflights, the
    API's settings as it runs and as its newest deploy declares them."""
    redis = redis_state(params)
    login_result, token = login(params)
    protected_result = protected(params, token)
    cors = [preflight(params, origin, "allow") for origin in params["origins"]]
    if params["refused_origin"]:
        cors.append(preflight(params, params["refused_origin"], "refuse"))
    return {"login": login_result, "protected": protected_result, "cors": cors, "redis": redis,
            "api": api_state(params, nonce), "deploy": deploy_state(params, nonce)}


if __name__ == "__main__":
    main()
