"""Fixtures: a throw-away vedrun project (the real roles and health playbook, the test
playbooks and inventory) and a throw-away VEDRUN_HOME, so tests never touch a user's records.

No test leaves a process behind: every process a test spawns with `spawn` is tracked, and at
teardown its whole tree and the trees of any ansible-playbook the test started are killed. At
the end of the session an ansible-playbook started by this session that is still alive fails
the run (the session marks its processes with SESSION_ENV in their environment).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml
from support import LAB, REPO, TESTS, VENV_BIN, read_everything

__all__ = ["LAB", "REPO", "TESTS", "VENV_BIN", "make_project", "read_everything"]

TEST_RUNBOOKS = [
    {"id": "p0-fake-outage", "severity": "P0", "title": "Fake Outage", "scenario": "Marker file",
     "causes": ["Marker present"], "quick_actions": ["Remove marker"],
     "specialist": "Slack: #test-experts", "playbook": "playbooks/fake-outage.yml"},
    {"id": "p1-slow-fake", "severity": "P1", "title": "Slow Fake", "scenario": "Sleeps",
     "causes": ["Sleep"], "quick_actions": ["Wait"], "playbook": "playbooks/slow.yml"},
    {"id": "p1-secret-leak", "severity": "P1", "title": "Secret Leak", "scenario": "Leaks",
     "causes": ["Missing no_log"], "quick_actions": ["Add no_log"],
     "playbook": "playbooks/secret.yml"},
    {"id": "p1-noop", "severity": "P1", "title": "Noop", "scenario": "Healthy",
     "causes": ["None"], "quick_actions": ["None"], "playbook": "playbooks/noop.yml"},
]


def make_project(root: Path, fault_dir: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copy(REPO / "ansible.cfg", root / "ansible.cfg")
    (root / "roles").symlink_to(REPO / "roles")
    shutil.copytree(TESTS / "playbooks", root / "playbooks")
    for name in ("health.yml", "not-automated.yml"):
        shutil.copy(REPO / "playbooks" / name, root / "playbooks" / name)
    if (REPO / "collections").is_dir():  # the runbook kit the roles use
        (root / "collections").symlink_to(REPO / "collections")
    shutil.copytree(TESTS / "inventory", root / "inventory")
    (root / "inventory" / "group_vars" / "all" / "main.yml").write_text(
        f"---\nfault_dir: {fault_dir}\n")
    catalog = yaml.safe_load((REPO / "runbooks.yml").read_text())
    # a runbook not automated yet, with a real entry's words: every one of the six is automated now
    payment = next(r for r in catalog["runbooks"] if r["id"] == "p1-payment-failure")
    not_automated = dict(payment, automated=False)
    not_automated.pop("playbook", None)
    catalog["runbooks"] = [*TEST_RUNBOOKS, not_automated]
    (root / "runbooks.yml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    return root


@pytest.fixture
def fault_dir(tmp_path: Path) -> Path:
    path = tmp_path / "faults"
    path.mkdir()
    return path


@pytest.fixture
def project(tmp_path: Path, fault_dir: Path) -> Path:
    return make_project(tmp_path / "project", fault_dir)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def env(project: Path, home: Path, monkeypatch) -> dict:
    """The environment a user would have: project and home set, the venv's tools on PATH."""
    monkeypatch.setenv("VEDRUN_PROJECT", str(project))
    monkeypatch.setenv("VEDRUN_HOME", str(home))
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("VEDRUN_VAULT_PASSWORD_FILE", raising=False)
    return {"VEDRUN_PROJECT": str(project), "VEDRUN_HOME": str(home)}


@pytest.fixture
def run(env):
    """run(*args, **kwargs): `vedrun ARGS` in-process (CliRunner) in the `env` of a user."""
    from click.testing import CliRunner

    from vedrun.cli import cli

    runner = CliRunner()

    def invoke(*args, **kwargs):
        return runner.invoke(cli, list(args), catch_exceptions=False, **kwargs)

    return invoke


