"""The p0-memory-leak runbook's plan, verify and snapshot-room decisions (vedrun.kit
memory_leak_plan, memory_leak_verify, memory_leak_snapshot_room, memory_leak_handoff_cause), from
probes shaped as vedrun.kit.memory_probe returns them. No Docker."""

from __future__ import annotations

from datetime import UTC, datetime

from ansible_collections.vedrun.kit.plugins.filter.memory_leak import (
    memory_leak_handoff_cause,
    memory_leak_plan,
    memory_leak_snapshot_room,
    memory_leak_verify,
)

MIB = 1048576
NOW = 1_800_000_000.0
SETTINGS = {"window_seconds": 600, "loop_deaths": 2, "growth_bytes_per_second": 0.5 * MIB,
            "horizon_seconds": 900, "reserve_bytes": 512 * MIB, "raise_factor": 1.5, "raise_seconds": 3600,
            "max_restarts": 2, "restart_window_seconds": 1800, "deploy_suspect_seconds": 3600,
            "heap_min_objects": 50, "snapshot_memory_factor": 1.5, "snapshot_disk_factor": 3}
LOOP = [{"action": "oom", "time": NOW - 100}, {"action": "die", "time": NOW - 99.9, "exit_code": 137},
        {"action": "oom", "time": NOW - 40}, {"action": "die", "time": NOW - 39.9, "exit_code": 137}]


def iso(at):
    return datetime.fromtimestamp(at, UTC).isoformat()


def deploy(image, at):
    return {"image": image, "deployed_at": iso(at), "spec": {"image": image, "memory": "256m"},
            "env_inline": False}


def probe(events=(), history=(), state=None, image="api:2", available=8192 * MIB, samples=()):
    return {"now": NOW, "events": list(events), "kernel_ooms": [], "samples": list(samples),
            "container": {"image": image, "running": True, "memory": 256 * MIB, "memory_swap": 512 * MIB,
                          "oom_killed": True},
            "cgroup": {"limit": 256 * MIB, "current": 100 * MIB}, "host": {"available_bytes": available},
            "history": {"entries": list(history)}, "state": state or {},
            "disk": {"path": "/d", "free_bytes": 900 * MIB}}


def test_a_healthy_api_gets_no_plan():
    plan = memory_leak_plan(probe(), SETTINGS)
    assert plan["faults"] == [] and not plan["leak"]
    assert not (plan["raise"] or plan["rollback"] or plan["restart"] or plan["revert"] or plan["handoffs"])


def test_a_loop_that_began_with_the_newest_release_rolls_it_back_with_a_raise():
    plan = memory_leak_plan(probe(LOOP, [deploy("api:1", NOW - 86400), deploy("api:2", NOW - 300)]), SETTINGS)
    assert plan["leak"] and plan["rollback"]["to"]["image"] == "api:1" and not plan["restart"]
    assert plan["raise"]["new_limit"] == 384 * MIB and plan["raise"]["expires_at"] == NOW + 3600
    assert plan["handoffs"] == []


def test_a_release_older_than_the_suspect_window_or_leaking_before_is_not_blamed():
    old = memory_leak_plan(probe(LOOP, [deploy("api:1", NOW - 90000), deploy("api:2", NOW - 7200)]), SETTINGS)
    assert not old["rollback"] and old["restart"]
    before = memory_leak_plan(probe(LOOP, [deploy("api:1", NOW - 9000), deploy("api:2", NOW - 60)]), SETTINGS)
    assert not before["rollback"]  # an OOM kill came before the deploy: the older release leaked too
    other = memory_leak_plan(probe(LOOP, [deploy("api:1", NOW - 9000), deploy("api:2", NOW - 300)],
                                   image="api:3"),
                             SETTINGS)
    assert not other["rollback"]  # the container does not run the newest deploy


def test_without_a_release_to_blame_it_restarts_and_hands_the_code_off():
    plan = memory_leak_plan(probe(LOOP), SETTINGS)
    assert plan["restart"] and not plan["rollback"]
    assert [h["fault"] for h in plan["handoffs"]] == ["oom kill loop"]  # under a fault vedrun knows
    assert "a leak in the running release: restarted" in plan["handoffs"][0]["detail"]


def test_past_the_restart_budget_it_stops_and_escalates():
    plan = memory_leak_plan(probe(LOOP, state={"restarts": [NOW - 600, NOW - 60]}), SETTINGS)
    assert not plan["restart"] and "budget 2" in plan["refused"][0]
    assert plan["handoffs"][0]["fault"] == "oom kill loop" and "budget 2" in plan["handoffs"][0]["detail"]
    aged = memory_leak_plan(probe(LOOP, state={"restarts": [NOW - 3000, NOW - 60]}), SETTINGS)
    assert aged["restart"]  # one restart left the window


def test_no_headroom_means_no_raise_and_never_unlimited():
    plan = memory_leak_plan(probe(LOOP, available=600 * MIB), SETTINGS)
    assert plan["raise"]["new_limit"] == 256 * MIB + 88 * MIB  # capped at the headroom
    none = memory_leak_plan(probe(LOOP, available=500 * MIB), SETTINGS)
    assert none["raise"] == {} and "no headroom" in none["refused"][0]


