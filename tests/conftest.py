"""Fixtures: a throw-away vedrun project (the real roles and health playbook, the test
playbooks and inventory) and a throw-away VEDRUN_HOME, so tests never touch a user's records."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent

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
    for name in ("health.yml", "p0-memory-leak.yml"):
        shutil.copy(REPO / "playbooks" / name, root / "playbooks" / name)
    shutil.copytree(TESTS / "inventory", root / "inventory")
    (root / "inventory" / "group_vars" / "all" / "main.yml").write_text(
        f"---\nfault_dir: {fault_dir}\n")
    catalog = yaml.safe_load((REPO / "runbooks.yml").read_text())
    placeholder = next(r for r in catalog["runbooks"] if r["id"] == "p0-memory-leak")
    catalog["runbooks"] = [*TEST_RUNBOOKS, placeholder]
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


def read_everything(*roots: Path) -> str:
    """Every byte vedrun left in these folders, decoded, for searching."""
    chunks = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


LAB = REPO / ".lab"


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