@pytest.fixture
def planted_vault(project: Path, tmp_path: Path) -> tuple[str, Path]:
    """A real ansible-vault file in the test inventory holding a unique secret."""
    secret = f"PLANTED-{uuid.uuid4().hex}"
    password = tmp_path / "vault-pass.txt"
    password.write_text("test-only vault password\n")
    vault = project / "inventory" / "group_vars" / "all" / "vault.yml"
    vault.write_text(f"---\nvault_test_secret: {secret}\n")
    subprocess.run([str(VENV_BIN / "ansible-vault"), "encrypt", "--vault-password-file",
                    str(password), str(vault)], check=True, capture_output=True)
    assert secret not in vault.read_text()
    return secret, password


def _engine_possible() -> str | None:
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True,
                                                 check=False).returncode == 0:
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "no Docker engine answers and this is not a root Debian machine that can start one"
    return None


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> dict:
    """The drill lab, up and healthy, once per test session (`vedrun lab up`). The last test of
    tests/test_lab.py takes it down and checks that nothing is left."""
    reason = _engine_possible()
    if reason:
        pytest.skip(reason)
    env = {**os.environ, "VEDRUN_HOME": str(tmp_path_factory.mktemp("labhome")),
           "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VEDRUN_PROJECT", None)
    up = subprocess.run([str(VENV_BIN / "vedrun"), "lab", "up"], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=1800, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    return env


# -- no process left behind -------------------------------------------------------------------
SESSION_ENV = "VEDRUN_TEST_SESSION"


def pytest_configure(config):
    # inherited by everything this session starts: vedrun, ansible-playbook, its workers, modules
    os.environ.setdefault(SESSION_ENV, uuid.uuid4().hex)


def _processes() -> dict[int, dict]:
    """pid -> ppid, pgid, args, and whether this test session started it."""
    marker = f"{SESSION_ENV}={os.environ[SESSION_ENV]}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if stat[0] == "Z":
            continue
        found[int(entry.name)] = {"ppid": int(stat[1]), "pgid": int(stat[2]), "args": args.strip(),
                                  "ours": marker in environ.split(b"\0")}
    return found


def _ansible_playbooks(processes: dict[int, dict]) -> set[int]:
    """ansible-playbook processes (and their forked workers) this session started."""
    return {pid for pid, info in processes.items()
            if info["ours"] and "ansible-playbook" in info["args"] and pid != os.getpid()}


def _tree(processes: dict[int, dict], roots: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, info in processes.items():
        children.setdefault(info["ppid"], []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in found or pid not in processes:
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def kill_trees(roots: set[int]) -> set[int]:
    """SIGKILL these processes, everything they started and their process groups."""
    processes = _processes()
    victims = _tree(processes, roots) - {os.getpid()}
    own_group = os.getpgrp()
    for pgid in {processes[pid]["pgid"] for pid in victims} - {own_group, 0, 1}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return victims


@pytest.fixture
def spawn():
    """Popen for a test: the process gets a session (a process group) of its own and is
    tracked; at teardown its whole tree is killed, whatever the test's result."""
    started: list[subprocess.Popen] = []

    def start(args, **kwargs):
        process = subprocess.Popen(args, start_new_session=True, **kwargs)
        started.append(process)
        return process

    yield start
    kill_trees({p.pid for p in started if p.poll() is None})
    for process in started:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)


@pytest.fixture(autouse=True)
def _no_ansible_left_behind():
    """An ansible-playbook a test started (in-process or in a child) ends with the test."""
    before = _ansible_playbooks(_processes())
    yield
    leftovers = _ansible_playbooks(_processes()) - before
    if leftovers:
        kill_trees(leftovers)


def pytest_sessionfinish(session, exitstatus):
    """The run fails if an ansible-playbook started by this session is still alive."""
    deadline = time.monotonic() + 10
    alive = _ansible_playbooks(_processes())
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = _ansible_playbooks(_processes())
    if not alive:
        return
    processes = _processes()
    lines = [f"  pid {pid}: {processes[pid]['args'][:160]}" for pid in sorted(alive) if pid in processes]
    kill_trees(alive)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("\nansible-playbook processes started by this test session were still "
                            "alive at its end (killed now):\n" + "\n".join(lines), red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
