"""Filters: the decisions of the p1-login-failure runbook (issue 12), from one probe
(vedrun.kit.login_probe): what users meet (the canary's login, a protected call, the CORS
preflights), Redis (PING and a write, its memory and persistence state) and the API's settings
as it runs and as its newest deploy declares them (the signing secret by keyed fingerprint only).
Everything decided is here, in plain functions tested without Docker; the YAML runs the steps.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.vedrun.kit.plugins.module_utils import login_verdict

DOCUMENTATION = r"""
name: login_failure_plan
short_description: Why users cannot log in, and what the runbook does about it
description:
  - "Causes fixed from the declared configuration: redis down (its container stopped: started);
    redis refusing writes (maxmemory reached while the running maxmemory or policy differs from
    the declared one: the declared values set back; a failed RDB save (MISCONF): a new BGSAVE,
    never stop-writes-on-bgsave-error off); jwt secret missing (the running API has none: the
    vault's value restored, the container recreated); jwt secret mismatch (its fingerprint differs
    from the vault's: the same); cors origins wrong (the allowed origins the API runs with differ
    from the declared ones: restored); api lost redis (Redis answers and takes writes from the
    host but the API still reports it failing: the API restarted)."
  - "Handed off to a person (nothing changed): no JWT secret in the vault (a new one is never
    generated: it would log every user out); Redis missing or hung; Redis full at its declared
    maxmemory, read-only (a replica) or refusing writes for another reason; CORS headers wrong
    while the API runs with the declared origins; the canary refused (its credentials); a login
    or protected call failing with no known cause; the API's container missing (p0-service-down)."
  - Never FLUSHALL, never a CORS wildcard, never a secret in the result.
positional: settings
options:
  _input: {description: The probe (vedrun.kit.login_probe)., type: dict, required: true}
  settings:
    description: >-
      secret_fingerprint (the vault's secret under the probe's nonce, '' when the vault has none),
      origins (declared list, [] when not declared), maxmemory (declared, Redis units, '' when not
      declared), maxmemory_policy ('' when not declared), secret_env, origins_env
    type: dict
    required: true
"""

EXAMPLES = r"""
plan: "{{ probe | vedrun.kit.login_failure_plan(settings) }}"
"""

RETURN = r"""
_value:
  description: >-
    faults [{fault, detail}], handoffs [{fault, detail}], notes, fixes {redis_start, redis_config
    {name: value}, redis_bgsave, env {set_secret, origins}, api_restart}, steps {act, redis, env,
    restart}
  type: dict
"""

UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 ** 2, "mb": 1024 ** 2, "g": 1000 ** 3,
         "gb": 1024 ** 3}


def redis_bytes(value):
    """Redis's memory notation (64mb, 1gb, 100000, 2k) as bytes; None when not declared."""
    if value is None or str(value).strip() == "":
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2).lower() not in UNITS:
        raise AnsibleFilterError(f"login_failure: {value!r} is not a Redis memory size (e.g. 64mb, 1gb, "
                                 "1048576): fix stack.redis.maxmemory")
    return int(match.group(1)) * UNITS[match.group(2).lower()]


