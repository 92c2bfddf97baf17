"""Filters: the decisions of the p0-memory-leak runbook (issue 11), from what the host reported.

The probe (modules/memory_probe.py) gathers the container's state (without its environment), its cgroup's
memory counters (module_utils cgroup_memory), Docker's `oom`/`die`/`start` events of a window,
the kernel's OOM lines and memory samples. What they mean is decided here, tested without Docker.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: memory_leak_deaths
short_description: The container's deaths in a window, each with why it died
description:
  - "A death (Docker C(die) event) is an OOM kill only on evidence of the kernel's OOM killer
    for it (Docker's C(oom) event just before it, C(OOMKilled) on the last death, a kernel OOM
    line), never on exit 137 alone: a SIGKILL from outside (docker kill, kill -9) also exits 137,
    and is not a leak."
  - C(memory_leak_growth) fits the memory samples (least squares) and gives the growth rate and
    the time left to the limit. C(memory_leak_faults) applies the decision table; C(memory_leak_raise)
    plans a temporary limit raise within the host's headroom; C(memory_leak_restart_allowed)
    keeps restarts within their budget.
positional: window_seconds
options:
  _input:
    description: "The probe: now, container, events [{action, time, exit_code}], cgroup, kernel_ooms"
    type: dict
  window_seconds: {description: The window the deaths are counted in., type: int}
"""

EXAMPLES = r"""
deaths: "{{ probe | vedrun.kit.memory_leak_deaths(600) }}"
faults: "{{ probe | vedrun.kit.memory_leak_faults(settings) }}"
"""

RETURN = r"""
_value: {description: "[{time, exit_code, oom (bool), evidence}] oldest first.", type: list}
"""

# a Docker `oom` event this close before a `die` belongs to that death
OOM_EVENT_SLACK = 5.0


def _require(probe, *keys):
    if not isinstance(probe, dict) or any(key not in probe for key in keys):
        raise AnsibleFilterError(f"expected the memory-leak probe with {', '.join(keys)}")


def memory_leak_deaths(probe, window_seconds):
    """Each `die` in the window, whether it was an OOM kill, and the evidence for it."""
    _require(probe, "events", "now")
    # the window, from the runbook's last fix on (a death before it was dealt with), of this
    # container only (a rolled-back or recreated container has another id and a clean slate)
    since = max(float(probe["now"]) - float(window_seconds),
                float((probe.get("state") or {}).get("fixed_at") or 0))
    current = str((probe.get("container") or {}).get("id") or "")[:12]
    events = sorted((e for e in probe["events"] or [] if float(e.get("time", 0)) >= since
                     and (not current or not e.get("id") or e["id"] == current)),
                    key=lambda e: float(e["time"]))
    ooms = [float(e["time"]) for e in events if e.get("action") == "oom"]
    kernel = [float(t) for t in probe.get("kernel_ooms") or []]
    deaths = [e for e in events if e.get("action") == "die"]
    result = []
    for index, death in enumerate(deaths):
        at = float(death["time"])
        evidence = []
        if any(at - OOM_EVENT_SLACK <= t <= at for t in ooms):
            evidence.append("docker oom event")
        if any(at - OOM_EVENT_SLACK <= t <= at for t in kernel):
            evidence.append("kernel OOM killer")
        if index == len(deaths) - 1 and (probe.get("container") or {}).get("oom_killed"):
            evidence.append("OOMKilled")
        result.append({"time": at, "exit_code": int(death.get("exit_code", 0)), "oom": bool(evidence),
                       "evidence": evidence})
    return result


