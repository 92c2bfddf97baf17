"""The drill lab seen from vedrun: up and down run playbooks/lab.yml (the one definition of the
stack, shared with the Molecule drills); status asks Docker and the services directly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

LAB_DIR_ENV = "VEDRUN_LAB_DIR"


def lab_dir(project: Path) -> Path:
    return Path(os.environ.get(LAB_DIR_ENV) or project / ".lab")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _docker(*args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def containers() -> list[dict]:
    """The lab's containers (label org.vedrun.lab), running or not."""
    try:
        result = _docker("ps", "-a", "--filter", "label=org.vedrun.lab",
                         "--format", "{{json .}}")
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def status(project: Path) -> tuple[list[dict], list[Check]]:
    """Each container and each service check, from outside the stack."""
    description_file = lab_dir(project) / "lab.json"
    found = containers()
    if not description_file.is_file():
        return found, [Check("lab", False, "not set up: run `vedrun lab up`")]
    description = json.loads(description_file.read_text(encoding="utf-8"))
    ports, names = description["ports"], description["containers"]
    checks = [_http("api /health", f"http://127.0.0.1:{ports['api']}/health", {200}),
              _http("stripe stand-in", f"http://127.0.0.1:{ports['stripe']}/v1/events", {401}),
              _exec("postgres", names["postgres"], ["pg_isready", "-U", "postgres"]),
              _exec("redis", names["redis"], ["redis-cli", "ping"], expect="PONG"),
              _ssh_banner("vps sshd", ports["ssh"])]
    return found, checks


def _http(name: str, url: str, expected: set[int]) -> Check:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback URL we built
            code, body = response.status, response.read(300).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        code, body = error.code, error.read(300).decode("utf-8", "replace")
    except (OSError, ValueError) as error:
        return Check(name, False, str(getattr(error, "reason", error)))
    return Check(name, code in expected, f"HTTP {code} {body.strip()[:120]}")


def _exec(name: str, container: str, argv: list[str], expect: str | None = None) -> Check:
    try:
        result = _docker("exec", container, *argv)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Check(name, False, str(error))
    out = (result.stdout or result.stderr).strip()
    ok = result.returncode == 0 and (expect is None or out == expect)
    return Check(name, ok, out[:160])


def _ssh_banner(name: str, port: int) -> Check:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            banner = conn.recv(64).decode("ascii", "replace").strip()
    except OSError as error:
        return Check(name, False, str(error))
    return Check(name, banner.startswith("SSH-2.0-"), banner)