def secret_fingerprint(value, nonce):
    """HMAC-SHA256(nonce, value), 16 hex digits, as the probe computes it on the host ('' when
    the value is empty): the declared secret compared with the running one, never by value."""
    value = "" if value is None else str(value).strip()
    if not value:
        return ""
    return hmac.new(str(nonce).encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


def _mib(value):
    try:
        return f"{int(value) / 1048576:.1f} MiB"
    except (TypeError, ValueError):
        return "?"


def _fault(plan, name, handoff, detail):
    plan["faults"].append({"fault": name, "detail": detail, "handoff": handoff})


def _settings(settings):
    s = dict(settings or {})
    origins = s.get("origins") or []
    if isinstance(origins, str) or not isinstance(origins, list):
        raise AnsibleFilterError("login_failure: the declared origins must be a list of exact origins "
                                 "(stack.api.allowed_origins), e.g. [https://app.example.com]")
    for origin in origins:
        if origin == "*" or not re.fullmatch(r"https?://[^/\s,*]+", str(origin)):
            raise AnsibleFilterError(f"login_failure: {origin!r} is not an exact origin "
                                     "(scheme://host[:port], no path, no *): fix stack.api.allowed_origins")
    s["origins"] = [str(o) for o in origins]
    s["maxmemory"] = redis_bytes(s.get("maxmemory"))
    s["maxmemory_policy"] = str(s.get("maxmemory_policy") or "")
    s["secret_fingerprint"] = str(s.get("secret_fingerprint") or "")
    s.setdefault("secret_env", "JWT_SECRET")
    s.setdefault("origins_env", "CORS_ORIGINS")
    return s


def _redis(probe, s, plan):
    """Redis's faults; True when Redis is, or will be, fine for sessions."""
    redis = probe.get("redis") or {}
    container = redis.get("container") or {}
    ping, write = redis.get("ping") or {}, redis.get("write") or {}
    if not container.get("exists", True):
        _fault(plan, "redis down", True, "Redis's container is missing")
        return False
    if container.get("restarting"):
        _fault(plan, "redis down", True,
               f"Redis keeps restarting (exit code {container.get('exit_code')}): it dies at start, its log "
               "says why; starting it again would not help")
        return False
    if not container.get("running"):
        how = f"exited with {container.get('exit_code')}"
        how += " (OOM-killed)" if container.get("oom_killed") else ""
        since = container.get("finished_at") or "?"
        _fault(plan, "redis down", False,
               f"Redis is {container.get('status')} ({how}, since {since}): every login and session "
               "check fails")
        plan["fixes"]["redis_start"] = True
        return True
    if container.get("paused") or not (ping.get("ok") or ping.get("answered")):
        _fault(plan, "redis down", True,
               f"Redis runs but does not answer PING ({ping.get('error') or 'no answer'}): a hung Redis "
               "is not restarted without a person (a restart loses every session it holds)")
        return False
    if write.get("ok"):
        return True
    error = str(write.get("error") or "")
    info, config = redis.get("info") or {}, redis.get("config") or {}
    said = f"Redis answers PING but refuses writes: {error}"
    if error.startswith("OOM"):
        return _redis_full(plan, s, said, info, config)
    if error.startswith("MISCONF"):
        if str(info.get("rdb_bgsave_in_progress", "0")) == "1":
            _fault(plan, "redis refusing writes", True, f"{said}; a save is in progress: wait for it, "
                   "then run again")
            return False
        _fault(plan, "redis refusing writes", False,
               f"{said} (last RDB save {info.get('rdb_last_bgsave_status', '?')}): a new save is made "
               "once the cause (most often a full disk) is gone; stop-writes-on-bgsave-error stays on")
        plan["fixes"]["redis_bgsave"] = True
        return True
    replica = " (a read-only replica: the app must write to the primary)"
    _fault(plan, "redis refusing writes", True, said + (replica if error.startswith("READONLY") else ""))
    return False


def _redis_full(plan, s, said, info, config):
    """maxmemory reached: the declared limit and policy set back when they differ, else handed off."""
    running_max = _int(config.get("maxmemory", info.get("maxmemory")))
    running_policy = str(config.get("maxmemory-policy", info.get("maxmemory_policy")) or "")
    wanted = {}
    if s["maxmemory"] is not None and running_max != s["maxmemory"]:
        wanted["maxmemory"] = str(s["maxmemory"])
    if s["maxmemory_policy"] and running_policy != s["maxmemory_policy"]:
        wanted["maxmemory-policy"] = s["maxmemory_policy"]
    numbers = f"{_mib(info.get('used_memory'))} used, maxmemory {_mib(running_max)} ({running_policy or '?'})"
    if wanted:
        declared = ", ".join(f"{k} {v}" for k, v in wanted.items())
        _fault(plan, "redis refusing writes", False, f"{said} ({numbers}; declared: {declared})")
        plan["fixes"]["redis_config"] = wanted
        return True
    _fault(plan, "redis refusing writes", True,
           f"{said} ({numbers}, as declared): what fills it must be found; vedrun never flushes it "
           "(sessions would be lost) and never changes the declared limit")
    return False


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _api(probe, s, plan):
    """The API's settings against the declared ones."""
    api = probe.get("api") or {}
    env = api.get("env")
    if not (api.get("container") or {}).get("exists") or env is None:
        _fault(plan, "api missing", True, "the API's container is missing: run p0-service-down (it brings "
               "the API back from its deploy)")
        return
    secret, name = env.get("secret") or {}, s["secret_env"]
    if not secret.get("set") and s["secret_fingerprint"]:
        _fault(plan, "jwt secret missing", False,
               f"the running API has no {name}: it cannot sign a login token; the vault's is restored")
        plan["fixes"]["env"]["set_secret"] = True
    elif not secret.get("set"):
        _fault(plan, "jwt secret missing", True,
               f"the running API has no {name} and the vault has none for this environment "
               "(vault_jwt_secret): vedrun never generates one (every user would be logged out); put the "
               "environment's secret in the vault, then run again")
    elif s["secret_fingerprint"] and secret.get("fingerprint") != s["secret_fingerprint"]:
        _fault(plan, "jwt secret mismatch", False,
               f"the running API's {name} differs from the vault's (fingerprint {secret.get('fingerprint')}, "
               f"vault {s['secret_fingerprint']}): tokens signed with either fail with the other; the "
               "vault's is restored")
        plan["fixes"]["env"]["set_secret"] = True
    elif not s["secret_fingerprint"]:
        plan["notes"].append("the vault has no JWT secret for this environment: the running one was not "
                             "compared")
    if not s["origins"]:
        plan["notes"].append("no allowed origins declared (stack.api.allowed_origins): CORS was not checked")
        return
    running = env.get("origins")
    if running is None or sorted(set(running)) != sorted(set(s["origins"])):
        seen = "not set" if running is None else (", ".join(running) or "empty")
        _fault(plan, "cors origins wrong", False,
               f"the API allows the origins {seen} ({s['origins_env']}), the environment declares "
               f"{', '.join(s['origins'])}: browsers refuse the login; restored")
        plan["fixes"]["env"]["origins"] = ",".join(s["origins"])


def _deploy(probe, plan):
    """The environment is restored from the newest deploy's env file: without one, hand off."""
    env = plan["fixes"]["env"]
    deploy = probe.get("deploy") or {}
    if not (env["set_secret"] or env["origins"] is not None) or deploy.get("env") is not None:
        return
    why = deploy.get("problem") or f"no deploy on record in {deploy.get('path') or 'the deploy history'}"
    for fault in plan["faults"]:
        if fault["fault"] in ("jwt secret missing", "jwt secret mismatch", "cors origins wrong"):
            fault["handoff"] = True
            fault["detail"] += f"; it cannot be restored here: {why} (redeploy the API with its environment)"
    env.update(set_secret=False, origins=None)


def _said(check):
    return f"{check.get('reason')}{': ' + check['error'] if check.get('error') else ''}"


def _users(probe, s, plan, redis_fine):
    """What the canary met, explained by the causes found, or a cause of its own."""
    login, protected = probe.get("login") or {}, probe.get("protected") or {}
    health = (probe.get("api") or {}).get("health") or {}
    redis = probe.get("redis") or {}
    redis_ok = bool((redis.get("ping") or {}).get("ok") and (redis.get("write") or {}).get("ok"))
    found = {f["fault"] for f in plan["faults"]}
    explained = bool(found & {"redis down", "redis refusing writes", "jwt secret missing", "api missing"})
    api_says_redis = "redis" in health.get("failed", []) or "redis" in (login.get("error") or "").lower() \
        or "redis" in (protected.get("error") or "").lower()
    if redis_ok and api_says_redis and redis_fine:
        _fault(plan, "api lost redis", False,
               "Redis answers and takes writes from the host, but the API still fails on it "
               f"({health.get('redis') or login.get('error')}): the API did not reconnect; it is restarted")
        plan["fixes"]["api_restart"] = True
        return
    if login.get("skipped"):
        plan["notes"].append("no canary account declared (vault_canary_email, vault_canary_password): "
                             "the login was not tried")
    elif not login.get("ok") and not explained and login.get("status") == 401:
        _fault(plan, "canary refused", True,
               f"the canary's login is refused ({_said(login)}) while Redis and the API's settings are "
               "right: check the canary account and its password in the vault")
    elif not login.get("ok") and not explained:
        _fault(plan, "login failing", True, f"the canary's login fails ({_said(login)}) and no known "
               "cause was found")
    elif login.get("ok") and protected.get("ok") is False and not explained \
            and "jwt secret mismatch" not in found:
        _fault(plan, "login failing", True,
               f"the canary logs in but its token is refused by the protected call ({_said(protected)})")
    wrong = [c for c in probe.get("cors") or [] if not c.get("ok")]
    if wrong and s["origins"] and "cors origins wrong" not in found:
        _fault(plan, "cors broken", True,
               "the API runs with the declared origins but the preflights are wrong: "
               + "; ".join(f"{c['origin']}: {', '.join(c['problems'])}" for c in wrong)
               + " (the API ignores its setting, or another program answers on its port)")


def login_failure_plan(probe, settings):
    """The plan of one host: the faults, which are handed off, and the fixes to make."""
    s = _settings(settings)
    plan = {"faults": [], "notes": [], "handoffs": [],
            "fixes": {"redis_start": False, "redis_config": {}, "redis_bgsave": False,
                      "env": {"set_secret": False, "origins": None}, "api_restart": False}}
    redis_fine = _redis(probe or {}, s, plan)
    _api(probe or {}, s, plan)
    _deploy(probe or {}, plan)
    _users(probe or {}, s, plan, redis_fine)
    fixes = plan["fixes"]
    env = fixes["env"]["set_secret"] or fixes["env"]["origins"] is not None
    if env:
        fixes["api_restart"] = False  # recreating the container reconnects it too
    plan["steps"] = {"redis": bool(fixes["redis_start"] or fixes["redis_config"] or fixes["redis_bgsave"]),
                     "env": env, "restart": fixes["api_restart"]}
    plan["steps"]["act"] = any(plan["steps"].values())
    plan["handoffs"] = [{"fault": f["fault"], "detail": f["detail"]}
                        for f in plan["faults"] if f.get("handoff")]
    for fault in plan["faults"]:
        fault.pop("handoff", None)
    return plan


def login_failure_said(plan):
    """What the run does, in the order it does it, for the detect message."""
    fixes, said = plan["fixes"], []
    if fixes["redis_start"]:
        said.append("start Redis")
    if fixes["redis_config"]:
        said.append("set Redis's " + ", ".join(f"{k} back to {v}" for k, v in fixes["redis_config"].items()))
    if fixes["redis_bgsave"]:
        said.append("save Redis again (BGSAVE)")
    names = (["the JWT secret from the vault"] if fixes["env"]["set_secret"] else []) + \
        (["the declared allowed origins"] if fixes["env"]["origins"] is not None else [])
    if names:
        said.append("restore " + " and ".join(names) + " in the API's environment and recreate its container")
    if fixes["api_restart"]:
        said.append("restart the API (it did not reconnect to Redis)")
    return said


def login_failure_env(plan, secret, settings):
    """The variables to set in the API's environment, by their names (for vedrun.kit.env_update,
    under no_log): the vault's secret and the declared origins, as the plan says."""
    s, fixes, out = _settings(settings), plan["fixes"]["env"], {}
    if fixes["set_secret"]:
        if not str(secret or "").strip():
            raise AnsibleFilterError("login_failure: the vault has no JWT secret: nothing to restore")
        out[s["secret_env"]] = str(secret).strip()
    if fixes["origins"] is not None:
        out[s["origins_env"]] = fixes["origins"]
    return out


def login_failure_verify(probe, settings):
    """After the fixes: {ok, problems}, each problem with what the service last answered."""
    s = _settings(settings)
    found = login_verdict.problems(probe or {}, s["secret_fingerprint"], s["origins"])
    return {"ok": not found, "problems": found}


class FilterModule:
    def filters(self):
        return {"login_failure_plan": login_failure_plan, "login_failure_said": login_failure_said,
                "login_failure_env": login_failure_env, "login_failure_verify": login_failure_verify,
                "secret_fingerprint": secret_fingerprint, "redis_bytes": redis_bytes}
