#!/usr/bin/python
"""Ansible module: free a TCP port by stopping exactly the holders that detect named."""

from __future__ import annotations

DOCUMENTATION = r"""
module: port_release
short_description: Stop the holder of a TCP port, as the kernel names it, then wait until it is free
description:
  - Executes a plan decided on the controller (filter C(vedrun.kit.port_holder_plan)); every
    step is checked against the kernel again before it acts. A container is stopped with
    C(docker stop). A process on the host gets SIGTERM only if it still holds the port's socket
    and still has the start time that detect saw (a pid reused by another process is left
    alone). When the holders differ from the plan's, nothing is stopped and the task fails.
options:
  port: {description: The TCP port., type: int, required: true}
  plan:
    description: >-
      Steps, each {action: stop_container, container, container_id} or {action: terminate, pid,
      start_time, exe}.
    type: list
    elements: dict
    required: true
  wait_seconds: {description: Seconds to wait for the port to be free., type: float, default: 30}
  stop_timeout: {description: Seconds a container gets to stop before it is killed., type: int, default: 10}
"""

RETURN = r"""
stopped: {description: What was stopped., type: list, returned: always}
"""

import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli, listeners


def _who(holders):
    return "; ".join(f"pid {h['pid']} ({h['exe'] or h['comm']})"
                     + (f" in container {h['container_id'][:12]}" if h["container_id"] else "")
                     for h in holders) or "nobody"


def _check_plan(current, plan):
    """The plan must cover exactly the holders the kernel names now."""
    by_container = {step.get("container_id") for step in plan if step["action"] == "stop_container"}
    by_pid = {(step.get("pid"), step.get("start_time")) for step in plan if step["action"] == "terminate"}
    for holder in current:
        if holder["container_id"] and holder["container_id"] in by_container:
            continue
        if (holder["pid"], holder["start_time"]) in by_pid:
            continue
        return holder
    return None


def main():
    module = AnsibleModule(argument_spec={
        "port": {"type": "int", "required": True},
        "plan": {"type": "list", "elements": "dict", "required": True},
        "wait_seconds": {"type": "float", "default": 30},
        "stop_timeout": {"type": "int", "default": 10},
    }, supports_check_mode=True)
    port, plan = module.params["port"], module.params["plan"]
    current = listeners.holders(port)
    if not listeners.listening_inodes(port):
        module.exit_json(changed=False, stopped=[], msg=f"port {port} is already free")
    stranger = _check_plan(current, plan)
    if stranger is not None or not current:
        module.fail_json(msg=(f"port {port} is now held by {_who(current)}, not what detect saw; "
                              "nothing was stopped. Run the runbook again to look afresh."))
    if module.check_mode:
        module.exit_json(changed=True, stopped=plan)
    stopped = []
    for step in plan:
        if step["action"] == "stop_container":
            rc, _out, err = docker_cli.run(["stop", "-t", str(module.params["stop_timeout"]), "--",
                                            step["container_id"]], timeout=module.params["stop_timeout"] + 60)
            if rc != 0:
                module.fail_json(msg=f"docker stop {step.get('container')} failed: {err.strip()}",
                                 stopped=stopped)
        else:
            if listeners.start_time(step["pid"]) != step["start_time"]:
                continue  # that process is gone; its pid may belong to another one now
            os.kill(int(step["pid"]), signal.SIGTERM)
        stopped.append(step)
    deadline = time.monotonic() + module.params["wait_seconds"]
    while listeners.listening_inodes(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    if listeners.listening_inodes(port):
        module.fail_json(msg=(f"port {port} is still held after stopping {len(stopped)} holder(s): "
                              f"{_who(listeners.holders(port))}"), stopped=stopped, changed=True)
    module.exit_json(changed=True, stopped=stopped)


if __name__ == "__main__":
    main()
