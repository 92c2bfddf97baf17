"""Per-target locks: one vedrun run at a time on a host.

A lock is an flock on `<home>/locks/<host>.lock`, so the kernel releases it when its process
dies, however it dies: a lock left by a dead vedrun is reclaimed by the next run. The file also
names the holder (pid, runbook, since) for the run that is refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from pathlib import Path

from vedrun.errors import LockBusy
from vedrun.timeutil import iso, now

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class HostLocks:
    """Hold the locks of every target host of a run, all or none."""

    def __init__(self, home: Path, hosts: list[str], runbook: str, incident_id: str | None):
        self.folder = Path(home) / "locks"
        self.hosts = sorted(set(hosts))  # a fixed order: two runs cannot deadlock
        self.holder = {"pid": os.getpid(), "runbook": runbook, "incident": incident_id,
                       "since": iso(now())}
        self._files: list = []

    def _path(self, host: str) -> Path:
        return self.folder / f"{_UNSAFE.sub('_', host)}.lock"

    def acquire(self) -> HostLocks:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            for host in self.hosts:
                handle = open(self._path(host), "a+")  # noqa: SIM115 - held until release()
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.seek(0)
                    raw = handle.read()
                    handle.close()
                    raise LockBusy(self._busy_message(host, raw)) from None
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps({**self.holder, "host": host}))
                handle.flush()
                self._files.append(handle)
        except BaseException:
            self.release()
            raise
        return self

    @staticmethod
    def _busy_message(host: str, raw: str) -> str:
        try:
            holder = json.loads(raw)
        except ValueError:
            holder = {}
        who = (f"vedrun pid {holder.get('pid', '?')} running {holder.get('runbook', '?')}"
               f"{' for ' + holder['incident'] if holder.get('incident') else ''}"
               f" since {holder.get('since', '?')}")
        return (f"{host} is busy: {who}. Wait for that run to end (or stop it with Ctrl-C in its "
                "terminal); two runbooks must not work on one host at once.")

    def release(self) -> None:
        for handle in self._files:
            try:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)
            finally:
                handle.close()
        self._files = []

    def __enter__(self) -> HostLocks:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
