"""psql and pg_isready inside the PostgreSQL container, through `docker exec`.

The tools in the container always match the server, and the container's local socket needs no
password: no database password exists anywhere in vedrun.
"""

from __future__ import annotations

import json
import time

from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli, listeners


def psql_argv(user, database, variables=None, stop_on_error=True):
    argv = ["psql", "-X", "-qAt", "-v", f"ON_ERROR_STOP={1 if stop_on_error else 0}",
            "-U", user, "-d", database]
    for key, value in (variables or {}).items():
        if isinstance(value, bool):
            value = str(value).lower()
        argv += ["-v", f"{key}={value}"]
    return [*argv, "-f", "-"]


def psql(container, user, database, sql, variables=None, stop_on_error=True, timeout=120):
    """Run a script; returns (rc, stdout, stderr)."""
    return docker_cli.exec_argv(container, psql_argv(user, database, variables, stop_on_error),
                                stdin=sql, timeout=timeout)


def psql_json(container, user, database, sql, variables=None, timeout=120):
    """Run a script whose output is one JSON value; raises DockerError with psql's own error."""
    rc, out, err = psql(container, user, database, sql, variables, timeout=timeout)
    if rc != 0:
        raise docker_cli.DockerError(f"psql on {database} failed (exit {rc}): {tail(err)}")
    return json.loads(out.strip() or "null")


def stopped(pid):
    """Why the postmaster `pid` cannot answer, when it is stopped (state T), else ''."""
    if listeners.is_stopped(pid):
        return (f"the postmaster (pid {pid}) is stopped (state T, as after SIGSTOP): it answers "
                "nothing until it is resumed or restarted")
    return ""


def ready(container, user, database, timeout=10, pid=None):
    """pg_isready: {ok, rc, output}. rc 1 = rejecting (starting up), 2 = no response. With the
    postmaster's `pid`, a stopped postmaster is "no response" at once, with `stopped` saying why
    (pg_isready would only wait its 3 s for nothing)."""
    why = stopped(pid)
    if why:
        return {"ok": False, "rc": 2, "output": f"no response: {why}", "stopped": why}
    try:
        rc, out, err = docker_cli.exec_argv(
            container, ["pg_isready", "-U", user, "-d", database, "-t", "3"], timeout=timeout)
    except docker_cli.DockerError as exc:
        return {"ok": False, "rc": -1, "output": str(exc)}
    return {"ok": rc == 0, "rc": rc, "output": (out.strip() or err.strip())[:300]}


def wait_ready(container, user, database, seconds, pid=None):
    """Poll pg_isready until it accepts connections or `seconds` pass; the last answer. With the
    postmaster's `pid`, the wait ends as soon as it is stopped: it cannot become ready by waiting."""
    started = time.monotonic()
    while True:
        answer = ready(container, user, database, pid=pid)
        if answer["ok"] or answer.get("stopped") or time.monotonic() - started >= seconds:
            answer["seconds"] = round(time.monotonic() - started, 2)
            return answer
        time.sleep(1)


def tail(text, lines=6):
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])
