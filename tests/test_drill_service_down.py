"""p0-service-down against the drill lab: each cause injected for real by hand, as an engineer
would meet it, then `vedrun p0-service-down -i inventory/lab --yes` over real SSH.

Runs before tests/test_lab.py (which ends by taking the lab down), on the session's lab.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from support import REPO, VENV_BIN

pytestmark = pytest.mark.lab
API = "http://127.0.0.1:3001"


def vedrun(lab: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "vedrun"), *args], cwd=REPO, env=lab,
                          capture_output=True, text=True, timeout=600, check=False)


def run_runbook(lab: dict) -> tuple[int, dict]:
    result = vedrun(lab, "p0-service-down", "-i", "inventory/lab", "--yes", "--json")
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout)


def api_answers() -> bool:
    try:
        with urllib.request.urlopen(f"{API}/courses?category=wealth-management", timeout=10) as r:
            return r.status == 200 and len(json.loads(r.read())["courses"]) == 50
    except OSError:
        return False


def health_failures() -> list[str] | None:
    try:
        with urllib.request.urlopen(f"{API}/health", timeout=5):
            return []
    except urllib.error.HTTPError as error:
        return json.loads(error.read()).get("failed")
    except OSError:
        return None


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def wait_until(predicate, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def assert_recovered(code: int, data: dict, fault: str) -> None:
    assert code == 0, data
    assert data["outcome"] == "recovered", data
    assert fault in data["run"]["faults"]["lab-vps"], data["run"]["faults"]
    incident = data["incident"]
    stamps = [incident[k] for k in ("started_at", "detected_at", "mitigated_at", "recovered_at")]
    assert all(stamps) and stamps == sorted(stamps)
    assert api_answers()


def test_healthy_lab_changes_nothing(lab):
    code, data = run_runbook(lab)
    assert code == 0 and data["outcome"] == "no fault found", data
    assert data["run"]["host_stats"]["lab-vps"]["changed"] == 0


def test_removed_container_is_restored(lab):
    assert docker("rm", "-f", "vedfinance-api").returncode == 0
    assert not api_answers()
    code, data = run_runbook(lab)
    assert_recovered(code, data, "container removed")
    evidence = os.path.join(data["evidence_dir"], "lab-vps")
    assert "df.txt" in os.listdir(evidence)
    # the evidence never holds the API's environment
    with open(os.path.join(evidence, "api-inspect.json")) as handle:
        inspect = handle.read()
    assert "JWT_SECRET" not in inspect


def test_stopped_container_is_started(lab):
    assert docker("stop", "vedfinance-api").returncode == 0
    code, data = run_runbook(lab)
    assert_recovered(code, data, "container crashed")


def test_port_conflict_with_a_known_squatter_is_freed(lab):
    image = json.loads((REPO / ".lab" / "lab.json").read_text())["images"]["api"]
    docker("stop", "vedfinance-api")
    squatter = docker("run", "-d", "--name", "vedrun-lab-squatter", "--network", "host",
                      "--entrypoint", "python3", f"vedrun/lab-api:{image}",
                      "-m", "http.server", "3001", "--bind", "127.0.0.1")
    try:
        assert squatter.returncode == 0, squatter.stderr
        assert wait_until(lambda: docker("logs", "vedrun-lab-squatter").returncode == 0)
        code, data = run_runbook(lab)
        assert_recovered(code, data, "port conflict")
        assert "Exited" in docker("ps", "-a", "--filter", "name=vedrun-lab-squatter",
                                  "--format", "{{.Status}}").stdout
    finally:
        docker("rm", "-f", "vedrun-lab-squatter")


def test_port_conflict_with_an_unknown_holder_is_escalated(lab):
    docker("stop", "vedfinance-api")
    holder = subprocess.Popen(["python3", "-m", "http.server", "3001", "--bind", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        code, data = run_runbook(lab)
        assert code == 1 and data["outcome"] == "failed", data
        assert f"pid {holder.pid}" in data["message"] and "escalate" in data["message"]
        assert data["escalation"]["level"] >= 2
        assert holder.poll() is None  # an unknown holder is never killed
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.wait(10)
    code, data = run_runbook(lab)  # the engineer freed the port: the runbook finishes the job
    assert_recovered(code, data, "container crashed")


def test_full_disk_is_reclaimed_without_touching_the_database(lab):
    before = docker("exec", "vedfinance-postgres", "psql", "-U", "postgres", "-d", "vedfinance",
                    "-Atc", "select count(*) from courses").stdout.strip()
    fill = docker("exec", "vedrun-lab-vps", "sh", "-c",
                  "head -c 100M /dev/zero >> /srv/vedfinance/api-data/logs/api.log; df -m "
                  "/srv/vedfinance/api-data")
    assert "100%" in fill.stdout, fill.stdout + fill.stderr
    assert wait_until(lambda: health_failures() == ["data_dir"], 10), health_failures()
    code, data = run_runbook(lab)
    assert_recovered(code, data, "disk full")
    after = docker("exec", "vedfinance-postgres", "psql", "-U", "postgres", "-d", "vedfinance",
                   "-Atc", "select count(*) from courses").stdout.strip()
    assert before == after == "500000"


def test_vedrun_drill_records_a_drill_incident(lab):
    result = vedrun(lab, "drill", "p0-service-down", "--fault", "removed", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    [drill] = json.loads(result.stdout)
    assert drill["outcome"] == "recovered" and drill["verified"] is True
    incident = drill["incident"]
    assert incident["kind"] == "drill" and incident["status"] == "resolved"
    total = next(row for row in drill["mttr"] if row["phase"] == "total")
    assert 0 < total["seconds"] < 600
    metrics = json.loads(vedrun(lab, "metrics", "--json").stdout)
    row = next(r for r in metrics["runbooks"]
               if r["runbook"] == "p0-service-down" and r["kind"] == "drill")
    assert row["times_used"] >= 1 and row["success_rate"] == 1.0
    unknown = vedrun(lab, "drill", "p0-service-down", "--fault", "meteor")
    assert unknown.returncode == 2 and "Drills: bad-deploy, crash, disk-full" in unknown.stderr
