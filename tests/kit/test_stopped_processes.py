"""A stopped process (state T, as after SIGSTOP) cannot answer: the probes say so at once instead
of waiting out their timeouts, and a restart resumes it first so that it can stop cleanly. Real
processes of this machine, stopped and resumed by the test; no Docker except the last test."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest
from ansible_collections.vedrun.kit.plugins.module_utils import listeners, postgres
from ansible_collections.vedrun.kit.plugins.modules import api_probe


@pytest.fixture
def server():
    """A real HTTP server on loopback: (process, port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if listeners.listening_inodes(port):
            break
        time.sleep(0.05)
    yield proc, port
    proc.send_signal(signal.SIGCONT)
    proc.kill()
    proc.wait()


def _wait_state(pid, wanted):
    for _ in range(100):
        if listeners.state(pid) == wanted:
            return True
        time.sleep(0.02)
    return False


def test_the_state_is_read_from_proc(server):
    proc, _port = server
    assert listeners.state(proc.pid) in ("S", "R")
    proc.send_signal(signal.SIGSTOP)
    assert _wait_state(proc.pid, "T")
    proc.send_signal(signal.SIGCONT)
    assert _wait_state(proc.pid, "S") or listeners.state(proc.pid) == "R"
    assert listeners.state(999_999_999) == ""


def test_a_stopped_holder_is_named_without_a_request(server):
    proc, port = server
    proc.send_signal(signal.SIGSTOP)
    assert _wait_state(proc.pid, "T")
    holders = {"number": port, "holders": listeners.holders(port)}
    assert [h["pid"] for h in holders["holders"]] == [proc.pid]
    started = time.monotonic()
    result = api_probe.health(f"http://127.0.0.1:{port}/", 5, holders)
    assert time.monotonic() - started < 1  # not the 2 x 5 s of a request and its retry
    assert result["ok"] is False and result["stopped"] is True and result["attempts"] == 0
    assert f"port {port} is stopped (pid {proc.pid}" in result["reason"]


def test_a_running_holder_is_asked(server):
    _proc, port = server
    result = api_probe.health(f"http://127.0.0.1:{port}/", 5, {"number": port,
                                                                "holders": listeners.holders(port)})
    assert result["ok"] is True and result["status"] == 200 and "stopped" not in result


def test_a_stopped_postmaster_is_no_response_at_once():
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        sleeper.send_signal(signal.SIGSTOP)
        assert _wait_state(sleeper.pid, "T")
        # the container is never asked: pg_isready would wait its 3 s for nothing
        answer = postgres.ready("no-such-container", "postgres", "vedfinance", pid=sleeper.pid)
        assert answer["ok"] is False and answer["rc"] == 2
        assert f"pid {sleeper.pid}) is stopped" in answer["stopped"]
        started = time.monotonic()
        waited = postgres.wait_ready("no-such-container", "postgres", "vedfinance", 30, pid=sleeper.pid)
        assert waited["stopped"] and time.monotonic() - started < 1
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.lab
def test_a_restart_resumes_a_stopped_container_first(lab, run_task):
    name = "vedrun-test-stopped"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    # PID 1 ends on SIGTERM; stopped, it could not, and Docker would kill it after 20 s
    subprocess.run(["docker", "run", "-d", "--name", name, "--network", "none", "vedrun/base:bookworm",
                    "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"],
                   capture_output=True, check=True)
    try:
        subprocess.run(["docker", "kill", "--signal", "STOP", name], capture_output=True, check=True)
        started = time.monotonic()
        rc, result, out = run_task({"vedrun.kit.container_action": {
            "name": name, "action": "restart", "stop_timeout": 20}})
        assert rc == 0 and result["changed"] and result["resumed"] is True, out
        assert result["container"]["running"] is True
        assert time.monotonic() - started < 12, "the stopped process was killed at the timeout"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
