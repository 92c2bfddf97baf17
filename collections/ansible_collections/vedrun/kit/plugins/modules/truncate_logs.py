#!/usr/bin/python
"""Ansible module: free space by truncating oversized logs, keeping the end of each as evidence."""

from __future__ import annotations

DOCUMENTATION = r"""
module: truncate_logs
short_description: Truncate oversized log files under a folder, keeping the end of each
description:
  - Finds regular files (never through a symlink) under I(path) whose names match I(patterns)
    and whose size is at least I(min_size_mb), returns the last I(keep_tail_bytes) of each, then
    truncates it to zero in place (a process writing to it keeps its file).
  - Refuses a I(path) inside, or containing, one of I(protected) (the database's files).
  - File names are used as data, never as command words; spaces, quotes, leading dashes and
    semicolons in a name change nothing.
options:
  path: {description: The folder (absolute)., type: path, required: true}
  patterns:
    description: Shell-style name patterns.
    type: list
    elements: str
    default: ['*.log', '*.log.*']
  min_size_mb: {description: Files at least this large (MiB) are truncated., type: int, default: 8}
  keep_tail_bytes: {description: Bytes kept from the end of each file as evidence., type: int, default: 65536}
  protected: {description: Folders never touched., type: list, elements: path, default: []}
"""

RETURN = r"""
truncated: {description: "Each truncated file: path, size_bytes", type: list, returned: always}
tails: {description: "Evidence: [{name: tail-of-<file>, content}]", type: list, returned: always}
"""

import fnmatch
import os

from ansible.module_utils.basic import AnsibleModule


def _inside(child, parent):
    child, parent = os.path.normpath(child), os.path.normpath(parent)
    return child == parent or child.startswith(parent.rstrip("/") + "/")


def candidates(path, patterns, min_bytes):
    for root, dirs, files in os.walk(path, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in files:
            full = os.path.join(root, name)
            if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
                continue
            try:
                info = os.lstat(full)
            except OSError:
                continue
            if os.path.stat.S_ISREG(info.st_mode) and info.st_size >= min_bytes:
                yield full, info.st_size


def truncate(full, keep):
    fd = os.open(full, os.O_RDWR | os.O_NOFOLLOW)
    try:
        size = os.fstat(fd).st_size
        os.lseek(fd, max(0, size - keep), os.SEEK_SET)
        tail = os.read(fd, keep).decode("utf-8", "replace")
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    return tail


def main():
    module = AnsibleModule(argument_spec={
        "path": {"type": "path", "required": True},
        "patterns": {"type": "list", "elements": "str", "default": ["*.log", "*.log.*"]},
        "min_size_mb": {"type": "int", "default": 8},
        "keep_tail_bytes": {"type": "int", "default": 65536},
        "protected": {"type": "list", "elements": "path", "default": []},
    }, supports_check_mode=True)
    params = module.params
    path = params["path"]
    if not os.path.isabs(path):
        module.fail_json(msg=f"path must be absolute, got {path!r}")
    for folder in params["protected"]:
        if _inside(path, folder) or _inside(folder, path):
            module.fail_json(msg=f"{path} overlaps the protected folder {folder}: nothing was touched")
    found = sorted(candidates(path, params["patterns"], params["min_size_mb"] * 1048576))
    if module.check_mode:
        module.exit_json(changed=bool(found), truncated=[{"path": p, "size_bytes": s} for p, s in found],
                         tails=[])
    truncated, tails, names = [], [], set()
    for full, size in found:
        try:
            tail = truncate(full, params["keep_tail_bytes"])
        except OSError as exc:
            module.fail_json(msg=f"could not truncate {full}: {exc.strerror}", truncated=truncated)
        truncated.append({"path": full, "size_bytes": size})
        name = "tail-of-" + os.path.relpath(full, path).replace("/", "_")
        while name in names:
            name += "_"
        names.add(name)
        tails.append({"name": name, "content": tail})
    module.exit_json(changed=bool(truncated), truncated=truncated, tails=tails)


if __name__ == "__main__":
    main()
