"""Readiness of PostgreSQL and Redis from the host, over their declared ports, in the module's own
process: what `pg_isready` and `redis-cli ping` ask, without a `docker exec` (a CLI process, an
exec in the container: a tenth of a second of CPU or more each, several per host in a health
check). Only a clear "ready" is taken from here; anything else (refused, silent, another answer)
is inconclusive and the caller asks inside the container, which has the last word.
"""

from __future__ import annotations

import socket
import struct
import time

PROTOCOL_3 = 196608  # PostgreSQL protocol 3.0
CANNOT_CONNECT_NOW = "57P03"  # starting up, shutting down, in recovery: not accepting


def _recv_exact(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data


def postgres_ready(host, port, user, timeout=3.0):
    """Ask PostgreSQL for a session as pg_isready does (PQping): any authentication request or
    error other than 57P03 means it accepts connections. Nothing is authenticated: the
    connection is closed at the first answer. Returns {ready: True|False|None, detail, seconds};
    None when there was no conclusive answer."""
    started = time.monotonic()
    fields = b"".join(key + b"\0" + value.encode() + b"\0"
                      for key, value in ((b"user", user), (b"database", "postgres"),
                                         (b"application_name", "vedrun-health")))
    packet = struct.pack("!ii", 8 + len(fields) + 1, PROTOCOL_3) + fields + b"\0"
    ready, detail = None, ""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(packet)
            kind = _recv_exact(sock, 1)
            length = struct.unpack("!i", _recv_exact(sock, 4))[0]
            body = _recv_exact(sock, min(max(length - 4, 0), 8192))
            if kind == b"R":
                ready, detail = True, f"{host}:{port} - accepting connections"
                if body[:4] == b"\0\0\0\0":  # AuthenticationOk (trust): end the session cleanly
                    sock.sendall(b"X" + struct.pack("!i", 4))
                # else: closed while asked for a password, as pg_isready does (nothing is logged)
            elif kind == b"E":
                parts = {item[:1]: item[1:].decode("utf-8", "replace")
                         for item in body.split(b"\0") if item}
                code, message = parts.get(b"C", ""), parts.get(b"M", "")
                ready = code != CANNOT_CONNECT_NOW
                detail = (f"{host}:{port} - accepting connections" if ready else
                          f"{host}:{port} - rejecting connections: {message}")
            else:
                detail = f"{host}:{port} answered something else than PostgreSQL ({kind!r})"
    except (OSError, ValueError, struct.error) as error:
        detail = f"{host}:{port}: {error}"
    return {"ready": ready, "detail": detail, "seconds": round(time.monotonic() - started, 3)}


def redis_ping(host, port, timeout=3.0):
    """PING on Redis's port; ready only on +PONG. Returns {ready: True|None, detail, seconds}."""
    started = time.monotonic()
    ready, detail = None, ""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            line = b""
            while not line.endswith(b"\r\n") and len(line) < 512:
                chunk = sock.recv(512)
                if not chunk:
                    break
                line += chunk
            text = line.decode("utf-8", "replace").strip()
            ready = True if text == "+PONG" else None
            detail = "PONG" if ready else f"{host}:{port} answered {text[:120]!r}"
    except (OSError, ValueError) as error:
        detail = f"{host}:{port}: {error}"
    return {"ready": ready, "detail": detail, "seconds": round(time.monotonic() - started, 3)}
