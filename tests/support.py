"""What the test files share, importable by name (`from support import REPO`): tests/kit has a
conftest.py of its own, so `from conftest import ...` could find the wrong one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
LAB = REPO / ".lab"


def read_everything(*roots: Path) -> str:
    """Every byte vedrun left in these folders, decoded, for searching."""
    chunks = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


def remediation_off(scenario: str, lab: dict, *ansible_args: str) -> str:
    """`molecule test` of a drill with the runbook's mitigate and resolve skipped: it must fail in
    converge (the runbook's own verify), else the drill would pass without the fix. Returns its
    output. ansible_args go to every ansible-playbook call (a shorter wait, say)."""
    env = {**os.environ, **lab, "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
    off = subprocess.run([str(VENV_BIN / "molecule"), "test", "-s", scenario, "--", "--skip-tags",
                          "mitigate,resolve", *ansible_args], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=900, check=False)
    output = off.stdout + off.stderr
    assert off.returncode != 0, output[-3000:]
    assert "converge: Executed: Failed" in output, output[-3000:]
    return output
