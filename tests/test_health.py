"""`vedrun health` runs the real health role against an HTTP server on loopback."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from click.testing import CliRunner

from vedrun.cli import cli

pytestmark = pytest.mark.ansible


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _health(project, api, *extra):
    url = f"http://127.0.0.1:{api.server_address[1]}/health"
    return CliRunner().invoke(cli, ["health", "-i", str(project / "inventory"), "-l", "prod",
                                    "-e", f"health_api_url={url}", *extra],
                              catch_exceptions=False)


def test_healthy_api_is_green(env, project, api):
    result = _health(project, api)
    assert result.exit_code == 0, result.output
    assert "local-1: healthy" in result.output
    assert "ok    api" in result.output and "HTTP 200" in result.output


def test_failing_api_is_red_and_named(env, project, api):
    _Health.status = 503
    try:
        result = _health(project, api, "--json")
    finally:
        _Health.status = 200
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["healthy"] is False
    assert data["hosts"]["local-1"]["api"]["ok"] is False
    assert "503" in data["hosts"]["local-1"]["api"]["detail"]


def test_health_is_read_only_and_records_no_incident(env, project, api, home):
    from vedrun.store import Store

    _health(project, api)
    assert Store(home).incidents() == []


def _lab_inventory(project, api, tmp_path, monkeypatch):
    """A lab that is "set up" (lab.json) whose VPS is this machine and whose API is `api`."""
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    (lab_dir / "lab.json").write_text("{}")
    monkeypatch.setenv("VEDRUN_LAB_DIR", str(lab_dir))
    inventory = project / "inventory" / "lab"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text(
        "---\nall:\n  vars:\n    vedrun_environment: lab\n"
        "    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
        f"    health_api_url: http://127.0.0.1:{api.server_address[1]}/health\n"
        "    health_postgres_container: ''\n    health_redis_container: ''\n"
        "    health_containers: []\n    health_http_checks: []\n"
        "  hosts:\n    local-1:\n      ansible_connection: local\n")


def test_lab_status_runs_the_health_checks_of_vedrun_health(env, project, api, tmp_path, monkeypatch):
    _lab_inventory(project, api, tmp_path, monkeypatch)
    result = CliRunner().invoke(cli, ["lab", "status"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "local-1: healthy" in result.output and "ok    api" in result.output
    assert "FAIL" not in result.output


def test_lab_status_fails_when_a_check_fails(env, project, api, tmp_path, monkeypatch):
    _lab_inventory(project, api, tmp_path, monkeypatch)
    _Health.status = 503
    try:
        result = CliRunner().invoke(cli, ["lab", "status"], catch_exceptions=False)
    finally:
        _Health.status = 200
    assert result.exit_code == 1, result.output
    assert "local-1: UNHEALTHY" in result.output and "FAIL  api" in result.output
