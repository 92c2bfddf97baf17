"""p0-service-down against the drill lab: each cause injected for real by hand, as an engineer
would meet it, then `vedrun p0-service-down -i inventory/lab --yes` over real SSH.

Runs before tests/test_lab.py (which ends by taking the lab down), on the session's lab.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml
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


def test_a_run_from_another_controller_is_refused_by_the_hosts_own_lock(lab):
    """vedrun's own locks are per home and per inventory name: another laptop would run at once.
    A lock held on the VPS by another engineer's run stops this run before it changes anything,
    naming that run; once it is known to be gone, -e vedrun_host_lock_break=<its token> goes on."""
    held = {"token": "vedrun-bobs-run", "owner": "bobs-laptop:/home/bob/.vedrun", "user": "bob",
            "pid": 777, "incident": "INC-20261202-042", "runbook": "p0-service-down",
            "since": time.time(), "expires": time.time() + 600}
    planted = subprocess.run(
        ["docker", "exec", "-i", "vedrun-lab-vps", "sh", "-c",
         "mkdir -p -m 0700 /run/lock/vedrun && cat > /run/lock/vedrun/runbooks.lock"],
        input=json.dumps(held), capture_output=True, text=True, check=False)
    assert planted.returncode == 0, planted.stderr
    try:
        assert docker("stop", "vedfinance-api").returncode == 0
        code, data = run_runbook(lab)
        assert code == 4 and data["outcome"] == "host busy", data
        shown = json.dumps(data)
        assert "bob@bobs-laptop:/home/bob/.vedrun" in shown and "INC-20261202-042" in shown, shown
        assert "vedrun_host_lock_break=vedrun-bobs-run" in shown, shown
        assert not api_answers()  # nothing was changed
        result = vedrun(lab, "p0-service-down", "-i", "inventory/lab", "--yes", "--json",
                        "-e", "vedrun_host_lock_break=vedrun-bobs-run")
        assert_recovered(result.returncode, json.loads(result.stdout), "container crashed")
        left = docker("exec", "vedrun-lab-vps", "ls", "/run/lock/vedrun")
        assert "runbooks.lock" not in left.stdout, left.stdout  # given back after verify
    finally:
        docker("exec", "vedrun-lab-vps", "rm", "-f", "/run/lock/vedrun/runbooks.lock")
        docker("start", "vedfinance-api")


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


def test_hostile_paths_and_file_names_are_data_to_the_runbook(lab, tmp_path):
    """The stack's data path and the log file names, with spaces, quotes, leading dashes and
    semicolons, reach the host as data (argv and module parameters), never as shell words."""
    hostile_dir = "/srv/vedfinance/-x api data; it's \"$(id)\""
    hostile_log = "-f y; rm -rf 'x' \"z\".log"
    real_log = f"/srv/vedfinance/api-data/logs/{hostile_log}"
    inventory = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory" / "lab", inventory)
    described = inventory / "group_vars" / "all" / "main.yml"
    stack = yaml.safe_load(described.read_text())
    stack["vedrun_stack"]["api"]["data_path"] = hostile_dir
    described.write_text(yaml.safe_dump(stack, sort_keys=False))
    # the VPS sees the API's data filesystem under the hostile name too
    linked = docker("exec", "vedrun-lab-vps", "ln", "-sfn", "/srv/vedfinance/api-data", hostile_dir)
    assert linked.returncode == 0, linked.stderr
    try:
        fill = docker("exec", "vedrun-lab-vps", "sh", "-c",
                      'head -c 100M /dev/zero > "$1/logs/$2"; df -m "$1/"', "sh", hostile_dir, hostile_log)
        assert "100%" in fill.stdout, fill.stdout + fill.stderr
        assert wait_until(lambda: health_failures() == ["data_dir"], 10), health_failures()
        env = {**lab, "VEDRUN_LAB_DIR": str(REPO / ".lab")}
        result = subprocess.run([str(VENV_BIN / "vedrun"), "p0-service-down", "-i", str(inventory), "--yes",
                                 "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
                                check=False)
        assert_recovered(result.returncode, json.loads(result.stdout), "disk full")
        size = docker("exec", "vedrun-lab-vps", "stat", "-c", "%s", real_log)
        assert size.stdout.strip() == "0", size.stdout + size.stderr
    finally:
        docker("exec", "vedrun-lab-vps", "rm", "-f", hostile_dir, real_log)


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
