"""The kit's modules and action plugin run for real through ansible-playbook on this machine:
hostile file names, waits that say why they gave up, evidence written on the controller only."""

from __future__ import annotations

import http.server
import os
import stat
import threading

import pytest

pytestmark = pytest.mark.ansible

HOSTILE = ["my report.log", "x -f y.log", "-rf.log", "a;rm -rf b.log", "quote'\"d.log", "$(id).log"]


def test_truncate_logs_takes_any_file_name_as_data(run_task, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in HOSTILE:
        (data / name).write_bytes(b"x" * 2_000_000 + f"LAST LINE OF {name}\n".encode())
    (data / "small.log").write_text("keep me\n")
    (data / "linked.log").symlink_to(data / "small.log")  # never followed
    rc, result, out = run_task({"vedrun.kit.truncate_logs": {
        "path": str(data), "min_size_mb": 1, "keep_tail_bytes": 100, "protected": ["/var/lib/postgresql"]}})
    assert rc == 0, out
    assert sorted(os.path.basename(t["path"]) for t in result["truncated"]) == sorted(HOSTILE)
    for name in HOSTILE:
        assert (data / name).stat().st_size == 0
    tails = {t["name"]: t["content"] for t in result["tails"]}
    assert tails[f"tail-of-{HOSTILE[1]}"].endswith(f"LAST LINE OF {HOSTILE[1]}\n")
    assert (data / "small.log").read_text() == "keep me\n"


def test_truncate_logs_refuses_a_protected_folder(run_task, tmp_path):
    _rc, result, _out = run_task({"vedrun.kit.truncate_logs": {
        "path": str(tmp_path / "db" / "logs"), "protected": [str(tmp_path / "db")]}})
    assert result["failed"] and "overlaps the protected folder" in result["msg"]


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 503
    body = b'{"status": "fail", "failed": ["postgres"], "error": "password authentication failed"}'

    def do_GET(self):
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()


def test_a_wait_that_gives_up_says_what_the_service_last_answered(run_task, endpoint):
    _rc, result, _out = run_task({"vedrun.kit.http_wait": {"url": endpoint, "timeout": 2, "what": "the API"}})
    assert result["failed"]
    assert "the API (http" in result["msg"] and "did not answer 200 within 2 s" in result["msg"]
    assert "HTTP 503" in result["msg"] and "password authentication failed" in result["msg"]


def test_a_wait_that_succeeds(run_task, endpoint):
    _Answer.status = 200
    try:
        rc, result, out = run_task({"vedrun.kit.http_wait": {"url": endpoint, "timeout": 5, "settle": 2}})
    finally:
        _Answer.status = 503
    assert rc == 0 and result["ok"] and result["attempts"] == 2, out


def test_a_refused_connection_is_named(run_task):
    _rc, result, _out = run_task({"vedrun.kit.http_wait": {"url": "http://127.0.0.1:9/health", "timeout": 1}})
    assert result["failed"] and "refused" in result["msg"].lower()


def test_stack_health_fails_only_on_evidence(run_task, endpoint):
    rc, result, out = run_task({"vedrun.kit.stack_health": {"api_url": endpoint}})
    assert rc == 0, out
    assert result["checks"]["api"]["ok"] is False and "HTTP 503" in result["checks"]["api"]["detail"]
    assert result["failed_checks"] == ["api"]


def test_keep_evidence_writes_private_files_on_the_controller(run_task, tmp_path):
    folder = tmp_path / "evidence"
    rc, result, out = run_task({"vedrun.kit.keep_evidence": {
        "files": {"notes.txt": "what the runbook saw", "probe.json": {"a": 1}}}},
        extra_vars={"vedrun_evidence_dir": str(folder)})
    assert rc == 0 and result["changed"] is False, out
    host = folder / "localhost"
    assert (host / "notes.txt").read_text() == "what the runbook saw\n"
    assert '"a": 1' in (host / "probe.json").read_text()
    assert stat.S_IMODE(host.stat().st_mode) == 0o700
    assert stat.S_IMODE((host / "notes.txt").stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["../escape.txt", "a/b", "..", ""])
def test_keep_evidence_refuses_a_name_that_leaves_the_folder(run_task, tmp_path, name):
    _rc, result, _out = run_task({"vedrun.kit.keep_evidence": {"files": {name: "x"}}},
                               extra_vars={"vedrun_evidence_dir": str(tmp_path / "evidence")})
    assert result["failed"] and "not a plain file name" in result["msg"]
    assert not (tmp_path / "escape.txt").exists()


def test_keep_evidence_outside_vedrun_keeps_nothing(run_task, tmp_path):
    rc, result, _out = run_task({"vedrun.kit.keep_evidence": {"files": {"a.txt": "x"}}})
    assert rc == 0 and result["kept"] == [] and "outside vedrun" in result["skipped_reason"]
