#!/usr/bin/python
"""Ansible module: run a SQL script in the PostgreSQL container (docker exec, local socket)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: psql
short_description: Run a SQL script with psql inside the PostgreSQL container
description:
  - Runs C(psql -X -qAt -f -) through C(docker exec) on the container's local socket, with psql
    variables passed as C(-v name=value) argv items (never templated into the SQL text).
  - The caller says whether the script changes something (C(changed_when)); a read-only script
    also runs in check mode when C(read_only=true).
options:
  container: {description: The PostgreSQL container., type: str, required: true}
  user: {description: Superuser on the local socket., type: str, default: postgres}
  database: {description: Database to connect to., type: str, required: true}
  sql: {description: The script., type: str, required: true}
  vars: {description: psql variables (-v name=value)., type: dict, default: {}}
  json: {description: Parse the output as one JSON value (returned as C(data))., type: bool, default: false}
  read_only:
    description: The script changes nothing (it runs in check mode too).
    type: bool
    default: false
  timeout: {description: Seconds before the script is abandoned., type: int, default: 120}
"""

RETURN = r"""
stdout: {description: psql's output., type: str, returned: always}
data: {description: The output parsed as JSON (json=true)., type: raw, returned: when json}
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli, postgres


def main():
    module = AnsibleModule(argument_spec={
        "container": {"type": "str", "required": True},
        "user": {"type": "str", "default": "postgres"},
        "database": {"type": "str", "required": True},
        "sql": {"type": "str", "required": True},
        "vars": {"type": "dict", "default": {}},
        "json": {"type": "bool", "default": False},
        "read_only": {"type": "bool", "default": False},
        "timeout": {"type": "int", "default": 120},
    }, supports_check_mode=True)
    params = module.params
    if module.check_mode and not params["read_only"]:
        module.exit_json(changed=False, skipped=True, msg="check mode: the script was not run",
                         stdout="", data=None)
    try:
        rc, out, err = postgres.psql(params["container"], params["user"], params["database"],
                                     params["sql"], params["vars"], timeout=params["timeout"])
    except docker_cli.DockerError as exc:
        module.fail_json(msg=str(exc))
    if rc != 0:
        module.fail_json(msg=f"psql on {params['database']} failed (exit {rc}): {postgres.tail(err)}",
                         stdout=out, stderr=err)
    result = {"changed": False, "stdout": out, "stderr": err}
    if params["json"]:
        try:
            result["data"] = json.loads(out.strip() or "null")
        except ValueError:
            module.fail_json(msg=f"psql's output is not JSON: {out.strip()[:300]}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
