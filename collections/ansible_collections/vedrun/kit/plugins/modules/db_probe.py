#!/usr/bin/python
"""Ansible module: every signal of the database's failure, gathered on the host in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
module: db_probe
short_description: Probe the PostgreSQL container, its readiness, sessions, locks and tables
description:
  - Read-only. One call gathers what the p0-database-failure decisions need, the way
    C(ansible.builtin.setup) gathers facts. All SQL runs through C(docker exec) on the
    container's local socket. Returns no secret (never the container's environment).
options:
  container: {description: The PostgreSQL container., type: str, required: true}
  user: {description: Superuser on the local socket., type: str, default: postgres}
  database: {description: The app's database., type: str, required: true}
  data_dir: {description: The data directory inside the container., type: str, required: true}
  probe_sql: {description: The sessions and locks probe (one JSON value)., type: str, required: true}
  probe_vars: {description: psql variables of the probe., type: dict, default: {}}
  integrity_sql: {description: The full read of every table; empty skips it., type: str, default: ""}
  integrity_vars: {description: psql variables of the integrity scan., type: dict, default: {}}
  integrity_timeout: {description: Seconds for the whole integrity scan., type: int, default: 600}
  deploy_history:
    description: The container's deploy history on the host (read when it is missing).
    type: path
    default: ''
"""

RETURN = r"""
container: {description: The container's state (no environment)., type: dict, returned: always}
pidfile:
  description: 'present (bool) and pid: a postmaster.pid left in a stopped container'
  type: dict
  returned: always
ready: {description: "pg_isready: ok, rc, output", type: dict, returned: always}
sessions:
  description: The probe's JSON (connections, terminable, blocked, blockers), or {}
  type: dict
  returned: always
integrity: {description: "ran, tables (read), errors (psql ERROR lines)", type: dict, returned: always}
history:
  description: >-
    When the container is missing: path, entries (no secrets), volumes {name: exists} of the
    newest spec
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import deploys, docker_cli, postgres


def pidfile(container, data_dir):
    text = docker_cli.copy_out(container, data_dir.rstrip("/") + "/postmaster.pid")
    if text is None:
        return {"present": False, "pid": None}
    first = text.splitlines()[0].strip() if text.strip() else ""
    return {"present": True, "pid": int(first) if first.isdigit() else None}


def integrity(params):
    if not params["integrity_sql"]:
        return {"ran": False, "tables": [], "errors": []}
    rc, out, err = postgres.psql(params["container"], params["user"], params["database"],
                                 params["integrity_sql"], params["integrity_vars"],
                                 stop_on_error=False, timeout=params["integrity_timeout"])
    return {"ran": True, "rc": rc, "tables": [line for line in out.splitlines() if line.strip()],
            "errors": [line.strip() for line in err.splitlines() if "ERROR" in line][:50]}


def main():
    module = AnsibleModule(argument_spec={
        "container": {"type": "str", "required": True},
        "user": {"type": "str", "default": "postgres"},
        "database": {"type": "str", "required": True},
        "data_dir": {"type": "str", "required": True},
        "probe_sql": {"type": "str", "required": True},
        "probe_vars": {"type": "dict", "default": {}},
        "integrity_sql": {"type": "str", "default": ""},
        "integrity_vars": {"type": "dict", "default": {}},
        "integrity_timeout": {"type": "int", "default": 600},
        "deploy_history": {"type": "path", "default": ""},
    }, supports_check_mode=True)
    params = module.params
    result = {"changed": False, "pidfile": {"present": False, "pid": None},
              "ready": {"ok": False, "rc": None, "output": "container not running"},
              "sessions": {}, "integrity": {"ran": False, "tables": [], "errors": []},
              "history": {"path": params["deploy_history"], "entries": [], "problem": "", "volumes": {}}}
    try:
        result["container"] = docker_cli.summary(docker_cli.inspect(params["container"]))
        if not result["container"]["exists"]:
            result["history"] = deploys.history(params["deploy_history"])
        if result["container"]["exists"] and not result["container"]["running"]:
            result["pidfile"] = pidfile(params["container"], params["data_dir"])
        if result["container"].get("running"):
            result["ready"] = postgres.ready(params["container"], params["user"], params["database"],
                                             pid=result["container"]["pid"])
        if result["ready"]["ok"]:
            result["sessions"] = postgres.psql_json(params["container"], params["user"],
                                                    params["database"], params["probe_sql"],
                                                    params["probe_vars"]) or {}
            result["integrity"] = integrity(params)
    except docker_cli.DockerError as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
