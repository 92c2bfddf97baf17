"""PostgreSQL's and Redis's readiness over their ports (module_utils wire_probe), and the health
check's fallback into the container. The protocol's corners (57P03, a password asked, NOAUTH, a
silent port) come from stand-in servers on loopback, since the real services cannot be made to
answer each on demand; the lab tests ask the real PostgreSQL and Redis."""

from __future__ import annotations

import socket
import struct
import threading

import pytest
from ansible_collections.vedrun.kit.plugins.module_utils import wire_probe


def _error(code, message):
    fields = b"SFATAL\0C" + code.encode() + b"\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!i", 4 + len(fields)) + fields


def _auth(code):
    return b"R" + struct.pack("!ii", 8, code)


@pytest.fixture
def stand_in():
    """stand_in(answer) -> (port, received): one connection; `received` holds what the client
    sent before and after the answer, complete once the client is done (the server's thread is
    joined by wait(received))."""
    servers, threads = [], {}

    def start(answer: bytes | None):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        received = []

        def serve():
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(2)
                try:
                    received.append(conn.recv(4096))
                    if answer is None:
                        conn.recv(1)  # silent until the client gives up
                        return
                    conn.sendall(answer)
                    received.append(conn.recv(4096))
                except OSError:
                    pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        servers.append(listener)
        threads[id(received)] = thread
        return listener.getsockname()[1], received

    start.wait = lambda received: threads[id(received)].join(timeout=5)
    yield start
    for listener in servers:
        listener.close()


def test_a_password_asked_is_accepting_and_is_not_answered(stand_in):
    port, received = stand_in(_auth(10))  # SASL
    result = wire_probe.postgres_ready("127.0.0.1", port, "postgres")
    stand_in.wait(received)
    assert result["ready"] is True and result["detail"].endswith("accepting connections")
    assert b"user\0postgres\0" in received[0]
    assert received[1:] in ([], [b""])  # closed, no Terminate in the middle of SASL


def test_a_trusted_session_is_ended_cleanly(stand_in):
    port, received = stand_in(_auth(0))
    assert wire_probe.postgres_ready("127.0.0.1", port, "postgres")["ready"] is True
    stand_in.wait(received)
    assert received[1] == b"X\0\0\0\x04"


def test_starting_up_is_rejecting(stand_in):
    port, _ = stand_in(_error("57P03", "the database system is starting up"))
    result = wire_probe.postgres_ready("127.0.0.1", port, "postgres")
    assert result["ready"] is False
    assert "rejecting connections: the database system is starting up" in result["detail"]


def test_another_error_still_means_the_server_is_up(stand_in):
    port, _ = stand_in(_error("28000", 'no pg_hba.conf entry for host "127.0.0.1"'))
    assert wire_probe.postgres_ready("127.0.0.1", port, "postgres")["ready"] is True


def test_silence_and_refusal_are_inconclusive(stand_in):
    port, _ = stand_in(None)
    silent = wire_probe.postgres_ready("127.0.0.1", port, "postgres", timeout=0.5)
    assert silent["ready"] is None and "timed out" in silent["detail"]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    free = closed.getsockname()[1]
    closed.close()
    refused = wire_probe.redis_ping("127.0.0.1", free)
    assert refused["ready"] is None and "refused" in refused["detail"].lower()


def test_redis_is_ready_only_on_pong(stand_in):
    port, received = stand_in(b"+PONG\r\n")
    assert wire_probe.redis_ping("127.0.0.1", port) == {
        "ready": True, "detail": "PONG", "seconds": pytest.approx(0, abs=2)}
    stand_in.wait(received)
    assert received[0] == b"PING\r\n"
    port, _ = stand_in(b"-NOAUTH Authentication required.\r\n")
    noauth = wire_probe.redis_ping("127.0.0.1", port)
    assert noauth["ready"] is None and "NOAUTH" in noauth["detail"]


@pytest.mark.lab
def test_the_lab_services_answer_over_their_ports(lab):
    assert wire_probe.postgres_ready("127.0.0.1", 5432, "postgres")["ready"] is True
    assert wire_probe.redis_ping("127.0.0.1", 6379)["ready"] is True


@pytest.mark.lab
def test_a_port_that_says_nothing_falls_back_into_the_container(lab, run_task):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    free = closed.getsockname()[1]
    closed.close()
    rc, result, out = run_task({"vedrun.kit.stack_health": {
        "postgres_container": "vedfinance-postgres", "postgres_port": free,
        "redis_container": "vedfinance-redis", "redis_port": free}})
    assert rc == 0, out
    assert result["checks"]["postgres"] == {**result["checks"]["postgres"], "ok": True}
    assert "accepting connections" in result["checks"]["postgres"]["detail"]
    assert "/var/run/postgresql" in result["checks"]["postgres"]["detail"]  # pg_isready's answer
    assert result["checks"]["redis"]["ok"] is True and result["checks"]["redis"]["detail"] == "PONG"
