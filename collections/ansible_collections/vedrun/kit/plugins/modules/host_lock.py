#!/usr/bin/python
"""Ansible module: the lock of a runbook's changes, on the host itself."""

from __future__ import annotations

DOCUMENTATION = r"""
module: host_lock
short_description: Take or give back the host's runbook lock, naming its holder
description:
  - vedrun's own locks live on the controller (its home), keyed on the inventory name; two
    engineers on two laptops, or one host under two names, would change it at once. This lock
    is on the host, in I(dir)/I(name).lock (0600, JSON), taken before a runbook changes anything
    and given back when its verify ends.
  - I(state=acquired) takes the lock, or renews it when this run (I(token)) holds it already. A
    lock of another run is refused, naming its holder (controller, user, pid, incident, runbook,
    since), unless it is stale. Stale means its lease has run out, or its owner is this run's
    owner (the same controller and vedrun home; vedrun holds that home's lock for the host, so
    the run that wrote it has ended), or its token is I(break_token) (given by an engineer who
    has checked that run is gone).
  - I(state=released) removes the lock only when this run holds it.
  - Every decision is made under an exclusive flock of I(dir)/I(name).guard, so two runs that
    arrive at once cannot both take the lock. Files are opened without following symlinks.
  - Check mode changes nothing and says whether the lock would be taken.
options:
  name: {description: "The lock's name (the stack's)", type: str, required: true}
  dir: {description: Folder of the lock files on the host., type: path, default: /run/lock/vedrun}
  state: {description: acquired or released., type: str, choices: [acquired, released], default: acquired}
  token: {description: This run's token (unique per run)., type: str, required: true}
  owner: {description: "Who this run belongs to: controller and vedrun home.", type: str, required: true}
  holder: {description: "Shown to others: user, pid, incident, runbook.", type: dict, default: {}}
  lease_seconds: {description: A lock not renewed for this long is stale., type: int, default: 900}
  break_token: {description: Take over the lock of this token whatever its lease., type: str, default: ""}
"""

RETURN = r"""
holder:
  description: "The lock's content after the task (or the refusing holder's)"
  type: dict
  returned: always
reclaimed: {description: "The stale holder taken over, when one was", type: dict, returned: when reclaimed}
"""

import errno
import fcntl
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule


def decide(existing, token, owner, now, break_token=""):
    """What to do with the lock file's content `existing` (None: no lock, {}: unreadable):
    'take', 'renew', 'reclaim' or 'refuse'."""
    if existing is None:
        return "take"
    if existing.get("token") == token:
        return "renew"
    if not existing:
        return "reclaim"  # unreadable or not ours to read: written by nothing vedrun runs
    if break_token and existing.get("token") == break_token:
        return "reclaim"
    if existing.get("owner") == owner:
        return "reclaim"
    try:
        expired = float(existing.get("expires", 0)) <= now
    except (TypeError, ValueError):
        expired = True
    return "reclaim" if expired else "refuse"


def describe(holder, now):
    """One line for the engineer who is refused: who holds the lock, since when, until when."""
    since = holder.get("since", 0)
    expires = holder.get("expires", 0)
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(since or 0)))
    parts = [f"{holder.get('user', '?')}@{holder.get('owner', '?')}", f"pid {holder.get('pid', '?')}"]
    if holder.get("incident"):
        parts.append(f"incident {holder['incident']}")
    if holder.get("runbook"):
        parts.append(f"runbook {holder['runbook']}")
    return f"{', '.join(parts)}, since {when}, stale in {max(0, int(float(expires or 0) - now))} s"


def _read(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno == errno.ENOENT:
            return None
        return {}
    try:
        with os.fdopen(fd) as handle:
            content = json.load(handle)
        return content if isinstance(content, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path, content):
    temporary = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(content, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def main():
    module = AnsibleModule(argument_spec={
        "name": {"type": "str", "required": True},
        "dir": {"type": "path", "default": "/run/lock/vedrun"},
        "state": {"type": "str", "choices": ["acquired", "released"], "default": "acquired"},
        "token": {"type": "str", "required": True, "no_log": False},
        "owner": {"type": "str", "required": True},
        "holder": {"type": "dict", "default": {}},
        "lease_seconds": {"type": "int", "default": 900},
        "break_token": {"type": "str", "default": "", "no_log": False},
    }, supports_check_mode=True)
    params = module.params
    if not params["name"] or "/" in params["name"] or params["name"].startswith("."):
        module.fail_json(msg=f"host_lock: the lock's name {params['name']!r} must be a plain file name")
    folder = params["dir"]
    path = os.path.join(folder, params["name"] + ".lock")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        guard = os.open(os.path.join(folder, params["name"] + ".guard"),
                        os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        module.fail_json(msg=f"host_lock: cannot use {folder} on the host: {error.strerror}")
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)
        now = time.time()
        existing = _read(path)
        if params["state"] == "released":
            ours = existing is not None and existing.get("token") == params["token"]
            if ours and not module.check_mode:
                os.unlink(path)
            module.exit_json(changed=ours, holder={} if ours else (existing or {}))
        action = decide(existing, params["token"], params["owner"], now, params["break_token"])
        if action == "refuse":
            module.fail_json(msg=f"another runbook run holds this host's lock: {describe(existing, now)}. "
                                 "Once it is known to be gone: -e vedrun_host_lock_break="
                                 f"{existing.get('token', '')} ({path})", holder=existing)
        since = existing.get("since", now) if action == "renew" else now
        content = {**params["holder"], "token": params["token"], "owner": params["owner"],
                   "since": since, "expires": now + params["lease_seconds"]}
        if not module.check_mode:
            _write(path, content)
        result = {"changed": action != "renew", "holder": content}
        if action == "reclaim":
            result["reclaimed"] = existing
        module.exit_json(**result)
    finally:
        os.close(guard)


if __name__ == "__main__":
    main()
