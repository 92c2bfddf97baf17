#!/usr/bin/python
"""Ansible module: start, restart or stop a container, or set its restart policy or memory limit, as it is."""

from __future__ import annotations

DOCUMENTATION = r"""
module: container_action
short_description: Start, restart or stop an existing container, or set its restart policy
description:
  - Acts on the container as it is (never recreated from another configuration) through the
    Docker CLI, and returns its state without its environment. community.docker.docker_container
    returns the whole inspection, environment (the stack's secrets) included, which would end up
    in the run's artifacts.
  - C(start) and C(stop) change nothing when the container is already so. C(restart) always
    restarts. C(restart_policy) changes nothing when the policy is already the one asked.
  - A container that does not exist fails the task with Docker's own words.
options:
  name: {description: The container., type: str, required: true}
  action:
    description: What to do.
    type: str
    required: true
    choices: [start, restart, stop, restart_policy, memory]
  restart_policy:
    description: The policy for C(action=restart_policy) (no, on-failure, always, unless-stopped).
    type: str
  memory:
    description: >-
      The memory limit in bytes for C(action=memory) (docker update, never 0: unlimited is refused).
    type: int
  memory_swap:
    description: >-
      The memory + swap limit in bytes for C(action=memory): at least O(memory), or -1 (swap
      unlimited, as Docker allows).
    type: int
  stop_timeout: {description: Seconds a stop or restart waits before it kills., type: int, default: 10}
  resume_stopped:
    description: >-
      Before a stop or restart, resume the container's main process with SIGCONT when it is
      stopped (state T, as after SIGSTOP): a stopped process cannot handle the stop signal and
      would only be killed after C(stop_timeout). Returned as C(resumed).
    type: bool
    default: true
"""

RETURN = r"""
container:
  description: The container's state after the action (no environment).
  type: dict
  returned: always
resumed: {description: The stopped main process was resumed before the stop., type: bool, returned: changed}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli, listeners


def _needed(action, summary, policy):
    if action == "start":
        return not summary["running"]
    if action == "stop":
        return summary["running"] or summary["restarting"]
    if action == "restart_policy":
        return summary["restart_policy"] != policy
    if action == "memory":
        return (summary["memory"], summary["memory_swap"]) != policy
    return True


def main():
    module = AnsibleModule(argument_spec={
        "name": {"type": "str", "required": True},
        "action": {"type": "str", "required": True,
                   "choices": ["start", "restart", "stop", "restart_policy", "memory"]},
        "memory": {"type": "int"},
        "memory_swap": {"type": "int"},
        "restart_policy": {"type": "str", "choices": ["no", "on-failure", "always", "unless-stopped"]},
        "stop_timeout": {"type": "int", "default": 10},
        "resume_stopped": {"type": "bool", "default": True},
    }, required_if=[("action", "restart_policy", ["restart_policy"]),
                    ("action", "memory", ["memory", "memory_swap"])], supports_check_mode=True)
    params = module.params
    name, action = params["name"], params["action"]
    if action == "memory" and not (params["memory"] > 0 and (params["memory_swap"] == -1
                                                             or params["memory_swap"] >= params["memory"])):
        module.fail_json(msg=f"refusing memory={params['memory']} memory_swap={params['memory_swap']}: "
                             "a limit above 0 is needed (never unlimited), and memory_swap at least memory "
                             "(or -1)")
    try:
        summary = docker_cli.summary(docker_cli.inspect(name))
        if not summary["exists"]:
            module.fail_json(msg=f"container {name} does not exist: nothing to {action}", container=summary)
        wanted = (params["memory"], params["memory_swap"]) if action == "memory" else params["restart_policy"]
        if not _needed(action, summary, wanted):
            module.exit_json(changed=False, container=summary)
        if module.check_mode:
            module.exit_json(changed=True, container=summary)
        argv = {"start": ["start"], "stop": ["stop", "-t", str(params["stop_timeout"])],
                "restart": ["restart", "-t", str(params["stop_timeout"])],
                "restart_policy": ["update", f"--restart={params['restart_policy']}"],
                "memory": ["update", f"--memory={params['memory']}",
                           f"--memory-swap={params['memory_swap']}"]}[action]
        resumed = False
        stoppable = action in ("stop", "restart") and params["resume_stopped"]
        if stoppable and listeners.is_stopped(summary["pid"]):
            rc, _out, err = docker_cli.run(["kill", "--signal", "CONT", "--", name], timeout=30)
            resumed = rc == 0
        rc, _out, err = docker_cli.run([*argv, "--", name], timeout=params["stop_timeout"] + 60)
        if rc != 0:
            module.fail_json(msg=f"docker {argv[0]} {name} failed: {err.strip()[:500]}", container=summary)
        summary = docker_cli.summary(docker_cli.inspect(name))
    except docker_cli.DockerError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=True, container=summary, resumed=resumed)


if __name__ == "__main__":
    main()