def test_an_expired_raise_is_reverted_and_a_live_one_is_not_raised_again():
    raised = {"limit": 256 * MIB, "swap_limit": 512 * MIB, "new_limit": 384 * MIB, "expires_at": NOW - 1}
    healthy = memory_leak_plan(probe(state={"raise": raised}), SETTINGS)
    assert healthy["revert"] == raised and not healthy["leak"] and healthy["steps"]["act"]
    assert [f["fault"] for f in healthy["faults"]] == ["limit raise expired"]  # a change: never "no fault"
    live = memory_leak_plan(probe(LOOP, state={"raise": {**raised, "expires_at": NOW + 600}}), SETTINGS)
    assert live["revert"] == {} and live["raise"] == {}


def test_an_expired_raise_during_a_leak_is_renewed_from_its_original_limit():
    raised = {"limit": 256 * MIB, "swap_limit": 512 * MIB, "new_limit": 384 * MIB, "expires_at": NOW - 1}
    container = probe(LOOP, state={"raise": raised})
    container["container"]["memory"], container["container"]["memory_swap"] = 384 * MIB, 640 * MIB
    plan = memory_leak_plan(container, SETTINGS)
    assert plan["revert"] == {}
    assert plan["raise"]["limit"] == 256 * MIB and plan["raise"]["new_limit"] == 384 * MIB


def test_a_raise_on_record_for_another_container_is_not_this_ones():
    raised = {"limit": 128 * MIB, "swap_limit": 256 * MIB, "new_limit": 192 * MIB, "expires_at": NOW - 1,
              "container_id": "old"}
    found = probe(state={"raise": raised})
    found["container"]["id"] = "new"
    assert memory_leak_plan(found, SETTINGS)["steps"]["act"] is False


def test_a_rollback_is_never_rolled_back_again():
    history = [deploy("api:1", NOW - 9000), deploy("api:2", NOW - 900),
               {**deploy("api:1", NOW - 300), "reason": "rollback from api:2 (memory leak)"}]
    plan = memory_leak_plan(probe(LOOP, history, image="api:1"), SETTINGS)
    assert not plan["rollback"] and plan["restart"]


def test_a_sigkill_from_outside_is_handed_off_not_fixed():
    kills = [{"action": "die", "time": NOW - 50, "exit_code": 137},
             {"action": "die", "time": NOW - 20, "exit_code": 137}]
    plan = memory_leak_plan(probe(kills), SETTINGS)
    assert not plan["leak"] and not plan["restart"]
    assert [h["fault"] for h in plan["handoffs"]] == ["killed from outside"]


def test_an_unreadable_record_stops_the_plan_and_is_handed_off():
    plan = memory_leak_plan(probe(LOOP, state={"error": "unreadable /x: bad JSON"}), SETTINGS)
    assert not (plan["raise"] or plan["restart"] or plan["rollback"])
    assert "unreadable record" in [f["fault"] for f in plan["faults"]]
    assert [h["fault"] for h in plan["handoffs"]] == ["unreadable record"]


def test_verify_wants_no_death_since_the_fix_and_no_leak_like_growth():
    after = probe([{"action": "die", "time": NOW - 30, "exit_code": 137}],
                  samples=[{"t": t, "bytes": 60 * MIB + t * 4096} for t in range(15)])
    assert memory_leak_verify(after, NOW - 20, SETTINGS)["ok"]  # the death was before the fix
    died = memory_leak_verify(after, NOW - 60, SETTINGS)
    assert not died["ok"] and "death/OOM" in died["problems"][0]
    growing = probe(samples=[{"t": t, "bytes": 60 * MIB + t * 4 * MIB} for t in range(15)])
    verdict = memory_leak_verify(growing, NOW - 20, SETTINGS)
    assert not verdict["ok"] and verdict["problems"][0].startswith("still growing: +4.00 MiB/s")


def test_a_snapshot_needs_room_in_memory_and_on_disk():
    report = {"heap": {"used_bytes": 40 * MIB}, "rss_bytes": 120 * MIB}
    assert memory_leak_snapshot_room(report, probe(), {}, SETTINGS)["ok"]
    tight = memory_leak_snapshot_room({**report, "rss_bytes": 220 * MIB}, probe(), {}, SETTINGS)
    assert not tight["ok"] and "36 MiB free under the limit, 60 MiB needed" in tight["reason"]
    raised = memory_leak_snapshot_room({**report, "rss_bytes": 220 * MIB}, probe(),
                                       {"raise": {"new_limit": 384 * MIB}}, SETTINGS)
    assert raised["ok"]  # the raise made the room
    small_disk = {**probe(), "disk": {"path": "/d", "free_bytes": 100 * MIB}}
    said = memory_leak_snapshot_room(report, small_disk, {}, SETTINGS)["reason"]
    assert "has 100 MiB free, 120 MiB needed" in said
    assert "size is unknown" in memory_leak_snapshot_room({}, probe(), {}, SETTINGS)["reason"]


def test_the_heap_verdict_is_added_to_the_leaks_handoff_only():
    handoffs = [{"fault": "killed from outside", "detail": "x"},
                {"fault": "memory growing",
                                                                  "detail": "restarted"}]
    out = memory_leak_handoff_cause(handoffs, {"cause": "event listeners", "detail": "300 more closures"})
    assert out[0] == handoffs[0]
    assert out[1]["detail"] == "restarted; heap: event listeners (300 more closures)"
