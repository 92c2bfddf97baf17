"""Filters: the decisions of the p0-service-down runbook, from what vedrun.kit.api_probe gathered."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: service_down_faults
short_description: Which causes of an API outage are present
description:
  - "The decision table of p0-service-down, in order: container removed; port conflict (a
    process outside the API's container listens on its port); disk full; crash loop after
    deploy (restarting and not serving, with an older release in the deploy history, and neither
    a taken port nor a full disk to explain it); container crashed (exited, and the release is
    not to blame); unhealthy (running, not answering, nothing else explains it)."
  - Other filters in this file, C(service_down_rollback) and C(port_holder_plan), choose the
    release to roll back to and what may be stopped on the API's port.
positional: settings
options:
  _input: {description: The result of vedrun.kit.api_probe., type: dict, required: true}
  settings: {description: "crash_loop_restarts, disk_min_free_mb", type: dict, required: true}
"""

EXAMPLES = r"""
faults: "{{ probe | vedrun.kit.service_down_faults({'crash_loop_restarts': 3, 'disk_min_free_mb': 512}) }}"
"""

RETURN = r"""
_value: {description: "Fault names in the order above; [] when the API is healthy.", type: list}
"""


def _require(probe, *keys):
    if not isinstance(probe, dict):
        raise AnsibleFilterError(f"expected the result of vedrun.kit.api_probe, got {type(probe).__name__}")
    for key in keys:
        if key not in probe:
            raise AnsibleFilterError(f"the probe result has no '{key}': pass the registered result "
                                     "of vedrun.kit.api_probe")


def foreign_holders(probe):
    """Holders of the API's port that are not the API's own container."""
    own = (probe.get("container") or {}).get("id") or None
    return [h for h in probe["port"].get("holders", []) if not (own and h.get("container_id") == own)]


def port_taken(probe):
    """Someone else listens on the API's port. A listener the host would not name (no /proc
    access) while the API is not running is someone else too."""
    port = probe["port"]
    if not port.get("listening"):
        return False
    if foreign_holders(probe):
        return True
    return not port.get("holders") and not probe["container"].get("running")


def disk_full(probe, settings):
    disk = probe["disk"]
    if "error" in disk:
        raise AnsibleFilterError(f"the API's data path cannot be measured ({disk['error']}): set "
                                 "vedrun_stack.api.data_path to the folder the API writes to")
    return int(disk["free_mb"]) < int(settings["disk_min_free_mb"])


def service_down_rollback(probe):
    """The newest deploy with another image than the running one ({} when there is none)."""
    _require(probe, "container", "history")
    entries = probe["history"].get("entries") or []
    image = probe["container"].get("image", "")
    if len(entries) < 2:
        return {}
    older = [entry for entry in entries if entry.get("image") != image and not entry.get("env_inline")]
    return older[-1] if older else {}


def service_down_faults(probe, settings):
    """The causes present, as the decision table in DOCUMENTATION."""
    _require(probe, "container", "health", "port", "disk", "history")
    container, healthy = probe["container"], bool(probe["health"].get("ok"))
    exists, running = bool(container.get("exists")), bool(container.get("running"))
    taken, full = port_taken(probe), disk_full(probe, settings)
    looping = exists and not healthy and \
        int(container.get("restart_count", 0)) >= int(settings["crash_loop_restarts"])
    release_broken = looping and bool(service_down_rollback(probe)) and not taken and not full
    faults = []
    if not exists:
        faults.append("container removed")
    if taken:
        faults.append("port conflict")
    if full:
        faults.append("disk full")
    if release_broken:
        faults.append("crash loop after deploy")
    if exists and not running and not release_broken:
        faults.append("container crashed")
    if exists and running and not healthy and not (taken or full or release_broken):
        faults.append("unhealthy")
    return faults


def port_holder_plan(probe, safe):
    """What may be stopped on the API's port: {plan: [steps], refused: [reasons]}.

    A container is stopped only when its name (given by Docker, not by the process) is listed in
    safe.containers; a process on the host only when its executable is in safe.executables.
    Anything else is refused with what it is, so that a person decides."""
    _require(probe, "container", "port")
    safe = safe or {}
    containers, executables = set(safe.get("containers") or []), set(safe.get("executables") or [])
    plan, refused, seen = [], [], set()
    for holder in foreign_holders(probe):
        what = (f"pid {holder.get('pid')} ({holder.get('exe') or holder.get('comm') or 'unknown'}"
                + (f", container {holder.get('container_name') or holder.get('container_id', '')[:12]}"
                   if holder.get("container_id") else "") + ")")
        if holder.get("container_id"):
            if holder["container_id"] in seen:
                continue
            if holder.get("container_name") in containers:
                seen.add(holder["container_id"])
                plan.append({"action": "stop_container", "container": holder["container_name"],
                             "container_id": holder["container_id"], "holder": what})
            else:
                refused.append(f"{what} is not in port_holders_safe_to_stop.containers")
        elif holder.get("exe") and holder["exe"] in executables:
            plan.append({"action": "terminate", "pid": holder["pid"], "start_time": holder.get("start_time"),
                         "exe": holder["exe"], "holder": what})
        else:
            refused.append(f"{what} is not in port_holders_safe_to_stop.executables")
    if probe["port"].get("listening") and not probe["port"].get("holders"):
        refused.append("the port's holder cannot be named (no access to /proc/<pid>/fd)")
    return {"plan": plan, "refused": refused}


class FilterModule:
    def filters(self):
        return {"service_down_faults": service_down_faults,
                "service_down_rollback": service_down_rollback,
                "port_holder_plan": port_holder_plan}
