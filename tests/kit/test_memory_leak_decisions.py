"""The decisions of p0-memory-leak (vedrun.kit memory_leak filters) and the cgroup readers
(module_utils cgroup_memory), without Docker: events, samples and cgroup trees as the host gives
them (v1 as on this machine, v2 as on most VPS), one case per row of the decision table."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.vedrun.kit.plugins.filter.memory_leak import (
    memory_leak_deaths,
    memory_leak_faults,
    memory_leak_growth,
    memory_leak_raise,
    memory_leak_raise_due,
    memory_leak_restart_allowed,
)
from ansible_collections.vedrun.kit.plugins.module_utils import cgroup_memory

MIB = 1048576
SETTINGS = {"window_seconds": 600, "loop_deaths": 2, "growth_bytes_per_second": 0.5 * MIB,
            "horizon_seconds": 900, "reserve_bytes": 512 * MIB, "raise_factor": 1.5,
            "max_restarts": 3, "restart_window_seconds": 1800}
NOW = 10_000.0


def probe(events=(), oom_killed=False, kernel=(), samples=(), limit=64 * MIB):
    return {"now": NOW, "events": list(events), "kernel_ooms": list(kernel), "samples": list(samples),
            "container": {"oom_killed": oom_killed}, "cgroup": {"limit": limit, "swap_limit": limit}}


def died(at, code=137):
    return {"action": "die", "time": at, "exit_code": code}


def oom(at):
    return {"action": "oom", "time": at}


def test_an_oom_kill_loop_is_found_from_dockers_oom_events():
    found = memory_leak_faults(probe([oom(9500), died(9500.2), oom(9800), died(9800.1)]), SETTINGS)
    assert [f["fault"] for f in found] == ["oom kill loop"]
    assert found[0]["deaths"] == 2 and "docker oom event" in found[0]["detail"]


def test_exit_137_without_the_oom_killer_is_not_a_leak():
    found = memory_leak_faults(probe([died(9500), died(9800)]), SETTINGS)
    assert [f["fault"] for f in found] == ["killed from outside"]


def test_oomkilled_confirms_only_the_last_death_and_the_kernel_log_the_others():
    deaths = memory_leak_deaths(probe([died(9500), died(9800)], oom_killed=True, kernel=[9498]), 600)
    assert [(d["oom"], d["evidence"]) for d in deaths] == [
        (True, ["kernel OOM killer"]), (True, ["OOMKilled"])]


def test_deaths_before_the_window_do_not_count():
    found = memory_leak_faults(probe([oom(1000), died(1000), oom(9500), died(9500)]), SETTINGS)
    assert found == []  # one OOM death in the window: restarted, not yet a loop


def test_a_leak_in_progress_is_found_from_the_samples_with_its_time_left():
    samples = [{"t": t, "bytes": 20 * MIB + t * MIB} for t in range(0, 20, 2)]
    found = memory_leak_faults(probe(samples=samples), SETTINGS)
    assert [f["fault"] for f in found] == ["memory growing"]
    assert found[0]["bytes_per_second"] == pytest.approx(MIB, rel=1e-6)
    assert found[0]["seconds_to_limit"] == pytest.approx(26, abs=0.5)  # (64 - 38) MiB at 1 MiB/s


def test_flat_or_noisy_memory_is_not_growth():
    flat = [{"t": t, "bytes": 30 * MIB + (t % 2) * MIB} for t in range(20)]
    assert memory_leak_faults(probe(samples=flat), SETTINGS) == []
    assert memory_leak_growth([{"t": 0, "bytes": 1}], 10)["seconds_to_limit"] is None


def test_a_raise_stays_within_the_hosts_headroom_and_keeps_the_swap_relation():
    cgroup = {"limit": 256 * MIB, "swap_limit": 512 * MIB}
    roomy = memory_leak_raise(cgroup, {"available_bytes": 4096 * MIB}, SETTINGS)
    assert roomy["ok"] and roomy["new_limit"] == 384 * MIB and roomy["new_swap_limit"] == 640 * MIB
    assert not roomy["capped"]
    tight = memory_leak_raise(cgroup, {"available_bytes": 600 * MIB}, SETTINGS)
    assert tight["ok"] and tight["new_limit"] == 256 * MIB + 88 * MIB and tight["capped"]
    none = memory_leak_raise(cgroup, {"available_bytes": 400 * MIB}, SETTINGS)
    assert not none["ok"] and "no headroom" in none["reason"]


def test_an_unlimited_container_is_never_raised():
    plan = memory_leak_raise({"limit": None}, {"available_bytes": 8192 * MIB}, SETTINGS)
    assert plan["ok"] is False and "no memory limit" in plan["reason"]


def test_restarts_have_a_budget_and_a_raise_an_expiry():
    assert memory_leak_restart_allowed([NOW - 100, NOW - 50], NOW, SETTINGS)["allowed"] is True
    assert memory_leak_restart_allowed([NOW - 300, NOW - 100, NOW - 50], NOW, SETTINGS)["allowed"] is False
    assert memory_leak_restart_allowed([NOW - 5000] * 5, NOW, SETTINGS)["allowed"] is True
    record = {"expires_at": NOW + 60}
    assert memory_leak_raise_due(record, NOW) is False
    assert memory_leak_raise_due(record, NOW + 61) is True
    assert memory_leak_raise_due({**record, "resolved": True}, NOW) is True
    assert memory_leak_raise_due(None, NOW) is False


def _tree(tmp_path: Path, cgroup_text: str, relative: str, files: dict[str, str]) -> tuple[Path, Path, str]:
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "42").mkdir(parents=True)
    (proc / "42" / "cgroup").write_text(cgroup_text)
    folder = root / relative
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return proc, root, str(folder)


def test_cgroup_v2_counters(tmp_path):
    scope = "system.slice/docker-abc.scope"
    proc, root, folder = _tree(tmp_path, f"0::/{scope}\n", scope, {
        "memory.current": "52428800\n", "memory.max": "67108864\n", "memory.swap.max": "max\n",
        "memory.events": "low 0\nhigh 0\nmax 17\noom 3\noom_kill 2\n",
        "memory.stat": "anon 50000000\nfile 2000000\n"})
    snap = cgroup_memory.snapshot(42, str(proc), str(root))
    assert snap["version"] == 2 and snap["path"] == folder
    assert (snap["current"], snap["limit"], snap["swap_limit"]) == (52428800, 67108864, None)
    assert (snap["oom_kills"], snap["oom_events"], snap["limit_hits"], snap["anon"]) == (2, 3, 17, 50000000)


def test_cgroup_v1_counters_and_unlimited(tmp_path):
    lines = "12:pids:/docker/abc\n9:memory:/docker/abc\n0::/\n"
    proc, root, _folder = _tree(tmp_path, lines, "memory/docker/abc", {
        "memory.usage_in_bytes": "1048576\n", "memory.limit_in_bytes": "9223372036854771712\n",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n",
        "memory.failcnt": "9\n", "memory.stat": "cache 10\nrss 20\n"})
    snap = cgroup_memory.snapshot(42, str(proc), str(root))
    assert snap["version"] == 1 and snap["limit"] is None and snap["oom_kills"] == 4
    assert (snap["current"], snap["anon"], snap["file"], snap["limit_hits"]) == (1048576, 20, 10, 9)


def test_no_cgroup_is_said(tmp_path):
    assert cgroup_memory.snapshot(42, str(tmp_path / "proc"), str(tmp_path))["version"] == 0


def test_this_machines_own_cgroup_is_readable():
    snap = cgroup_memory.snapshot("self")
    assert snap["version"] in (1, 2) and snap["current"] and snap["current"] > 0


def test_memory_and_swap_count_together_in_v1_and_v2(tmp_path):
    """With swap allowed, memory alone stays flat at the limit while a leak fills the swap: the
    samples and the limit the growth runs to are memory and swap together."""
    lines = "9:memory:/docker/abc\n"
    proc, root, _folder = _tree(tmp_path / "v1", lines, "memory/docker/abc", {
        "memory.usage_in_bytes": "268435456\n", "memory.limit_in_bytes": "268435456\n",
        "memory.memsw.usage_in_bytes": "402653184\n", "memory.memsw.limit_in_bytes": "536870912\n",
        "memory.oom_control": "oom_kill 0\n", "memory.failcnt": "0\n", "memory.stat": "rss 1\n"})
    v1 = cgroup_memory.snapshot(42, str(proc), str(root))
    assert (v1["total_current"], v1["total_limit"], v1["swap_current"]) == (384 * MIB, 512 * MIB, 128 * MIB)
    scope = "system.slice/docker-abc.scope"
    proc, root, _folder = _tree(tmp_path / "v2", f"0::/{scope}\n", scope, {
        "memory.current": "268435456\n", "memory.max": "268435456\n", "memory.swap.max": "268435456\n",
        "memory.swap.current": "134217728\n", "memory.events": "oom_kill 0\n", "memory.stat": "anon 1\n"})
    v2 = cgroup_memory.snapshot(42, str(proc), str(root))
    assert (v2["total_current"], v2["total_limit"]) == (384 * MIB, 512 * MIB)
    growing = probe(samples=[{"t": t, "bytes": 384 * MIB + t * MIB} for t in range(10)], limit=256 * MIB)
    growing["cgroup"]["total_limit"] = 512 * MIB
    assert memory_leak_faults(growing, SETTINGS)[0]["seconds_to_limit"] == pytest.approx(119, abs=1)
