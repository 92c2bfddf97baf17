"""Who holds a TCP port, as the kernel says: never parsed from a process name.

The listening socket is found in /proc/net/tcp{,6} (state LISTEN), its inode matched against
the `socket:[inode]` links under /proc/<pid>/fd/. What a holder is rests on what a process
cannot choose for itself: its executable (/proc/<pid>/exe), its start time (so a pid reused by
another process is not mistaken for it) and its container (from its cgroup). The process name
(`comm`) is reported for people only and decides nothing.
"""

from __future__ import annotations

import os
import re

LISTEN = "0A"
_CONTAINER_ID = re.compile(r"(?:docker[-/]|/containers/|cri-containerd-|libpod-)([0-9a-f]{64})")


def listening_inodes(port, proc="/proc"):
    """Inodes of the sockets listening on `port` (IPv4 and IPv6, any address)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc, "net", table), encoding="ascii") as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == int(port) and fields[9] != "0":
                inodes.add(fields[9])
    return inodes


def _read(path, limit=4096):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def start_time(pid, proc="/proc"):
    """The process's start time in clock ticks since boot (field 22 of stat), or None."""
    stat = _read(os.path.join(proc, str(pid), "stat"))
    if not stat or ")" not in stat:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def state(pid, proc="/proc"):
    """The process's state letter (field 3 of stat: R, S, D, T stopped, t traced, Z), or ''."""
    stat = _read(os.path.join(proc, str(pid), "stat"))
    if not stat or ")" not in stat:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] if fields else ""


STOPPED = "T"  # state of a process stopped by a signal (SIGSTOP): it runs nothing until resumed


def is_stopped(pid, proc="/proc"):
    """Whether the process is stopped (state T); False when it cannot be read."""
    return bool(pid) and state(pid, proc) == STOPPED


def container_id(pid, proc="/proc"):
    """The 64-hex id of the container the process runs in, or '' on the host itself."""
    match = _CONTAINER_ID.search(_read(os.path.join(proc, str(pid), "cgroup"), 16384))
    return match.group(1) if match else ""


def describe(pid, proc="/proc"):
    """What a person and a decision need to know of a process."""
    try:
        exe = os.readlink(os.path.join(proc, str(pid), "exe"))
    except OSError:
        exe = ""
    cmdline = _read(os.path.join(proc, str(pid), "cmdline")).replace("\x00", " ").strip()
    return {"pid": int(pid), "start_time": start_time(pid, proc), "exe": exe,
            "comm": _read(os.path.join(proc, str(pid), "comm")).strip(),
            "cmdline": cmdline[:200], "container_id": container_id(pid, proc),
            "state": state(pid, proc)}


def holders(port, proc="/proc"):
    """Every process holding a listening socket on `port`, by the kernel's socket inodes."""
    inodes = {f"socket:[{inode}]" for inode in listening_inodes(port, proc)}
    if not inodes:
        return []
    found = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        fd_dir = os.path.join(proc, entry, "fd")
        try:
            links = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in links:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target in inodes:
                found.append(describe(entry, proc))
                break
    return sorted(found, key=lambda holder: holder["pid"])
