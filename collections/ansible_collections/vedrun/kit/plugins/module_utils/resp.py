"""A minimal Redis client (RESP2 over TCP) for the probes on the host: no dependency to install
on a VPS. Commands are sent as arrays of bulk strings (argv), never as inline text, so no value
is ever parsed as a command."""

from __future__ import annotations

import socket


class ReplyError(Exception):
    """Redis answered with an error reply (`-OOM ...`, `-MISCONF ...`): the text is Redis's own."""


class Redis:
    def __init__(self, host="127.0.0.1", port=6379, timeout=2.0):
        self._sock = socket.create_connection((host, int(port)), timeout=timeout)
        self._file = self._sock.makefile("rb")

    def close(self):
        try:
            self._file.close()
        finally:
            self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, *args):
        """Send one command; return its reply (str, int, list, None) or raise ReplyError."""
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._sock.sendall(b"".join(parts))
        return self._reply()

    def _line(self):
        line = self._file.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("Redis closed the connection")
        return line[:-2]

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode("utf-8", "replace")
        if kind == b"-":
            raise ReplyError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self._file.read(size + 2)
            if len(data) != size + 2:
                raise ConnectionError("Redis closed the connection")
            return data[:-2].decode("utf-8", "replace")
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._reply() for _ in range(size)]
        raise ConnectionError(f"not a Redis reply: {line[:40]!r}")


def parse_info(text):
    """INFO's `key:value` lines as a dict (sections and comments dropped)."""
    result = {}
    for line in (text or "").splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, value = line.split(":", 1)
            result[key.strip()] = value.strip()
    return result
