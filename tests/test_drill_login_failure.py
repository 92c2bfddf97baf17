"""p1-login-failure against the drill lab's real API, Redis and deploy history, as a user runs it:
the installed `vedrun`, inventory/lab over real SSH. Faults are injected here by hand (the drills'
own scenarios run in `make drills`). Runs before tests/test_lab.py (which ends by taking the lab
down); every test leaves Redis with its declared settings.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
from support import REPO, VENV_BIN, assert_untouched_and_silent

pytestmark = pytest.mark.lab
RUNBOOK = "p1-login-failure"
REDIS = "vedfinance-redis"
DECLARED_MAXMEMORY = str(64 * 1048576)


def vedrun(lab: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "vedrun"), RUNBOOK, "-i", "inventory/lab", "--yes", "--json",
                           *args], cwd=REPO, env=lab, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=600, check=False)


def redis_cli(*args: str, container: str = REDIS) -> str:
    result = subprocess.run(["docker", "exec", container, "redis-cli", *args], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def declared_redis() -> None:
    declared = redis_cli("config", "set", "maxmemory", DECLARED_MAXMEMORY, "maxmemory-policy", "noeviction")
    assert declared == "OK"


@pytest.fixture
def login_lab(lab):
    declared_redis()
    yield lab
    declared_redis()


def test_a_healthy_lab_is_left_untouched_and_no_secret_is_in_what_the_run_says(login_lab):
    run = vedrun(login_lab)
    assert_untouched_and_silent(run)


def test_check_mode_says_what_it_would_do_and_the_same_command_then_fixes_it(login_lab):
    """Redis refusing writes (maxmemory set below what it holds, noeviction): --check changes
    nothing and says so; the run sets the declared limit back, and users log in again."""
    used = int(redis_cli("info", "memory").split("used_memory:")[1].split()[0])
    assert redis_cli("config", "set", "maxmemory", str(used // 2)) == "OK"
    assert redis_cli("set", "vedrun:test", "1").startswith("OOM"), "the fault is not in place"

    check = vedrun(login_lab, "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    assert report["outcome"] == "checked", report
    said = (Path(report["artifacts_dir"]) / "stdout").read_text()
    assert "redis refusing writes" in said and f"maxmemory back to {DECLARED_MAXMEMORY}" in said
    assert redis_cli("config", "get", "maxmemory").split()[1] == str(used // 2), "--check changed Redis"

    run = vedrun(login_lab)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["outcome"] == "recovered", report
    assert report["run"]["faults"] == {"lab-vps": ["redis refusing writes"]}, report["run"]
    assert redis_cli("config", "get", "maxmemory").split()[1] == DECLARED_MAXMEMORY
    assert redis_cli("set", "vedrun:test", "1", "ex", "5") == "OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _module(lab: dict, name: str, args: dict) -> tuple[int, dict, str]:
    result = subprocess.run([str(VENV_BIN / "ansible"), "-i", "inventory/lab", "lab-vps", "-m",
                             f"vedrun.kit.{name}", "-a", json.dumps(args)], cwd=REPO,
                            env={**lab, "ANSIBLE_NOCOLOR": "1"}, capture_output=True, text=True, timeout=120,
                            check=False)
    text = result.stdout
    start = text.find("=> {")
    data = json.loads(text[start + 3:text.rindex("}") + 1]) if start >= 0 else {}
    return result.returncode, data, text + result.stderr


def test_a_full_disk_under_redis_snapshots_refuses_writes_until_a_save_succeeds(login_lab):
    """A second Redis of the lab's image whose snapshot folder is a 1 MiB tmpfs, filled: its save
    fails (No space left on device) and it refuses writes (MISCONF). The probe says so, redis_fix
    fails with Redis's own log while the disk is full, and succeeds once the space is back."""
    image = subprocess.run(["docker", "inspect", REDIS, "--format", "{{.Config.Image}}"], capture_output=True,
                           text=True, check=True).stdout.strip()
    port, name = _free_port(), "vedrun-test-redis-misconf"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(["docker", "run", "-d", "--name", name, "--network", "host", "-e", f"REDIS_PORT={port}",
                    "--tmpfs", "/var/lib/redis:size=1m,uid=101,gid=101,mode=0750", image],
                   capture_output=True, check=True)
    try:
        for _ in range(50):
            if subprocess.run(["docker", "exec", name, "redis-cli", "ping"], capture_output=True, text=True,
                              check=False).stdout.strip() == "PONG":
                break
            time.sleep(0.2)
        subprocess.run(["docker", "exec", name, "sh", "-c", "chown $(id -u redis) /var/lib/redis; "
                        "dd if=/dev/zero of=/var/lib/redis/filler bs=64k count=100 2>/dev/null; true"],
                       check=True)
        redis_cli("set", "session:x", "y", container=name)
        redis_cli("bgsave", container=name)
        for _ in range(50):
            if "rdb_last_bgsave_status:err" in redis_cli("info", "persistence", container=name):
                break
            time.sleep(0.2)
        assert redis_cli("set", "k", "v", container=name).startswith("MISCONF")

        rc, probe, text = _module(login_lab, "login_probe", {
            "api_url": "http://127.0.0.1:3001", "api_container": "vedfinance-api", "redis_container": name,
            "redis_port": port, "deploy_history": "/var/lib/vedfinance/deploys/vedfinance-api.json"})
        assert rc == 0, text
        # a Redis that cannot save refuses even PING (MISCONF): it answers, it is not hung
        assert probe["redis"]["ping"]["answered"], probe["redis"]
        assert probe["redis"]["ping"]["error"].startswith("MISCONF"), probe["redis"]
        assert probe["redis"]["write"]["error"].startswith("MISCONF"), probe["redis"]
        assert probe["redis"]["info"]["rdb_last_bgsave_status"] == "err"

        rc, _data, text = _module(login_lab, "redis_fix", {"container": name, "port": port, "bgsave": True,
                                                           "wait_seconds": 20})
        assert rc != 0 and "save failed again" in text and "No space left on device" in text, text
        subprocess.run(["docker", "exec", name, "rm", "/var/lib/redis/filler"], check=True)
        rc, data, text = _module(login_lab, "redis_fix", {"container": name, "port": port, "bgsave": True,
                                                          "wait_seconds": 20})
        assert rc == 0 and data["saved"]["status"] == "ok", text
        assert redis_cli("set", "k", "v", container=name) == "OK"
        assert redis_cli("config", "get", "stop-writes-on-bgsave-error", container=name).split()[1] == "yes"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


