"""p0-memory-leak against the drill lab's real Node.js API (a 256 MiB container, the kernel's OOM
killer), as a user runs it: the installed `vedrun`, inventory/lab over real SSH. The faults are
injected here by hand (the drills' own scenarios, a leaking release, run in `make drills`). Runs
before tests/test_lab.py (which ends by taking the lab down); every test leaves the API on the
lab's release, unleaking, with its 256 MiB limit.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from support import LAB, REPO, VENV_BIN

pytestmark = pytest.mark.lab
RUNBOOK = "p0-memory-leak"
API = "vedfinance-api"
LIMIT = 256 * 1048576
OLD_RELEASE = ("-e", "memory_leak_deploy_suspect_seconds=1")


def vedrun(lab: dict, *args: str, json_out: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "vedrun"), RUNBOOK, "-i", "inventory/lab", "--yes",
                           *(["--json"] if json_out else []), *args], cwd=REPO, env=lab,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False)


def inspect() -> dict:
    return json.loads(subprocess.run(["docker", "inspect", API], capture_output=True, text=True,
                                     check=True).stdout)[0]


def leak(kind: str, rate: float) -> None:
    body = json.dumps({"kind": kind, ("mb_per_sec" if kind == "cache" else "per_second"): rate}).encode()
    request = urllib.request.Request("http://127.0.0.1:3001/debug/leak", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


def vps(*argv: str) -> str:
    return subprocess.run(["docker", "exec", "vedrun-lab-vps", *argv], capture_output=True, text=True,
                          check=False).stdout


@pytest.fixture
def leak_lab(lab):
    """The lab's API as deployed: no leak (a restart ends one switched on at run time), no record."""
    def reset():
        if inspect()["HostConfig"]["Memory"] != LIMIT:
            subprocess.run(["docker", "update", f"--memory={LIMIT}", f"--memory-swap={2 * LIMIT}", API],
                           capture_output=True, check=True)
        subprocess.run(["docker", "restart", API], capture_output=True, check=True)
        vps("rm", "-f", f"/var/lib/vedrun/memory-leak-{API}.json")
        for _ in range(60):
            try:
                with urllib.request.urlopen("http://127.0.0.1:3001/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
    reset()
    yield lab
    reset()


def test_a_healthy_lab_is_left_untouched(leak_lab):
    before = inspect()
    run = vedrun(leak_lab)
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads(run.stdout)
    assert data["outcome"] == "no fault found"
    assert data["run"]["host_stats"]["lab-vps"]["changed"] == 0
    after = inspect()
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert f"memory-leak-{API}" not in vps("ls", "/var/lib/vedrun")


def test_a_leak_in_the_running_release_is_checked_then_restarted_and_handed_off(leak_lab):
    """No release to blame (the lab's own one leaks, switched on at run time; the lab was deployed
    minutes ago, so the test says its release is older than a second, as on a host whose release
    has run for a day): --check says what it would do and does nothing; the run raises the limit,
    names the cause from two heap snapshots, restarts within the budget, puts the limit back once
    stable, and hands the code off (exit 8). A second run finds nothing."""
    leak("listeners", 50)
    started = inspect()["State"]["StartedAt"]
    check = vedrun(leak_lab, "--check", *OLD_RELEASE, json_out=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "CHECKED" in check.stdout and "Would change (check mode):" in check.stdout
    assert "raise the limit from 256 to 384 MiB until" in check.stdout
    assert "restart the API to free the leaked memory" in check.stdout
    state = inspect()
    assert state["State"]["StartedAt"] == started and state["HostConfig"]["Memory"] == LIMIT

    run = vedrun(leak_lab, *OLD_RELEASE)
    assert run.returncode == 8, run.stdout + run.stderr
    data = json.loads(run.stdout)
    assert data["outcome"] == "handed off"
    said = data["message"] or ""
    assert "a leak in the running release: restarted" in said and "heap: event listeners" in said, said
    evidence = Path(data["evidence_dir"]) / "lab-vps"
    cause = json.loads((evidence / "memory-leak-cause.json").read_text())
    assert cause["cause"]["cause"] == "event listeners", cause
    assert (evidence / "second.heapsnapshot").stat().st_size > 1_000_000
    report = json.loads((evidence / "node-report.json").read_text())
    assert "environmentVariables" not in report and report["javascriptHeap"]["usedMemory"] > 0
    secrets = [p.read_text().strip() for p in (LAB / "secrets").iterdir() if p.is_file()]
    for path in evidence.iterdir():
        text = path.read_bytes()
        assert not [s for s in secrets if s and s.encode() in text], path
    after = inspect()
    assert after["State"]["StartedAt"] != started and after["HostConfig"]["Memory"] == LIMIT
    record = json.loads(vps("cat", f"/var/lib/vedrun/memory-leak-{API}.json"))
    assert record["raise"] is None and len(record["restarts"]) == 1 and record["fixed_at"]

    again = vedrun(leak_lab, *OLD_RELEASE)
    assert again.returncode == 0 and json.loads(again.stdout)["outcome"] == "no fault found", again.stdout
