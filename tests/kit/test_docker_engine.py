"""Inspections through the local engine's socket (module_utils docker_cli), with the CLI as the
fallback. The error paths talk to a stand-in engine on a unix socket in tmp_path (an engine that
answers 500 or never answers cannot be made of the real one); the last test compares the socket's
answer with the real CLI's on the lab."""

from __future__ import annotations

import http.server
import json
import socket
import socketserver
import subprocess
import threading
from typing import ClassVar

import pytest
from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli


class _Engine(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[dict] = {}

    def do_GET(self):
        status, body = self.answers.get(self.path, (404, {"message": "No such container"}))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self):
        return "unix"

    def log_message(self, *args):
        pass


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def engine(tmp_path, monkeypatch):
    path = str(tmp_path / "docker.sock")
    server = _UnixServer(path, _Engine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(docker_cli, "ENGINE_SOCKET", path)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    calls = []
    monkeypatch.setattr(docker_cli, "run", lambda argv, **kw: calls.append(argv) or (1, "", "cli used"))
    yield calls
    server.shutdown()
    server.server_close()
    _Engine.answers = {}


def test_an_inspection_is_read_from_the_socket(engine):
    _Engine.answers = {"/containers/vedfinance-api/json":
                       (200, {"Id": "abc", "State": {"Status": "running"}})}
    assert docker_cli.inspect("vedfinance-api")["Id"] == "abc"
    assert engine == []  # no CLI process


def test_a_missing_container_is_none_without_the_cli(engine):
    assert docker_cli.inspect("gone") is None
    assert engine == []


def test_names_are_quoted_into_the_path(engine):
    _Engine.answers = {"/containers/a%2F..%2Fb%20c/json": (200, {"Id": "quoted"})}
    assert docker_cli.inspect("a/../b c")["Id"] == "quoted"


def test_an_engine_error_falls_back_to_the_cli_which_names_it(engine):
    _Engine.answers = {"/containers/api/json": (500, {"message": "boom"})}
    with pytest.raises(docker_cli.DockerError, match="cli used"):
        docker_cli.inspect("api")
    assert engine == [["container", "inspect", "--", "api"]]


def test_a_silent_engine_is_named_not_waited_for_twice(tmp_path, monkeypatch):
    path = str(tmp_path / "silent.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    monkeypatch.setattr(docker_cli, "ENGINE_SOCKET", path)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    try:
        with pytest.raises(docker_cli.DockerError, match=r"no answer within 0\.5 s"):
            docker_cli.inspect("api", timeout=0.5)
    finally:
        listener.close()


@pytest.mark.parametrize(("environ", "uses_socket"), [
    ({}, True),
    ({"DOCKER_HOST": "unix://{sock}"}, True),
    ({"DOCKER_HOST": "tcp://127.0.0.1:2375"}, False),
    ({"DOCKER_HOST": "ssh://vps"}, False),
    ({"DOCKER_CONTEXT": "remote"}, False),
])
def test_the_socket_is_used_only_where_the_cli_would_use_it(tmp_path, monkeypatch, environ, uses_socket):
    sock = tmp_path / "docker.sock"
    sock.touch()
    monkeypatch.setattr(docker_cli, "ENGINE_SOCKET", str(sock))
    environ = {key: value.format(sock=sock) for key, value in environ.items()}
    assert (docker_cli.engine_socket(environ) == str(sock)) is uses_socket


def test_no_socket_means_the_cli(tmp_path, monkeypatch):
    monkeypatch.setattr(docker_cli, "ENGINE_SOCKET", str(tmp_path / "absent.sock"))
    assert docker_cli.engine_socket({}) is None


@pytest.mark.lab
def test_the_socket_answers_what_the_cli_answers(lab):
    cli = json.loads(subprocess.run(["docker", "container", "inspect", "vedfinance-postgres"],
                                    capture_output=True, text=True, check=True).stdout)[0]
    direct = docker_cli.inspect("vedfinance-postgres")
    assert docker_cli.engine_socket() is not None
    assert direct["Id"] == cli["Id"] and direct["State"]["Status"] == cli["State"]["Status"]
    assert docker_cli.summary(direct) == docker_cli.summary(cli)
    assert docker_cli.inspect("vedrun-no-such-container") is None
