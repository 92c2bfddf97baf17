#!/usr/bin/python
"""Ansible module: clear a lock queue on the host in one task: cancel, wait, terminate, wait."""

from __future__ import annotations

DOCUMENTATION = r"""
module: db_unblock
short_description: Cancel the queries blocking others, then terminate blockers past an age
description:
  - When a blocker is running a statement, runs C(unblock_sql) with C(action=cancel) and polls
    C(probe_sql) for up to C(settle_seconds) until no session waits on a lock; if some still do
    (a blocker idle in its transaction keeps its locks, and a cancel does nothing to it), runs
    C(unblock_sql) with C(action=terminate) and C(max_age), and polls again.
  - Which sessions may be cancelled or terminated is decided by the SQL (only the app's role
    unless C(other_roles), never superusers or replication roles).
  - In check mode nothing is cancelled or terminated.
options:
  container: {description: The PostgreSQL container., type: str, required: true}
  user: {description: Superuser on the local socket., type: str, default: postgres}
  database: {description: The app's database., type: str, required: true}
  unblock_sql:
    description: The cancel/terminate script (psql variables action and max_age).
    type: str
    required: true
  probe_sql:
    description: The sessions and locks probe (JSON with blocked and blockers).
    type: str
    required: true
  vars: {description: psql variables both scripts read., type: dict, default: {}}
  max_age: {description: Blockers whose transaction is older (s) are terminated., type: int, required: true}
  settle_seconds:
    description: Seconds to wait for the queue to clear after each step.
    type: float
    default: 3
"""

RETURN = r"""
cancelled: {description: The blockers cancelled., type: list, returned: always}
terminated: {description: The blockers terminated., type: list, returned: always}
blocked: {description: Sessions still waiting on a lock at the end., type: list, returned: always}
blockers: {description: Their blockers., type: list, returned: always}
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli, postgres


def main():
    module = AnsibleModule(argument_spec={
        "container": {"type": "str", "required": True},
        "user": {"type": "str", "default": "postgres"},
        "database": {"type": "str", "required": True},
        "unblock_sql": {"type": "str", "required": True},
        "probe_sql": {"type": "str", "required": True},
        "vars": {"type": "dict", "default": {}},
        "max_age": {"type": "int", "required": True},
        "settle_seconds": {"type": "float", "default": 3},
    }, supports_check_mode=True)
    params = module.params
    where = (params["container"], params["user"], params["database"])

    def probe():
        return postgres.psql_json(*where, params["probe_sql"], params["vars"]) or {}

    def settle():
        deadline = time.monotonic() + params["settle_seconds"]
        state = probe()
        while state.get("blocked") and time.monotonic() < deadline:
            time.sleep(0.5)
            state = probe()
        return state

    try:
        if module.check_mode:
            state = probe()
            module.exit_json(changed=bool(state.get("blocked")), cancelled=[], terminated=[],
                             blocked=state.get("blocked", []), blockers=state.get("blockers", []))
        state = probe()
        cancelled = []
        # a cancel ends a running statement; a blocker idle in its transaction has none, and
        # waiting for a cancel to help it would only delay the terminate
        if any(b.get("state") == "active" for b in state.get("blockers", [])):
            cancelled = postgres.psql_json(*where, params["unblock_sql"],
                                           {**params["vars"], "action": "cancel", "max_age": 0}) or []
            state = settle()
        terminated = []
        if state.get("blocked"):
            terminated = postgres.psql_json(*where, params["unblock_sql"],
                                            {**params["vars"], "action": "terminate",
                                             "max_age": params["max_age"]}) or []
            state = settle()
    except docker_cli.DockerError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=bool(cancelled or terminated), cancelled=cancelled, terminated=terminated,
                     blocked=state.get("blocked", []), blockers=state.get("blockers", []))


if __name__ == "__main__":
    main()
