#!/usr/bin/python
"""Ansible module: every signal of a memory leak, gathered on the host in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
module: memory_probe
short_description: >-
  A container's deaths, OOM evidence, memory counters and growth, and the host's headroom
description:
  - Read-only. One call gathers what the p0-memory-leak decisions (C(vedrun.kit.memory_leak_*))
    read, the way C(ansible.builtin.setup) gathers facts - the container's state (never its
    environment), Docker's C(oom), C(die), C(kill) and C(start) events of the window, the
    kernel's OOM-killer lines (when the kernel log is readable), the cgroup's memory counters (v1
    or v2, with its own count of OOM kills), memory samples a short while apart, and the host's
    available memory.
options:
  container: {description: The container., type: str, required: true}
  window_seconds: {description: Seconds of events to read back., type: int, default: 900}
  sample_seconds: {description: Seconds to sample memory over (0 takes one sample)., type: float, default: 3}
  sample_interval: {description: Seconds between samples., type: float, default: 0.5}
  deploy_history:
    description: "The container's deploy history on the host (module_utils deploys)."
    type: path
  state_file:
    description: "The runbook's record on the host (a limit raise, its restarts), read back."
    type: path
  diagnostics_dir:
    description: "The container's diagnostics folder as the host sees it (its free space)."
    type: path
"""

RETURN = r"""
now: {description: The host's time (epoch seconds) at the end of the probe., type: float, returned: always}
container: {description: The container's state and limits (no environment)., type: dict, returned: always}
events:
  description: >-
    Docker events of the window, oldest first: action, time, id (the container's, 12 hex),
    exit_code, signal
  type: list
  returned: always
kernel_ooms:
  description: Times (epoch) of the kernel's OOM-killer lines in the window.
  type: list
  returned: always
kernel_log: {description: Why the kernel log could not be read ('' when it was)., type: str, returned: always}
cgroup:
  description: The cgroup's memory counters (module_utils cgroup_memory).
  type: dict
  returned: always
samples: {description: "Memory use over the sampling: [{t, bytes}]", type: list, returned: always}
host:
  description: "total_bytes and available_bytes of the host (/proc/meminfo)"
  type: dict
  returned: always
history:
  description: "The deploy history (module_utils deploys.history), when asked"
  type: dict
  returned: always
state:
  description: "The runbook's record ({} when there is none; error when unreadable)"
  type: dict
  returned: always
disk: {description: "The diagnostics folder: path, free_bytes (or error)", type: dict, returned: always}
"""

import json
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import cgroup_memory, deploys, docker_cli

ACTIONS = ("oom", "die", "kill", "start")
# what the kernel writes when its OOM killer ends a process (cgroup or global)
KERNEL_OOM = re.compile(r"Memory cgroup out of memory|Out of memory: Kill|oom-kill:")


# `docker events` with --until in the future streams until then: a whole second was waited for
# on every probe when --until was the next whole second. The daemon writes a death's event a few
# milliseconds after the process ended, so a quarter of a second past `until` is waited for.
EVENTS_MARGIN_SECONDS = 0.25


def events(name, since, until):
    """Docker's container events of the window, without attributes but the exit code and signal
    (an event's attributes carry the container's labels, which may hold secrets)."""
    rc, out, err = docker_cli.run(
        ["events", "--since", f"{since:.3f}", "--until", f"{until + EVENTS_MARGIN_SECONDS:.3f}",
         "--filter", f"container={name}", "--filter", "type=container", "--format", "{{json .}}"],
        timeout=30)
    if rc != 0:
        raise docker_cli.DockerError(f"docker events failed: {err.strip()[:300]}")
    found = []
    for line in out.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        action = str(event.get("Action") or event.get("status") or "").split(":")[0]
        if action not in ACTIONS:
            continue
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        found.append({"action": action, "time": round(int(event.get("timeNano", 0)) / 1e9, 3),
                      "id": str((event.get("Actor") or {}).get("ID") or event.get("id") or "")[:12],
                      "exit_code": int(attributes.get("exitCode", 0) or 0),
                      "signal": int(attributes.get("signal", 0) or 0)})
    return sorted(found, key=lambda e: e["time"])


