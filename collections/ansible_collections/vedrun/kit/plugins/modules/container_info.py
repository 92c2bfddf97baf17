#!/usr/bin/python
"""Ansible module: a container's state and limits, never its environment."""

from __future__ import annotations

DOCUMENTATION = r"""
module: container_info
short_description: Inspect a container without its environment
description:
  - Read-only C(docker inspect) through the Docker CLI on the host. C(Config.Env) (the stack's
    secrets) is replaced before anything is returned, so the result can be registered and kept
    in the run's artifacts. C(summary) is the small part decisions read.
options:
  name: {description: Container name or id., type: str, required: true}
  full: {description: Also return the whole inspection (without the environment)., type: bool, default: false}
  logs: {description: Also return this many of its last log lines (0 = none)., type: int, default: 0}
"""

RETURN = r"""
exists: {description: The container exists., type: bool, returned: always}
summary:
  description: >-
    id, name, image, status, running, exit_code, oom_killed, restart_count, restart_policy,
    memory, health
  type: dict
  returned: always
container: {description: The inspection without Config.Env., type: dict, returned: when full}
logs: {description: The last log lines (stdout then stderr)., type: str, returned: when logs > 0}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli


def main():
    module = AnsibleModule(argument_spec={
        "name": {"type": "str", "required": True},
        "full": {"type": "bool", "default": False},
        "logs": {"type": "int", "default": 0},
    }, supports_check_mode=True)
    try:
        container = docker_cli.inspect(module.params["name"])
    except docker_cli.DockerError as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": False, "exists": container is not None,
              "summary": docker_cli.summary(container)}
    if module.params["full"]:
        result["container"] = docker_cli.sanitize(container) or {}
    if module.params["logs"] > 0 and container is not None:
        result["logs"] = docker_cli.logs(module.params["name"], module.params["logs"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
