"""Filter: the stack of an environment, described once (roles/stack) and overridden per inventory."""

from __future__ import annotations

import posixpath
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: stack
short_description: Merge an environment's stack overrides into the defaults, check it, derive URLs
description:
  - The defaults (roles/stack/defaults/main.yml) describe the production stack; an inventory
    sets C(vedrun_stack) with only what differs. Dicts merge key by key; lists and scalars
    replace. The result is checked (types, absolute paths, ports) with an error naming the key
    and the fix, and gets derived values (C(api.url), C(api.health_url), C(api.probe_url),
    C(api.deploy_history), C(postgres.deploy_history)).
positional: overrides
options:
  _input: {description: The defaults., type: dict, required: true}
  overrides: {description: The environment's vedrun_stack., type: dict, required: false}
"""

EXAMPLES = r"""
stack: "{{ stack_defaults | vedrun.kit.stack(vedrun_stack | default({})) }}"
"""

RETURN = r"""
_value: {description: The checked stack with derived values., type: dict}
"""

_STRINGS = ("api.container", "api.host", "api.health_path", "api.probe_path", "postgres.container",
            "postgres.superuser", "postgres.database", "postgres.app_user", "redis.container")
_PORTS = ("api.port",)
_PATHS = ("api.data_path", "deploys_dir", "postgres.data_dir", "postgres.backup_dir")
_COUNTS = ("api.disk_min_free_mb", "postgres.backup_keep")
_REDIS_POLICIES = {"", "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru",
                   "volatile-lfu", "volatile-random", "volatile-ttl"}


def plain(value):
    """A copy made of plain dicts, lists and scalars. Walked once: ansible-core's lazy containers
    template each value as it is read, and copy.deepcopy of them costs a tenth of a second per
    host and read, which a fleet check pays many times over."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def merge(base, overrides):
    """Recursive merge: dicts key by key, everything else replaced. The inputs are not changed."""
    result = plain(base)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = plain(value)
    return result


def _get(data, dotted):
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            raise AnsibleFilterError(f"the stack has no {dotted}: set vedrun_stack.{dotted} in the "
                                     "inventory's group_vars (see roles/stack/defaults/main.yml)")
        data = data[part]
    return data


def _fail(dotted, value, wanted):
    raise AnsibleFilterError(f"vedrun_stack.{dotted} must be {wanted}, got {value!r}: fix it in the "
                             "inventory's group_vars (defaults: roles/stack/defaults/main.yml)")


def check(stack):
    """Raise AnsibleFilterError naming the first bad key; return the stack."""
    for dotted in _STRINGS:
        value = _get(stack, dotted)
        if not isinstance(value, str) or not value.strip():
            _fail(dotted, value, "a non-empty string")
    for dotted in _PORTS:
        value = _get(stack, dotted)
        if isinstance(value, bool) or not str(value).isdigit() or not 0 < int(value) < 65536:
            _fail(dotted, value, "a TCP port (1-65535)")
    for dotted in _PATHS:
        value = _get(stack, dotted)
        if not isinstance(value, str) or not posixpath.isabs(value):
            _fail(dotted, value, "an absolute path")
    for dotted in _COUNTS:
        value = _get(stack, dotted)
        if isinstance(value, bool) or not str(value).isdigit():
            _fail(dotted, value, "a whole number >= 0")
    for dotted in ("api.health_path", "api.probe_path"):
        if not _get(stack, dotted).startswith("/"):
            _fail(dotted, _get(stack, dotted), "a path starting with /")
    diagnostics = stack["api"].get("diagnostics_path", "")
    if not isinstance(diagnostics, str) or (diagnostics and not posixpath.isabs(diagnostics)):
        _fail("api.diagnostics_path", diagnostics, "'' or a path starting with /")
    protected = _get(stack, "protected_paths")
    if not isinstance(protected, list) or not all(isinstance(p, str) and posixpath.isabs(p)
                                                  for p in protected):
        _fail("protected_paths", protected, "a list of absolute paths")
    data_path = posixpath.normpath(stack["api"]["data_path"])
    for path in protected:
        path = posixpath.normpath(path)
        if data_path == path or data_path.startswith(path.rstrip("/") + "/") \
                or path.startswith(data_path.rstrip("/") + "/"):
            _fail("api.data_path", stack["api"]["data_path"],
                  f"a folder apart from the protected path {path} (space is reclaimed there)")
    origins = stack["api"].get("allowed_origins", [])
    if not isinstance(origins, list) or not all(
            isinstance(o, str) and re.fullmatch(r"https?://[^/\s,*]+", o) for o in origins):
        _fail("api.allowed_origins", origins,
              "a list of exact origins (scheme://host[:port], no path, never *)")
    policy = stack["redis"].get("maxmemory_policy", "")
    if policy not in _REDIS_POLICIES:
        _fail("redis.maxmemory_policy", policy,
              "'' (not declared) or one of " + ", ".join(sorted(_REDIS_POLICIES - {""})))
    maxmemory = stack["redis"].get("maxmemory", "")
    if not re.fullmatch(r"(\d+(b|k|kb|m|mb|g|gb)?)?", str(maxmemory).strip().lower()):
        _fail("redis.maxmemory", maxmemory,
              "'' (not declared) or a Redis memory size such as 64mb, 1gb or 1048576")
    stripe = stack.get("stripe") or {}
    if stripe.get("mode", "live") not in ("test", "live"):
        _fail("stripe.mode", stripe.get("mode"), "test or live (the mode the environment's key must have)")
    if not re.fullmatch(r"(https?://[^\s]+)?", str(stripe.get("webhook_url", ""))):
        _fail("stripe.webhook_url", stripe.get("webhook_url"),
              "'' (not declared) or the http(s) URL of the API's webhook endpoint as registered at Stripe")
    safe = _get(stack, "port_holders_safe_to_stop")
    if not isinstance(safe, dict) or set(safe) - {"containers", "executables"} or not all(
            isinstance(safe.get(k, []), list) for k in ("containers", "executables")):
        _fail("port_holders_safe_to_stop", safe, "{containers: [names], executables: [absolute paths]}")
    return stack


def stack(defaults, overrides=None):
    """The environment's stack: defaults merged with its overrides, checked, with derived values."""
    if not isinstance(defaults, dict):
        raise AnsibleFilterError(f"stack: the defaults must be a dict, got {type(defaults).__name__}")
    if overrides is not None and not isinstance(overrides, dict):
        raise AnsibleFilterError("vedrun_stack must be a mapping of what differs from the defaults "
                                 f"(roles/stack/defaults/main.yml), got {type(overrides).__name__}")
    result = check(merge(defaults, overrides))
    api = result["api"]
    api["port"] = int(api["port"])
    api["url"] = f"http://{api['host']}:{api['port']}"
    api["health_url"] = api["url"] + api["health_path"]
    api["probe_url"] = api["url"] + api["probe_path"]
    deploys = result["deploys_dir"].rstrip("/")
    api["deploy_history"] = f"{deploys}/{api['container']}.json"
    result["postgres"]["deploy_history"] = f"{deploys}/{result['postgres']['container']}.json"
    result["port_holders_safe_to_stop"] = {
        "containers": list(result["port_holders_safe_to_stop"].get("containers", [])),
        "executables": list(result["port_holders_safe_to_stop"].get("executables", []))}
    return result


class FilterModule:
    def filters(self):
        return {"stack": stack}
