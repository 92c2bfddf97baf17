#!/usr/bin/python
"""Ansible module: a Node.js diagnostic report or V8 heap snapshot of a container's process,
taken by its signal, read on the host and copied without secrets."""

from __future__ import annotations

DOCUMENTATION = r"""
module: node_diagnostics
short_description: Take a Node.js diagnostic report or heap snapshot by signal, summarised and redacted
description:
  - "Sends the container the signal its Node.js process was started to answer
    (C(--report-signal=SIGUSR1), C(--heapsnapshot-signal=SIGUSR2)), waits for the new file in the
    folder the host sees the container's diagnostics in, and writes a copy without secrets to
    O(dest): the report without its environment variables; the heap snapshot with every string
    value blanked (module_utils heap_snapshot.redact). The original, which holds the secrets, is
    removed from the host unless O(keep_original)."
  - "A report gives the JavaScript heap's size and limit and the open libuv handles by type; a
    snapshot gives the heap's summary by kind of object (module_utils heap_snapshot.summarize),
    what C(vedrun.kit.memory_leak_heap_cause) compares."
  - A process that dies while writing, or a file that is not complete within O(timeout), fails
    the task with what happened (the container's state, the file's size).
options:
  container: {description: The container., type: str, required: true}
  directory:
    description: "The container's diagnostics folder as the host sees it (a mount)."
    type: path
    required: true
  kind: {description: What to take., type: str, choices: [report, heap_snapshot], required: true}
  dest:
    description: "Where the redacted copy is written on the host (a file path)."
    type: path
    required: true
  timeout: {description: Seconds to wait for the file to be complete., type: float, default: 60}
  keep_original: {description: Leave the original (with its secrets) on the host., type: bool, default: false}
"""

RETURN = r"""
file: {description: The original file's name., type: str, returned: always}
size_bytes: {description: The original file's size., type: int, returned: always}
seconds: {description: Seconds from the signal to the complete file., type: float, returned: always}
heap:
  description: "report: used_bytes, total_bytes, limit_bytes of the JavaScript heap"
  type: dict
  returned: when kind is report
rss_bytes: {description: "report: the process's resident memory", type: int, returned: when kind is report}
handles:
  description: "report: the libuv handles by type (tcp, timer, ...)"
  type: dict
  returned: when kind is report
summary:
  description: "heap_snapshot: kinds {type:name: [count, bytes]}, nodes, bytes"
  type: dict
  returned: when kind is heap_snapshot
redacted:
  description: "heap_snapshot: string values blanked in the copy"
  type: int
  returned: when kind is heap_snapshot
"""

import contextlib
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli, heap_snapshot

SIGNALS = {"report": "SIGUSR1", "heap_snapshot": "SIGUSR2"}
PATTERNS = {"report": ("report.", ".json"), "heap_snapshot": ("Heap.", ".heapsnapshot")}
# a report's sections that hold secrets (the environment) or say more about the host than a leak
# needs (its network interfaces, the process's arguments beyond node's own flags)
REPORT_DROP = ("environmentVariables",)
HEADER_DROP = ("networkInterfaces",)


def files(directory, kind):
    start, end = PATTERNS[kind]
    try:
        return {name for name in os.listdir(directory) if name.startswith(start) and name.endswith(end)}
    except OSError as exc:
        raise docker_cli.DockerError(f"cannot list {directory}: {exc.strerror}") from None


def complete(path, kind):
    """Whether the file is whole: a report parses; a snapshot ends its JSON and stops growing."""
    if kind == "report":
        try:
            with open(path, encoding="utf-8") as handle:
                json.load(handle)
            return True
        except (OSError, ValueError):
            return False
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            handle.seek(max(0, size - 16))
            tail = handle.read().rstrip()
        time.sleep(0.2)
        return tail.endswith(b"]}") and os.path.getsize(path) == size
    except OSError:
        return False


def take(params):
    directory, kind = params["directory"], params["kind"]
    before = files(directory, kind)
    rc, _out, err = docker_cli.run(["kill", "--signal", SIGNALS[kind], "--", params["container"]])
    if rc != 0:
        raise docker_cli.DockerError(f"could not signal {params['container']}: {err.strip()[:300]}")
    started = time.monotonic()
    while True:
        new = sorted(files(directory, kind) - before)
        if new and complete(os.path.join(directory, new[-1]), kind):
            return new[-1], round(time.monotonic() - started, 2)
        if time.monotonic() - started > params["timeout"]:
            state = docker_cli.summary(docker_cli.inspect(params["container"]))
            size = os.path.getsize(os.path.join(directory, new[-1])) if new else 0
            for name in new:  # a partial file holds secrets as well: it does not stay behind
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))
            raise docker_cli.DockerError(
                f"no complete {kind.replace('_', ' ')} in {directory} {params['timeout']:.0f} s after "
                f"{SIGNALS[kind]}: " + (f"{new[-1]} stopped at {size} bytes; " if new else "no new file; ")
                + f"the container is {state['status']} (exit {state['exit_code']}, "
                  f"OOMKilled={state['oom_killed']}, restarts {state['restart_count']})")
        time.sleep(0.2)


def report(path, dest):
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    for key in REPORT_DROP:
        data.pop(key, None)
    header = data.get("header") or {}
    for key in HEADER_DROP:
        header.pop(key, None)
    line = header.get("commandLine")
    if isinstance(line, list):  # node, its flags and the script stay; the app's arguments do not
        script = next((i for i, arg in enumerate(line) if i and not str(arg).startswith("-")), len(line))
        header["commandLine"] = line[:script + 1] + ["<hidden>"] * len(line[script + 1:])
    heap = data.get("javascriptHeap") or {}
    handles = {}
    for handle in data.get("libuv") or []:
        handles[handle.get("type", "?")] = handles.get(handle.get("type", "?"), 0) + 1
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1)
    return {"heap": {"used_bytes": heap.get("usedMemory"), "total_bytes": heap.get("totalMemory"),
                     "limit_bytes": heap.get("memoryLimit")},
            "rss_bytes": int((data.get("resourceUsage") or {}).get("rss") or 0) or None,
            "handles": handles}


def snapshot(path, dest):
    summary = heap_snapshot.summarize(path)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    return {"summary": summary, "redacted": heap_snapshot.redact(path, dest)}


def main():
    module = AnsibleModule(argument_spec={
        "container": {"type": "str", "required": True},
        "directory": {"type": "path", "required": True},
        "kind": {"type": "str", "required": True, "choices": list(SIGNALS)},
        "dest": {"type": "path", "required": True},
        "timeout": {"type": "float", "default": 60},
        "keep_original": {"type": "bool", "default": False},
    }, supports_check_mode=False)
    params = module.params
    try:
        name, seconds = take(params)
    except docker_cli.DockerError as exc:
        module.fail_json(msg=str(exc))
    path = os.path.join(params["directory"], name)
    result = {"file": name, "size_bytes": os.path.getsize(path), "seconds": seconds}
    try:
        result.update(report(path, params["dest"]) if params["kind"] == "report"
                      else snapshot(path, params["dest"]))
    except (OSError, ValueError, heap_snapshot.SnapshotError) as exc:
        module.fail_json(msg=f"could not read {path}: {exc}", **result)
    finally:
        if not params["keep_original"]:
            os.unlink(path)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
