"""A container's memory as its cgroup counts it, on cgroup v1 (this lab) and v2 (most VPS today).

Read on the host by the kit's probes (p0-memory-leak, issue 11). `oom_kills` is the kernel's own
count of OOM kills in the cgroup since it was made (v2 memory.events `oom_kill`, v1
memory.oom_control `oom_kill`): the confirmation that `OOMKilled` alone does not give. Docker
makes the cgroup anew at each start, so the count covers the current run only; Docker's `oom`
events and the kernel log cover the runs before.
"""

from __future__ import annotations

import os
import re

# v1 reports "no limit" as the largest page-aligned value of a 64-bit counter
V1_UNLIMITED = 1 << 62
_V2 = re.compile(r"^0::(/.*)$", re.M)
_V1_MEMORY = re.compile(r"^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(/.*)$", re.M)


def _read(path):
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _pairs(text):
    """`key value` lines (memory.events, memory.stat, memory.oom_control) as a dict of ints."""
    found = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            found[parts[0]] = int(parts[1])
    return found


def cgroup_dir(pid, proc="/proc", root="/sys/fs/cgroup"):
    """The memory cgroup folder of a process and its version: (path, 2|1), or (None, 0)."""
    text = _read(os.path.join(proc, str(pid), "cgroup")) or ""
    v1 = _V1_MEMORY.search(text)
    if v1:
        path = os.path.join(root, "memory", v1.group(1).lstrip("/"))
        if os.path.isdir(path):
            return path, 1
    v2 = _V2.search(text)
    if v2:
        path = os.path.join(root, v2.group(1).lstrip("/"))
        if os.path.isdir(path):
            return path, 2
    return None, 0


def read_v2(path):
    events = _pairs(_read(os.path.join(path, "memory.events")))
    limit = _read(os.path.join(path, "memory.max"))
    swap_limit = _read(os.path.join(path, "memory.swap.max"))
    stat = _pairs(_read(os.path.join(path, "memory.stat")))
    current = _int(_read(os.path.join(path, "memory.current")))
    swap = _int(_read(os.path.join(path, "memory.swap.current")))
    limit = None if limit in (None, "max") else _int(limit)
    swap_limit = None if swap_limit in (None, "max") else _int(swap_limit)
    return {"version": 2, "current": current, "limit": limit, "swap_current": swap, "swap_limit": swap_limit,
            # memory and swap together, as v1's memsw counts them: what a leak fills before the kill
            "total_current": None if current is None else current + (swap or 0),
            "total_limit": None if limit is None or swap_limit is None else limit + swap_limit,
            "limit_hits": events.get("max"), "oom_events": events.get("oom"),
            "oom_kills": events.get("oom_kill"),
            "anon": stat.get("anon"), "file": stat.get("file")}


def read_v1(path):
    control = _pairs(_read(os.path.join(path, "memory.oom_control")))
    limit = _int(_read(os.path.join(path, "memory.limit_in_bytes")))
    memsw = _int(_read(os.path.join(path, "memory.memsw.limit_in_bytes")))
    stat = _pairs(_read(os.path.join(path, "memory.stat")))
    current = _int(_read(os.path.join(path, "memory.usage_in_bytes")))
    memsw_current = _int(_read(os.path.join(path, "memory.memsw.usage_in_bytes")))
    memsw = None if memsw is None or memsw >= V1_UNLIMITED else memsw
    return {"version": 1, "current": current,
            "limit": None if limit is None or limit >= V1_UNLIMITED else limit,
            "swap_current": None if current is None or memsw_current is None else memsw_current - current,
            "swap_limit": memsw,
            # v1's memsw: memory and swap together, what a leak fills before the kill
            "total_current": memsw_current if memsw_current is not None else current,
            "total_limit": memsw,
            "limit_hits": _int(_read(os.path.join(path, "memory.failcnt"))), "oom_events": None,
            "oom_kills": control.get("oom_kill"),
            "oom_kill_disabled": bool(control.get("oom_kill_disable")),
            "anon": stat.get("rss"), "file": stat.get("cache")}


def snapshot(pid, proc="/proc", root="/sys/fs/cgroup"):
    """The memory counters of the process's cgroup, or {version: 0, error} when none is found."""
    path, version = cgroup_dir(pid, proc, root)
    if path is None:
        return {"version": 0, "error": f"no memory cgroup found for pid {pid} under {root}"}
    data = read_v2(path) if version == 2 else read_v1(path)
    data["path"] = path
    return data