def memory_leak_growth(samples, limit=None):
    """Least-squares growth of [{t: seconds, bytes}]: bytes per second, and seconds left to
    `limit` at that rate (None when not growing or no limit)."""
    points = [(float(s["t"]), float(s["bytes"])) for s in samples or []]
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return {"bytes_per_second": 0.0, "seconds_to_limit": None, "samples": len(points)}
    mean_t = sum(t for t, _ in points) / len(points)
    mean_b = sum(b for _, b in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    slope = sum((t - mean_t) * (b - mean_b) for t, b in points) / spread if spread else 0.0
    left = None
    if limit and slope > 0:
        left = max(0.0, (float(limit) - points[-1][1]) / slope)
    return {"bytes_per_second": round(slope, 1), "samples": len(points),
            "seconds_to_limit": None if left is None else round(left, 1)}


def memory_leak_faults(probe, settings):
    """The decision table: an OOM kill loop (at least loop_deaths OOM deaths in the window); a
    leak in progress (growing faster than growth_bytes_per_second with under horizon_seconds to
    the limit); deaths by an outside SIGKILL are reported as such and are not a leak."""
    _require(probe, "events", "now", "cgroup")
    deaths = memory_leak_deaths(probe, settings["window_seconds"])
    ooms = [d for d in deaths if d["oom"]]
    outside = [d for d in deaths if not d["oom"] and d["exit_code"] == 137]
    cgroup = probe["cgroup"] or {}
    growth = memory_leak_growth(probe.get("samples"), cgroup.get("total_limit") or cgroup.get("limit"))
    faults = []
    if len(ooms) >= int(settings["loop_deaths"]):
        faults.append({"fault": "oom kill loop", "deaths": len(ooms),
                       "detail": f"{len(ooms)} OOM kill(s) in {settings['window_seconds']} s "
                                 f"({', '.join(sorted({e for d in ooms for e in d['evidence']}))})"})
    left = growth["seconds_to_limit"]
    if growth["bytes_per_second"] >= float(settings["growth_bytes_per_second"]) and left is not None \
            and left <= float(settings["horizon_seconds"]):
        faults.append({"fault": "memory growing", **growth,
                       "detail": f"+{growth['bytes_per_second'] / 1048576:.2f} MiB/s, "
                                 f"{left:.0f} s to the limit"})
    if outside:
        faults.append({"fault": "killed from outside", "deaths": len(outside),
                       "detail": f"{len(outside)} death(s) with exit 137 and no sign of the OOM "
                                 "killer: a SIGKILL from outside, not a memory leak"})
    return faults


def memory_leak_raise(cgroup, host, settings):
    """A temporary limit raise that fits the host: the limit times raise_factor, at most what
    the host has available beyond what PostgreSQL, Redis and the system are kept
    (reserve_bytes). Never unlimited: a container without a limit, or no headroom, is refused."""
    limit = cgroup.get("limit")
    if not limit:
        return {"ok": False, "reason": "the container has no memory limit: there is nothing to raise "
                                       "(the runbook never sets a container unlimited either)"}
    headroom = int(host.get("available_bytes") or 0) - int(settings["reserve_bytes"])
    wanted = int(limit * float(settings["raise_factor"]))
    new = min(wanted, int(limit) + max(headroom, 0))
    if new <= limit:
        return {"ok": False, "limit": limit, "headroom_bytes": headroom,
                "reason": f"no headroom: the host has {int(host.get('available_bytes') or 0) // 1048576} "
                          f"MiB available and keeps {int(settings['reserve_bytes']) // 1048576} MiB for "
                          "PostgreSQL, Redis and the system"}
    swap = cgroup.get("swap_limit")
    new_swap = new + (int(swap) - int(limit)) if swap and swap >= limit else new
    return {"ok": True, "limit": int(limit), "new_limit": new, "swap_limit": swap,
            "new_swap_limit": new_swap, "headroom_bytes": headroom, "capped": new < wanted}


def memory_leak_restart_allowed(restarts, now, settings):
    """Whether one more restart fits the budget (max_restarts in restart_window_seconds)."""
    since = float(now) - float(settings["restart_window_seconds"])
    recent = [float(t) for t in restarts or [] if float(t) >= since]
    return {"allowed": len(recent) < int(settings["max_restarts"]), "recent": len(recent),
            "max": int(settings["max_restarts"])}


def memory_leak_raise_due(record, now):
    """Whether a recorded raise must be reverted now (expired, or its incident resolved)."""
    if not record:
        return False
    return bool(record.get("resolved")) or float(now) >= float(record["expires_at"])


# What a kind of leak leaves behind in a V8 heap snapshot (module_utils/heap_snapshot.py names
# each kind "<node type>:<name>"). Connections: a socket (and its TCP handle) per connection, a
# pg Client, pg-pool's waiting checkouts. Listeners: one closure per listener, each with its own
# context. Cache: string contents.
CONNECTION_KINDS = frozenset({"object:Socket", "object:TLSSocket", "object:TCP", "object:Client",
                              "object:Connection", "object:PendingItem", "synthetic:Node / TCPSocketWrap"})
STRING_KINDS = ("string:", "concatenated string:", "sliced string:")


def memory_leak_heap_cause(first, second, settings):
    """Which of the seed's three causes two heap summaries (first, then second) point to, with the
    kinds of object that grew: unclosed connections (connection objects grew by at least
    heap_min_objects), event listeners (closures grew by at least that, each with its own context),
    large cache (strings hold at least half of the growth); else unknown, with the top kinds."""
    before = (first or {}).get("kinds") or {}
    grown = []
    for kind, (count, size) in ((second or {}).get("kinds") or {}).items():
        was = before.get(kind, [0, 0])
        grown.append({"kind": kind, "count": int(count) - int(was[0]), "bytes": int(size) - int(was[1])})
    grown.sort(key=lambda g: (g["bytes"], g["count"]), reverse=True)
    total = sum(max(g["bytes"], 0) for g in grown)
    least = int(settings.get("heap_min_objects", 50))

    def count(match):
        return sum(g["count"] for g in grown if match(g["kind"]))

    sockets = count(CONNECTION_KINDS.__contains__)
    closures = count(lambda kind: kind.startswith("closure:"))
    contexts = count(lambda kind: kind == "object:system / Context")
    strings = sum(g["bytes"] for g in grown if g["kind"].startswith(STRING_KINDS))
    if sockets >= least:
        cause = "unclosed connections"
        why = f"{sockets} more connection objects (sockets, clients, waiting checkouts)"
    elif closures >= least and contexts * 2 >= closures:
        cause = "event listeners"
        why = f"{closures} more closures, {contexts} more contexts (a listener each)"
    elif total and strings * 2 >= total:
        cause = "large cache"
        why = f"strings grew by {strings} bytes, {round(100 * strings / total)}% of the growth"
    else:
        cause, why = "unknown", "no kind of object the three causes leave behind dominates the growth"
    return {"cause": cause, "detail": why, "bytes_grown": total,
            "top": [g for g in grown if g["bytes"] > 0 or g["count"] > 0][:8]}


def _epoch(text):
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def memory_leak_rollback(probe, settings):
    """The deploy to roll back to when the leak came with the newest release: the container runs
    the newest deploy's image, deployed less than deploy_suspect_seconds ago by a deploy (a
    rollback brings no new code: never rolled back again), with no OOM kill before it in the
    window, and an older deploy of another image is on record ({} otherwise)."""
    entries = (probe.get("history") or {}).get("entries") or []
    container = probe.get("container") or {}
    if len(entries) < 2 or entries[-1].get("image") != container.get("image") \
            or str(entries[-1].get("reason", "")).startswith("rollback"):
        return {}
    deployed = _epoch(entries[-1].get("deployed_at"))
    if deployed is None or float(probe["now"]) - deployed > float(settings["deploy_suspect_seconds"]):
        return {}
    if any(d["oom"] and d["time"] < deployed for d in memory_leak_deaths(probe, settings["window_seconds"])):
        return {}
    newest = entries[-1].get("image")
    older = [e for e in entries[:-1] if e.get("image") != newest and not e.get("env_inline")]
    if not older:
        return {}
    return {"to": older[-1], "from_image": entries[-1]["image"], "deployed_at": entries[-1]["deployed_at"],
            "detail": f"the leak began with the release deployed at {entries[-1]['deployed_at']} "
                      f"({entries[-1]['image']}); the release before it is {older[-1]['image']}"}


def _record(probe):
    """The runbook's record, and its raise when it belongs to this container (a container
    recreated since, by a rollback or a deploy, has its deploy's limit: the raise left with it)."""
    state = probe.get("state") or {}
    raised = state.get("raise") or {}
    here = (probe.get("container") or {}).get("id")
    if raised and raised.get("container_id") and raised["container_id"] != here:
        raised = {}
    return state, raised


def memory_leak_plan(probe, settings):
    """What this run does, from the probe and the runbook's record on the host: {faults, leak,
    revert (an expired raise to undo), raise (a new temporary raise, or {}), rollback (the leaking
    release's predecessor, or {}), restart (within its budget), refused [reasons], handoffs,
    steps (booleans)}. An expired raise during a leak is renewed from its original limit."""
    _require(probe, "events", "now", "cgroup", "container", "host")
    faults = memory_leak_faults(probe, settings)
    leak = bool({f["fault"] for f in faults} & {"oom kill loop", "memory growing"})
    state, raised = _record(probe)
    due = memory_leak_raise_due(raised, probe["now"])
    plan = {"faults": faults, "leak": leak, "revert": raised if due and not leak else {}, "raise": {},
            "rollback": {}, "restart": False, "refused": [],
            "handoffs": [{"fault": f["fault"], "detail": f["detail"]} for f in faults
                         if f["fault"] == "killed from outside"]}
    if plan["revert"]:
        faults.append({"fault": "limit raise expired",
                       "detail": f"the temporary raise to {int(raised['new_limit']) // 1048576} MiB expired: "
                                 f"back to {int(raised['limit']) // 1048576} MiB"})
    if state.get("error"):
        plan["revert"] = {}
        faults.append({"fault": "unreadable record", "detail": state["error"]})
        plan["handoffs"].append({"fault": "unreadable record",
                                 "detail": f"the runbook's record is unreadable "
                                 f"({state['error']}): check it (a raise may be on record), then remove it"})
        return _steps(plan)
    if not leak:
        return _steps(plan)
    if not raised or due:
        container = probe["container"]
        original = {"limit": raised.get("limit"), "swap_limit": raised.get("swap_limit")} if raised else \
            {"limit": container.get("memory"), "swap_limit": container.get("memory_swap")}
        wanted = memory_leak_raise(original, probe["host"], settings)
        if wanted["ok"]:
            expires = round(float(probe["now"]) + float(settings["raise_seconds"]))
            plan["raise"] = {**wanted, "expires_at": expires, "container_id": container.get("id", "")}
        else:
            plan["refused"].append(f"no temporary limit raise: {wanted['reason']}")
    plan["rollback"] = memory_leak_rollback(probe, settings)
    if not plan["rollback"]:
        budget = memory_leak_restart_allowed(state.get("restarts"), probe["now"], settings)
        plan["restart"] = budget["allowed"]
        if not budget["allowed"]:
            plan["refused"].append(
                f"no restart: the runbook restarted it {budget['recent']} times in the last "
                f"{settings['restart_window_seconds']} s (budget {budget['max']}); a restart does not cure "
                "this leak: escalate with the evidence")
    plan["handoffs"] += _handoffs(plan)
    return _steps(plan)


def _steps(plan):
    """Booleans for the YAML's conditions: which steps this run takes."""
    steps = {"revert": bool(plan["revert"]), "raise": bool(plan["raise"]), "rollback": bool(plan["rollback"]),
             "restart": bool(plan["restart"]) and not plan["rollback"]}
    return {**plan, "steps": {**steps, "act": plan["leak"] or steps["revert"]}}


def _handoffs(plan):
    """What a person must fix, under the leak's own fault name: the code of a release that leaks
    and cannot be rolled back (a restart frees the memory for a while), or a leak the runbook may
    not touch any more."""
    if plan["rollback"]:
        return []
    fault = next(f["fault"] for f in plan["faults"] if f["fault"] in ("oom kill loop", "memory growing"))
    if plan["restart"]:
        return [{"fault": fault,
                 "detail": "a leak in the running release: restarted to free the memory; no earlier release "
                           "to roll back to, so it comes back until the code is fixed (the heap evidence "
                           "names the cause)"}]
    return [{"fault": fault, "detail": "; ".join(plan["refused"])}]


def memory_leak_said(plan):
    """The plan's steps in words, in the order they run (detect says them, --check lists them)."""
    mib, said = 1048576, []
    if plan.get("revert"):
        said.append(f"put the limit back to {int(plan['revert']['limit']) // mib} MiB (the raise expired)")
    if plan.get("raise"):
        until = datetime.fromtimestamp(plan["raise"]["expires_at"], timezone.utc)
        until = until.strftime("%Y-%m-%d %H:%M UTC")
        said.append(f"raise the limit from {int(plan['raise']['limit']) // mib} to "
                    f"{int(plan['raise']['new_limit']) // mib} MiB until {until}")
    if plan.get("leak"):
        said.append("take a Node diagnostic report and two heap snapshots (when there is room)")
    if plan.get("rollback"):
        said.append(f"roll back to {plan['rollback']['to']['image']}: {plan['rollback']['detail']}")
    elif plan.get("restart"):
        said.append("restart the API to free the leaked memory (a person must fix the code)")
    return said + [f"not: {reason}" for reason in plan.get("refused") or []]


def memory_leak_handoff_cause(handoffs, cause):
    """The hand-offs with the heap's verdict added to the leak's, for the person who fixes it."""
    said = f"heap: {cause.get('cause', 'unknown')} ({cause.get('detail', '')})"
    leak = ("oom kill loop", "memory growing")
    return [{**h, "detail": f"{h['detail']}; {said}"} if h["fault"] in leak else h for h in handoffs or []]


def memory_leak_snapshot_room(report, probe, plan, settings):
    """Whether a heap snapshot fits: writing one can take memory of the order of the JavaScript
    heap (snapshot_memory_factor times it must be free under the container's limit, the raise
    counted) and the file and its redacted copy need disk (snapshot_disk_factor times it).
    {ok, reason}: the reason says why not, for the evidence."""
    heap = ((report or {}).get("heap") or {}).get("used_bytes")
    if not heap:
        return {"ok": False, "reason": "no heap snapshot: without a diagnostic report the JavaScript heap's "
                                       "size is unknown, and a snapshot could push the process over its "
                                       "limit"}
    limit = (plan.get("raise") or {}).get("new_limit") or (probe.get("container") or {}).get("memory")
    used = (report or {}).get("rss_bytes") or (probe.get("cgroup") or {}).get("current") or 0
    mib = 1048576
    if limit:
        need = heap * float(settings["snapshot_memory_factor"])
        if int(limit) - int(used) < need:
            free = (int(limit) - int(used)) // mib
            return {"ok": False, "reason": f"no heap snapshot: {free} MiB free under the limit, "
                                           f"{int(need) // mib} MiB needed for a {heap // mib} MiB heap"}
    disk = probe.get("disk") or {}
    need = heap * float(settings["snapshot_disk_factor"])
    if disk.get("free_bytes") is None or disk["free_bytes"] < need:
        return {"ok": False, "reason": f"no heap snapshot: {disk.get('path', 'the diagnostics folder')} has "
                                       f"{int(disk.get('free_bytes') or 0) // mib} MiB free, "
                                       f"{int(need) // mib} MiB "
                                       f"needed ({disk.get('error', '')})".replace(" ()", "")}
    return {"ok": True, "reason": ""}


def memory_leak_verify(probe, since, settings):
    """The stability window after the fix: running, no death or start since `since`, and no
    growth that would be a leak. {ok, problems, growth}."""
    _require(probe, "events", "container", "cgroup")
    problems = []
    if not (probe["container"] or {}).get("running"):
        problems.append(f"the container is {(probe['container'] or {}).get('status', 'missing')}")
    current = str((probe["container"] or {}).get("id") or "")[:12]
    events = [e for e in probe["events"] or [] if float(e["time"]) >= float(since)
              and e["action"] in ("die", "oom") and (not current or not e.get("id") or e["id"] == current)]
    if events:
        problems.append(f"{len(events)} death/OOM event(s) in the stability window: "
                        + ", ".join(f"{e['action']} (exit {e.get('exit_code', 0)})" for e in events))
    cgroup = probe["cgroup"] or {}
    growth = memory_leak_growth(probe.get("samples"), cgroup.get("total_limit") or cgroup.get("limit"))
    left = growth["seconds_to_limit"]
    if growth["bytes_per_second"] >= float(settings["growth_bytes_per_second"]) and left is not None \
            and left <= float(settings["horizon_seconds"]):
        problems.append(f"still growing: +{growth['bytes_per_second'] / 1048576:.2f} MiB/s, "
                        f"{left:.0f} s to the limit")
    return {"ok": not problems, "problems": problems, "growth": growth}


class FilterModule:
    def filters(self):
        return {"memory_leak_deaths": memory_leak_deaths, "memory_leak_growth": memory_leak_growth,
                "memory_leak_heap_cause": memory_leak_heap_cause,
                "memory_leak_faults": memory_leak_faults, "memory_leak_raise": memory_leak_raise,
                "memory_leak_restart_allowed": memory_leak_restart_allowed,
                "memory_leak_raise_due": memory_leak_raise_due, "memory_leak_rollback": memory_leak_rollback,
                "memory_leak_plan": memory_leak_plan, "memory_leak_verify": memory_leak_verify,
                "memory_leak_snapshot_room": memory_leak_snapshot_room,
                "memory_leak_handoff_cause": memory_leak_handoff_cause, "memory_leak_said": memory_leak_said}
