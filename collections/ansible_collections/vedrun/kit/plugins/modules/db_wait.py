#!/usr/bin/python
"""Ansible module: wait on the host until PostgreSQL accepts connections, or say why not."""

from __future__ import annotations

DOCUMENTATION = r"""
module: db_wait
short_description: Wait until PostgreSQL in a container accepts connections
description:
  - Polls C(pg_isready) through C(docker exec) on the host, in one task. On timeout it fails
    with what pg_isready last answered and PostgreSQL's last log lines.
options:
  container: {description: The PostgreSQL container., type: str, required: true}
  user: {description: Superuser., type: str, default: postgres}
  database: {description: Database to check., type: str, required: true}
  timeout: {description: Seconds to wait., type: int, default: 120}
  log_lines: {description: Log lines shown when it gives up., type: int, default: 8}
  fail: {description: Fail the task when it gives up (false reports C(ok=false))., type: bool, default: true}
  give_up_when_stopped:
    description: >-
      Stop waiting as soon as the container's main process (the postmaster) is stopped (state T,
      as after SIGSTOP): it cannot become ready by itself. C(answer.stopped) says so.
    type: bool
    default: true
"""

RETURN = r"""
ok: {description: PostgreSQL accepts connections., type: bool, returned: always}
seconds: {description: Time waited., type: float, returned: always}
answer:
  description: >-
    pg_isready's last answer: ok, rc (1 rejecting, 2 no response), output, and stopped (why the
    wait ended early) when the postmaster is stopped
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli, postgres


def postmaster_pid(container):
    """The container's main process (the postmaster), or None when it cannot be told."""
    try:
        return docker_cli.summary(docker_cli.inspect(container))["pid"] or None
    except docker_cli.DockerError:
        return None

def main():
    module = AnsibleModule(argument_spec={
        "container": {"type": "str", "required": True},
        "user": {"type": "str", "default": "postgres"},
        "database": {"type": "str", "required": True},
        "timeout": {"type": "int", "default": 120},
        "log_lines": {"type": "int", "default": 8},
        "fail": {"type": "bool", "default": True},
        "give_up_when_stopped": {"type": "bool", "default": True},
    }, supports_check_mode=True)
    params = module.params
    if module.check_mode:
        module.exit_json(changed=False, skipped=True, ok=True, msg="check mode: nothing to wait for")
    pid = postmaster_pid(params["container"]) if params["give_up_when_stopped"] else None
    answer = postgres.wait_ready(params["container"], params["user"], params["database"],
                                 params["timeout"], pid)
    # pg_isready's own exit code goes under `answer`: a top-level rc != 0 would fail the task
    result = {"ok": answer["ok"], "seconds": answer["seconds"], "answer": answer}
    if answer["ok"] or not params["fail"]:
        module.exit_json(changed=False, **result)
    try:
        lines = docker_cli.logs(params["container"], 40).strip().splitlines()
    except docker_cli.DockerError as exc:
        lines = [str(exc)]
    hint = ""
    if any("postmaster.pid" in line for line in lines):
        hint = (" It refuses to start over postmaster.pid: check that no other postmaster uses "
                "the data directory before removing the file by hand.")
    module.fail_json(
        msg=(f"PostgreSQL in {params['container']} did not accept connections "
             + (f"({answer['stopped']})" if answer.get("stopped") else f"within {params['timeout']} s")
             + f"; pg_isready last said: {answer['output'] or answer['rc']}.{hint} "
             f"Last log lines: {' | '.join(lines[-params['log_lines']:])}"),
        **result)


if __name__ == "__main__":
    main()
