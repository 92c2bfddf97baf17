"""The memory-leak probe (vedrun.kit.memory_probe) on the lab VPS over SSH, on real containers of
the lab's API image with the memory limit production gives it, and the kit's decisions
(memory_leak_faults) on what it returned: a healthy container, a leak in progress, an OOM kill
loop, a SIGKILL from outside that is no leak. The containers are this test's own (their own
names and ports); the lab's API is not touched. Runs before tests/test_lab.py, on the session's lab.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest
from ansible_collections.vedrun.kit.plugins.filter.memory_leak import memory_leak_deaths, memory_leak_faults
from support import LAB, REPO, VENV_BIN

pytestmark = pytest.mark.lab
SETTINGS = {"window_seconds": 600, "loop_deaths": 2, "growth_bytes_per_second": 1_048_576,
            "horizon_seconds": 300}


@pytest.fixture
def api_container(lab):
    """Start containers of the lab's API image with a memory limit; all removed at the end."""
    image = json.loads((LAB / "lab.json").read_text())["images"]["api"]
    started = []

    def start(port: int, memory: str, leak_mb_per_sec: float = 0, restart: str = "no") -> str:
        name = f"vedrun-test-memory-{uuid.uuid4().hex[:8]}"
        subprocess.run(["docker", "run", "-d", "--name", name, "--network", "host", "--memory", memory,
                        "--memory-swap", memory, "--restart", restart, "--label", "org.vedrun.lab=test",
                        "-e", f"API_PORT={port}", "-e", "JWT_SECRET=lab-only-test",
                        "-e", "STRIPE_SECRET_KEY=sk_test_lab_only",
                        "-e", "STRIPE_WEBHOOK_SECRET=whsec_lab_only",
                        "-e", f"API_LEAK_MB_PER_SEC={leak_mb_per_sec}", "-e", "DATA_DIR=/tmp",
                        f"vedrun/lab-api:{image}"], check=True, capture_output=True)
        started.append(name)
        return name

    yield start
    subprocess.run(["docker", "rm", "-f", *started], capture_output=True, check=False)


def probe(lab: dict, container: str, sample_seconds: float = 2) -> dict:
    result = subprocess.run(
        [str(VENV_BIN / "ansible"), "-i", "inventory/lab", "lab-vps", "-m", "vedrun.kit.memory_probe", "-a",
         json.dumps({"container": container, "window_seconds": 300, "sample_seconds": sample_seconds})],
        cwd=REPO, env={**lab, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
                       "ANSIBLE_STDOUT_CALLBACK": "json"},
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"]["lab-vps"]


def state(name: str) -> dict:
    return json.loads(subprocess.run(["docker", "inspect", "-f", "{{json .}}", name], capture_output=True,
                                     text=True, check=True).stdout)


def wait(what, seconds: float = 90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(1)
    raise AssertionError(f"gave up waiting after {seconds} s")


def test_a_healthy_container_has_no_fault_and_its_limit_is_read(lab, api_container):
    name = api_container(23911, "160m")
    wait(lambda: state(name)["State"]["Running"])
    found = probe(lab, name)
    assert found["container"]["running"] and "Env" not in json.dumps(found["container"])
    assert found["cgroup"]["limit"] == 160 * 1024 * 1024 and found["cgroup"]["current"] > 0
    assert len(found["samples"]) >= 3 and found["host"]["available_bytes"] > 0
    assert memory_leak_faults(found, SETTINGS) == []


def test_a_leak_in_progress_is_growth_with_the_time_left(lab, api_container):
    name = api_container(23912, "512m", leak_mb_per_sec=8)
    wait(lambda: state(name)["State"]["Running"])
    found = probe(lab, name, sample_seconds=3)
    faults = memory_leak_faults(found, SETTINGS)
    assert [f["fault"] for f in faults] == ["memory growing"], faults
    assert 4 * 1_048_576 < faults[0]["bytes_per_second"] < 12 * 1_048_576
    assert 0 < faults[0]["seconds_to_limit"] < 120


def test_oom_kills_in_a_loop_are_named_with_the_kernels_evidence(lab, api_container):
    name = api_container(23913, "96m", leak_mb_per_sec=40, restart="on-failure")
    wait(lambda: state(name)["RestartCount"] >= 2)
    found = probe(lab, name, sample_seconds=0)
    deaths = [d for d in memory_leak_deaths(found, 300) if d["exit_code"] == 137]
    assert len(deaths) >= 2 and all(d["oom"] for d in deaths), found["events"]
    assert all("docker oom event" in d["evidence"] for d in deaths)
    assert "oom kill loop" in [f["fault"] for f in memory_leak_faults(found, SETTINGS)]


def test_a_sigkill_from_outside_is_not_a_memory_leak(lab, api_container):
    name = api_container(23914, "160m")
    wait(lambda: state(name)["State"]["Running"])
    time.sleep(1)
    subprocess.run(["docker", "kill", "--signal", "KILL", name], check=True, capture_output=True)
    wait(lambda: not state(name)["State"]["Running"])
    found = probe(lab, name, sample_seconds=0)
    assert [e["action"] for e in found["events"]][-2:] == ["kill", "die"], found["events"]
    faults = memory_leak_faults(found, SETTINGS)
    assert [f["fault"] for f in faults] == ["killed from outside"], faults