def kernel_ooms(since):
    """Epoch times of the kernel's OOM-killer lines since `since`, and why none could be read."""
    try:
        with open("/proc/uptime", encoding="ascii") as handle:
            booted = time.time() - float(handle.read().split()[0])
        descriptor = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return [], f"the kernel log is not readable here ({exc.strerror}): Docker's events decide"
    times = []
    try:
        while True:
            try:
                record = os.read(descriptor, 8192).decode("utf-8", "replace")
            except BlockingIOError:
                break
            except OSError:  # EPIPE: a record was overwritten while reading; go on
                continue
            head, _, message = record.partition(";")
            fields = head.split(",")
            if len(fields) >= 3 and KERNEL_OOM.search(message):
                at = booted + int(fields[2]) / 1e6
                if at >= since:
                    times.append(round(at, 3))
    finally:
        os.close(descriptor)
    return times, ""


def host_memory():
    found = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in ("MemTotal", "MemAvailable"):
                    found[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return {"total_bytes": found.get("MemTotal"), "available_bytes": found.get("MemAvailable")}


def record(path):
    if not path or not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {"error": f"{path} is not a JSON object"}
    except (OSError, ValueError) as exc:
        return {"error": f"unreadable {path}: {exc}"}


def disk(path):
    if not path:
        return {}
    try:
        found = os.statvfs(path)
    except OSError as exc:
        return {"path": path, "error": f"{path}: {exc.strerror}"}
    return {"path": path, "free_bytes": found.f_bavail * found.f_frsize}


def samples(pid, seconds, interval):
    """The cgroup's memory use, sampled; [] when the container is not running."""
    if not pid:
        return []
    taken, started = [], time.monotonic()
    while True:
        data = cgroup_memory.snapshot(pid)
        used = data.get("total_current") if data.get("total_current") is not None else data.get("current")
        if used is not None:  # memory and swap: with swap allowed, memory alone stays flat at the limit
            taken.append({"t": round(time.monotonic() - started, 3), "bytes": used})
        if time.monotonic() - started + interval > seconds:
            return taken
        time.sleep(interval)


def main():
    module = AnsibleModule(argument_spec={
        "container": {"type": "str", "required": True},
        "window_seconds": {"type": "int", "default": 900},
        "sample_seconds": {"type": "float", "default": 3},
        "sample_interval": {"type": "float", "default": 0.5},
        "deploy_history": {"type": "path"},
        "state_file": {"type": "path"},
        "diagnostics_dir": {"type": "path"},
    }, supports_check_mode=True)
    params = module.params
    started = time.time()
    try:
        container = docker_cli.summary(docker_cli.inspect(params["container"]))
        pid = container["pid"] if container["running"] else 0
        cgroup = (cgroup_memory.snapshot(pid) if pid
                  else {"version": 0, "error": "the container is not running"})
        taken = samples(pid, params["sample_seconds"], params["sample_interval"])
        now = time.time()
        seen = events(params["container"], started - params["window_seconds"], now)
        history = deploys.history(params["deploy_history"]) if params["deploy_history"] else {}
    except docker_cli.DockerError as exc:
        module.fail_json(msg=f"could not read {params['container']}'s state from Docker: {exc}")
    ooms, why = kernel_ooms(started - params["window_seconds"])
    module.exit_json(changed=False, now=round(now, 3), container=container, events=seen,
                     kernel_ooms=ooms, kernel_log=why, cgroup=cgroup, samples=taken, host=host_memory(),
                     history=history, state=record(params["state_file"]),
                     disk=disk(params["diagnostics_dir"]))


if __name__ == "__main__":
    main()
