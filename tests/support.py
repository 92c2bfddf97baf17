"""What the test files share, importable by name (`from support import REPO`): tests/kit has a
conftest.py of its own, so `from conftest import ...` could find the wrong one."""

from __future__ import annotations

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



def assert_untouched_and_silent(run) -> dict:
    """A `vedrun RUNBOOK --json` run on a healthy lab: it found no fault, changed nothing on the
    VPS, and no secret of the lab is in what it said (terminal, the run's stdout artifact)."""
    import json

    from secret_forms import read_secrets

    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["outcome"] == "no fault found", report
    assert report["run"]["host_stats"]["lab-vps"]["changed"] == 0, report["run"]["host_stats"]
    text = (Path(report["artifacts_dir"]) / "stdout").read_text() + run.stdout + run.stderr
    for name, value in read_secrets(LAB / "secrets").items():
        assert value not in text, f"the lab's {name} is in what the run said"
    return report
