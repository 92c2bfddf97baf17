#!/usr/bin/python
"""Ansible module: the stack's health checks, all of them on the host in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
module: stack_health
short_description: Health of the API, PostgreSQL, Redis and the stack's containers
description:
  - Read-only; one call runs every check (the role C(health) publishes the result to vedrun).
  - PostgreSQL and Redis are asked over their ports first (module_utils wire_probe) when the
    ports are given; only a clear "ready" is taken from there, anything else is asked again in
    the container with C(pg_isready) or C(redis-cli ping), which have the last word.
  - A check is failed only on evidence (an HTTP error or refusal, C(pg_isready) rejecting or
    not responding, Redis answering something else than PONG, a container not running). A probe
    that got no answer in time is retried once; when the Docker CLI itself is too slow to
    answer, the check is reported C(slow) with the time measured, not failed.
options:
  api_url: {description: API health endpoint; empty skips., type: str, default: ""}
  api_timeout: {description: Seconds per API request., type: float, default: 5}
  postgres_container: {description: Container probed with pg_isready; empty skips., type: str, default: ""}
  postgres_user: {description: Role for pg_isready., type: str, default: postgres}
  postgres_port:
    description: >-
      PostgreSQL's port on the host: asked first over the wire as pg_isready does; only when
      that is not a clear "accepting" is pg_isready run in the container. 0 goes straight there.
    type: int
    default: 0
  redis_container: {description: Container probed with redis-cli ping; empty skips., type: str, default: ""}
  redis_port:
    description: >-
      Redis's port on the host: PING over the wire first; anything but PONG is asked again
      with redis-cli in the container. 0 goes straight there.
    type: int
    default: 0
  probe_host: {description: Address the ports are reached on from the host., type: str, default: 127.0.0.1}
  containers: {description: Containers that must be running., type: list, elements: str, default: []}
  http_checks:
    description: More endpoints, each {name, url, expect (list of statuses)}.
    type: list
    elements: dict
    default: []
  exec_timeout:
    description: Seconds a docker exec probe may take before it counts as slow.
    type: float
    default: 20
  wait_seconds:
    description: >-
      Run the checks again every second until all pass or this many seconds went by (0 checks
      once).
    type: float
    default: 0
"""

RETURN = r"""
checks:
  description: '{name: {ok, slow, detail, seconds}} for every enabled check'
  type: dict
  returned: always
failed_checks: {description: Names of the failed checks., type: list, returned: always}
waited: {description: Seconds spent waiting for the checks to pass., type: float, returned: always}
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli, http_probe, polling, wire_probe


def http(url, timeout, expect=(200,)):
    result = http_probe.check(url, timeout, tuple(expect))
    return {"ok": result["ok"], "slow": result["slow"], "seconds": result["seconds"],
            "detail": http_probe.describe(result)}


def exec_check(container, argv, expect, timeout):
    """One docker exec probe, retried once when the CLI gives no answer in time."""
    for attempt in (1, 2):
        started = time.monotonic()
        try:
            rc, out, err = docker_cli.exec_argv(container, argv, timeout=timeout)
        except docker_cli.DockerError as exc:
            seconds = round(time.monotonic() - started, 2)
            if "no answer within" in str(exc):
                if attempt == 1:
                    continue
                return {"ok": True, "slow": True, "seconds": seconds,
                        "detail": f"slow: {exc} twice; not counted as a failure"}
            return {"ok": False, "slow": False, "seconds": seconds, "detail": str(exc)}
        seconds = round(time.monotonic() - started, 2)
        text = (out.strip() or err.strip() or f"exit {rc}")[:160]
        ok = rc == 0 and (expect is None or out.strip() == expect)
        return {"ok": ok, "slow": False, "seconds": seconds, "detail": text}
    raise AssertionError("unreachable")


def wire_first(wire, container, argv, expect, timeout):
    """The port's clear "ready" is enough; anything else is asked inside the container."""
    if wire and wire["ready"]:
        return {"ok": True, "slow": False, "seconds": wire["seconds"], "detail": wire["detail"]}
    return exec_check(container, argv, expect, timeout)


def container_check(name):
    try:
        summary = docker_cli.summary(docker_cli.inspect(name))
    except docker_cli.DockerError as exc:
        return {"ok": False, "slow": "no answer within" in str(exc), "seconds": 0, "detail": str(exc)}
    if not summary["exists"]:
        return {"ok": False, "slow": False, "seconds": 0, "detail": "not found"}
    detail = summary["status"]
    if summary["status"] != "running":
        detail += f" (exit code {summary['exit_code']})"
    if summary["health"]:
        detail += f", health: {summary['health']}"
    return {"ok": summary["status"] == "running", "slow": False, "seconds": 0, "detail": detail}


def run_checks(params):
    checks = {}
    if params["api_url"]:
        checks["api"] = http(params["api_url"], params["api_timeout"])
    for extra in params["http_checks"]:
        checks[str(extra["name"])] = http(extra["url"], params["api_timeout"], extra.get("expect") or [200])
    if params["postgres_container"]:
        checks["postgres"] = wire_first(
            params["postgres_port"] and wire_probe.postgres_ready(
                params["probe_host"], params["postgres_port"], params["postgres_user"]),
            params["postgres_container"], ["pg_isready", "-U", params["postgres_user"], "-t", "3"],
            None, params["exec_timeout"])
    if params["redis_container"]:
        checks["redis"] = wire_first(
            params["redis_port"] and wire_probe.redis_ping(params["probe_host"], params["redis_port"]),
            params["redis_container"], ["redis-cli", "ping"], "PONG", params["exec_timeout"])
    for name in params["containers"]:
        checks[f"container:{name}"] = container_check(name)
    return checks


def main():
    module = AnsibleModule(argument_spec={
        "api_url": {"type": "str", "default": ""},
        "api_timeout": {"type": "float", "default": 5},
        "postgres_container": {"type": "str", "default": ""},
        "postgres_user": {"type": "str", "default": "postgres"},
        "postgres_port": {"type": "int", "default": 0},
        "redis_container": {"type": "str", "default": ""},
        "redis_port": {"type": "int", "default": 0},
        "probe_host": {"type": "str", "default": "127.0.0.1"},
        "containers": {"type": "list", "elements": "str", "default": []},
        "http_checks": {"type": "list", "elements": "dict", "default": []},
        "exec_timeout": {"type": "float", "default": 20},
        "wait_seconds": {"type": "float", "default": 0},
    }, supports_check_mode=True)
    params = module.params
    checks, _attempts, waited = polling.until_settled(
        lambda: run_checks(params), lambda answer: all(check["ok"] for check in answer.values()),
        0 if module.check_mode else params["wait_seconds"])
    module.exit_json(changed=False, checks=checks, waited=waited,
                     failed_checks=[name for name, check in checks.items() if not check["ok"]])


if __name__ == "__main__":
    main()
