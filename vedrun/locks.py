"""Per-target locks: one vedrun run at a time on a host.

A lock is an flock on `<home>/locks/<host>.lock`, so the kernel releases it when its process
dies, however it dies: a lock left by a dead vedrun is reclaimed by the next run. The file also
names the holder (pid, runbook, since) for the run that is refused. Lock files are 0600 in a
0700 folder and opened with O_NOFOLLOW: a symbolic link planted at a lock's path is refused,
never followed (it would truncate whatever it points to).
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import re
import socket
import uuid
from pathlib import Path

from vedrun.errors import LockBusy
from vedrun.files import open_private, private_dir
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
        private_dir(self.folder.parent)
        private_dir(self.folder)
        try:
            for host in self.hosts:
                handle = os.fdopen(open_private(self._path(host), os.O_RDWR), "r+")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.seek(0)
                    raw = handle.read()
                    handle.close()
                    raise LockBusy(self._busy_message(host, raw)) from None
                self._files.append(handle)
                self._name_holder(handle, host)
        except BaseException:
            self.release()
            raise
        return self

    def _name_holder(self, handle, host: str) -> None:
        """Write who holds the lock; the flock is the lock, so a full disk only loses the name."""
        with contextlib.suppress(OSError):
            os.ftruncate(handle.fileno(), 0)
            os.pwrite(handle.fileno(), json.dumps({**self.holder, "host": host}).encode(), 0)

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
                with contextlib.suppress(OSError):
                    os.ftruncate(handle.fileno(), 0)
                fcntl.flock(handle, fcntl.LOCK_UN)
            finally:
                handle.close()
        self._files = []

    def __enter__(self) -> HostLocks:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def host_lock_vars(home: Path, runbook: str, incident_id: str | None) -> dict:
    """The extra var `vedrun_lock` for the hosts' own lock (role host_lock): an id of this run,
    its owner (this controller and home: this run holds that home's lock of the host, so a host
    lock of the same owner was left by a run that has ended) and what others are shown."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): the uid is enough
        user = str(os.getuid())
    return {"vedrun_lock": {
        "run_id": f"vedrun-{uuid.uuid4().hex[:16]}",
        "owner": f"{socket.gethostname()}:{Path(home).resolve()}",
        "holder": {"user": user, "pid": os.getpid(), "incident": incident_id or "", "runbook": runbook}}}
