"""A deliberate memory leak for the OOM drills.

A daemon thread appends zero-filled bytearrays (CPython memsets them, so every page is really
touched and counted in the cgroup) to a module-level list, ten times a second, at the configured
rate. Nothing is ever freed: with `--memory 128m` the kernel OOM killer ends the process, which is
the whole container (waitress serves from this one process), and Docker records OOMKilled=true.
"""

from __future__ import annotations

import logging
import threading
import time

MB = 1024 * 1024
TICK = 0.1

log = logging.getLogger("vedapi.leak")

_blocks: list[bytearray] = []
_lock = threading.Lock()
_state = {"rate": 0.0, "thread": None}


def _run() -> None:
    while True:
        rate = _state["rate"]
        if rate > 0:
            _blocks.append(bytearray(int(rate * MB * TICK)))
        time.sleep(TICK)


def set_rate(mb_per_sec: float) -> None:
    with _lock:
        _state["rate"] = float(mb_per_sec)
        if mb_per_sec > 0 and _state["thread"] is None:
            thread = threading.Thread(target=_run, name="leak", daemon=True)
            _state["thread"] = thread
            thread.start()
    log.warning("memory leak rate set to %s MB/s (leaked so far: %.0f MB)", mb_per_sec, leaked_mb())


def rate() -> float:
    return _state["rate"]


def leaked_mb() -> float:
    return sum(len(b) for b in list(_blocks)) / MB
