"""Filter: whether a container can be brought back from its deploy history, and with which spec."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: redeploy
short_description: Whether a removed or crashed container can come back from its deploy history
description:
  - "The newest deploy is used, and refused when: there is no history; its entry keeps the
    environment inline (written by an older vedrun: its values were hidden when it was read, so
    running it would run without them); a named volume of its spec no longer exists (Docker
    would create a new, empty one); with I(data_dir), no named volume is mounted there (a
    database on an anonymous volume or a bind mount cannot be checked, so it is not guessed)."
positional: data_dir
options:
  _input:
    description: 'The history a probe returned: {path, entries, volumes: {name: exists}}'
    type: dict
    required: true
  data_dir:
    description: Where the container keeps its data; a named volume must be mounted there.
    type: str
"""

EXAMPLES = r"""
plan: "{{ probe.history | vedrun.kit.redeploy(stack.postgres.data_dir) }}"
"""

RETURN = r"""
_value: {description: "{ok, spec, reason}: the spec to run, or why not", type: dict}
"""


def _refuse(reason):
    return {"ok": False, "spec": {}, "reason": reason}


def redeploy(history, data_dir=None):
    if not isinstance(history, dict):
        raise AnsibleFilterError("redeploy: expected the history of a probe ({path, entries, volumes})")
    entries = history.get("entries") or []
    if not entries:
        return _refuse(f"there is no deploy history at {history.get('path', '?')} to bring it back from")
    entry = entries[-1]
    if entry.get("env_inline"):
        return _refuse("its newest deploy keeps the environment inline (an older vedrun): deploy it "
                       "once through roles/container_deploy")
    mounts = [m for m in entry.get("spec", {}).get("mounts") or []
              if m.get("type", "volume") == "volume" and m.get("source")]
    volumes = history.get("volumes") or {}
    missing = sorted(m["source"] for m in mounts if not volumes.get(m["source"], False))
    if missing:
        return _refuse("its volume(s) " + ", ".join(missing) + " are gone too: a new container would "
                       "start on new, empty ones")
    if data_dir and not any(m.get("target", "").rstrip("/") == data_dir.rstrip("/") for m in mounts):
        return _refuse(f"its spec mounts no named volume at {data_dir}: its data cannot be checked")
    return {"ok": True, "spec": entry["spec"], "reason": ""}


class FilterModule:
    def filters(self):
        return {"redeploy": redeploy}
