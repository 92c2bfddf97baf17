#!/usr/bin/python
"""Ansible module: every signal of the API's outage, gathered on the host in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
module: api_probe
short_description: Probe the API, its container, its port, its disk and its deploy history
description:
  - Read-only. One call gathers what the p0-service-down decisions need, in the way
    C(ansible.builtin.setup) gathers facts. Returns no secret (the container's environment is
    never read into the result).
options:
  container: {description: The API container., type: str, required: true}
  health_url: {description: The API's health endpoint, from the host., type: str, required: true}
  health_timeout:
    description: >-
      Seconds per health request (a slow answer is retried once). No request is sent when every
      process holding the port is stopped (state T): C(health.stopped) says so.
    type: float
    default: 5
  port: {description: The API's TCP port on the host., type: int, required: true}
  data_path: {description: The filesystem the API writes to (absolute)., type: path, required: true}
  deploy_history: {description: The deploy history file on the host., type: path, required: true}
"""

RETURN = r"""
container: {description: The container's state and limits (no environment)., type: dict, returned: always}
health:
  description: The health request (status
  seconds: null
  slow: null
  reason: null
  body excerpt).: null
  type: dict
  returned: always
port:
  description: >-
    listening (bool) and holders: [{pid, start_time, exe, comm, cmdline, container_id,
    container_name, state}]
  type: dict
  returned: always
disk: {description: "path, free_mb, size_mb, or error", type: dict, returned: always}
history:
  description: >-
    path, entries [{index, image, reason, deployed_at, spec}] (no secrets), problem, volumes
    {name: exists} of the newest spec
  type: dict
  returned: always
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import deploys, docker_cli, http_probe, listeners


def disk(path):
    try:
        stats = os.statvfs(path)
    except OSError as exc:
        return {"path": path, "error": f"{exc.strerror}: {path}"}
    return {"path": path, "free_mb": stats.f_bavail * stats.f_frsize // 1048576,
            "size_mb": stats.f_blocks * stats.f_frsize // 1048576}


def port(number):
    found = listeners.holders(number)
    names = {}
    for holder in found:
        cid = holder["container_id"]
        if cid and cid not in names:
            inspected = docker_cli.inspect(cid)
            names[cid] = (inspected.get("Name") or "").lstrip("/") if inspected else ""
        holder["container_name"] = names.get(cid, "")
    return {"number": number, "listening": bool(listeners.listening_inodes(number)), "holders": found}


def health(url, timeout, holders):
    """The health request, unless every process holding the port is stopped (state T, as after
    SIGSTOP): such a process cannot answer, so no request is sent and nothing is waited for."""
    stopped = [h for h in holders["holders"] if h.get("state") == listeners.STOPPED]
    if not holders["holders"] or len(stopped) < len(holders["holders"]):
        return http_probe.check(url, timeout)
    who = ", ".join(f"pid {h['pid']} {h['comm']}" for h in stopped)
    return {"url": url, "status": None, "ok": False, "slow": False, "seconds": 0, "attempts": 0,
            "stopped": True, "body": "",
            "reason": f"no request sent: the process listening on port {holders['number']} is "
                      f"stopped ({who}, state T, as after SIGSTOP) and cannot answer"}


def main():
    module = AnsibleModule(argument_spec={
        "container": {"type": "str", "required": True},
        "health_url": {"type": "str", "required": True},
        "health_timeout": {"type": "float", "default": 5},
        "port": {"type": "int", "required": True},
        "data_path": {"type": "path", "required": True},
        "deploy_history": {"type": "path", "required": True},
    }, supports_check_mode=True)
    params = module.params
    try:
        container = docker_cli.summary(docker_cli.inspect(params["container"]))
        holders = port(params["port"])
    except docker_cli.DockerError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(
        changed=False, container=container,
        health=health(params["health_url"], params["health_timeout"], holders),
        port=holders, disk=disk(params["data_path"]), history=deploys.history(params["deploy_history"]))


if __name__ == "__main__":
    main()
