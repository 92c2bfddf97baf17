"""Stopping a run cleanly: SIGINT/SIGTERM end every process the run started, none survives."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time


class Interrupts:
    """SIGINT/SIGTERM ask the run to stop (ansible-runner kills ansible's process group);
    the previous handlers come back afterwards, so Ctrl-C works again."""

    def __init__(self):
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal_name = signal.Signals(signum).name

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def cancel(self) -> bool:
        """ansible-runner's cancel_callback. ansible-runner kills ansible's process group, but
        module processes can live in sessions of their own: end the whole tree first."""
        if self.signal_name is None:
            return False
        terminate_descendants()
        return True


def _descendants(root: int) -> list[int]:
    listing = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid="], capture_output=True,
                             text=True, check=False).stdout
    children: dict[int, list[int]] = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            children.setdefault(int(parts[1]), []).append(int(parts[0]))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def terminate_descendants(grace: float = 3.0) -> None:
    """SIGTERM every process this one started (ansible, its workers, modules, ssh), then
    SIGKILL what is left after a grace period: no orphan survives an abort."""
    pids = _descendants(os.getpid())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + grace
        while sig == signal.SIGTERM and time.monotonic() < deadline:
            if not [pid for pid in pids if _alive(pid)]:
                return
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:  # a zombie is dead, just not yet reaped
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
