"""Every automated runbook on a healthy stack, side by side: the whole `vedrun` process of a run
that finds no fault (changed=0), median of N runs, where its time goes and how many tasks the
host ran. Goal (issue 15): 3 s or less per runbook. Run: `make bench-healthy` (BENCH_HEALTHY=N,
default 5), or `python bench/healthy.py RUNBOOK...`; the lab comes up first if it is not up.
`python bench/healthy.py --against REV RUNBOOK...` measures a change instead: the vedrun of a
git worktree of REV and this one, in pairs, printed (not published) with the median of the
pairs' differences.

The runs alternate between the runbooks (one run of each, N rounds), so a drift of the
machine's speed over minutes falls on all of them alike.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import yaml
from drills import BEFORE, BIN, REPO, SECTIONS, published_before, vedrun
from publish import publish

RUNS = int(os.environ.get("BENCH_HEALTHY", 5))
GOAL = 3.0
# settings the lab gives the runbooks that measure over time (inventory/lab/group_vars)
WINDOWS = {"p1-slow-queries": "slow_queries_window_seconds",
           "p0-memory-leak": "memory_leak_sample_seconds"}


def epoch(stamp: str) -> float:
    """A record's timestamp (ISO 8601, UTC, Z) as seconds since the epoch."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def healthy_run(env: dict, runbook: str, tree: Path | None = None) -> dict[str, float]:
    """One run on the healthy lab: wall time, time to the detect phase, the detect phase, the
    rest (the other phases, skipped on a healthy stack, and the run's end) and the host's tasks.
    With `tree`, the vedrun of that checkout (its code, playbooks and roles) with this tree's lab
    inventory (it names the lab's SSH host keys, which `lab up` wrote here)."""
    began, started = time.time(), time.perf_counter()
    if tree is None:
        out = vedrun(env, runbook, "-i", "inventory/lab", "--yes", "--json")
    else:
        out = subprocess.run([sys.executable, "-c", "from vedrun.cli import main; main()", "--project",
                              str(tree), runbook, "-i", str(REPO / "inventory" / "lab"), "--yes", "--json"],
                             cwd=tree, env={**env, "PYTHONPATH": str(tree)}, capture_output=True,
                             text=True, check=False)
    wall = time.perf_counter() - started
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert result["outcome"] == "no fault found", f"{runbook} on the healthy lab: {result['outcome']}"
    run = result["run"]
    [stats] = run["host_stats"].values()
    assert stats["changed"] == 0 and stats["failed"] == 0, f"{runbook}: {stats}"
    detect = run["phases"]["detect"]
    return {"wall": wall, "to_detect": epoch(detect["started_at"]) - began,
            "detect": epoch(detect["ended_at"]) - epoch(detect["started_at"]),
            "ran": stats["ok"], "skipped": stats["skipped"]}


def window(runbook: str) -> str:
    """The time the runbook measures over on the lab, from the lab inventory's settings."""
    name = WINDOWS.get(runbook)
    if not name:
        return "-"
    settings = yaml.safe_load((REPO / "inventory/lab/group_vars/all/main.yml").read_text())
    return f"{settings[name]:g} s" if name in settings else "its default"


def table(runs: dict[str, list[dict[str, float]]]) -> str:
    def med(values: list[float]) -> str:
        return f"{statistics.median(values):.1f} s"

    lines = [
        "## A healthy run of every automated runbook",
        "",
        f"Measured by `make bench-healthy` (`bench/healthy.py`), {RUNS} runs of each runbook on the",
        "healthy lab, taken in turns: the whole `vedrun` process of a run that finds no fault",
        "(`no fault found`, changed=0), with its start (vedrun's and ansible-playbook's start, the",
        "incident opened, the host locked: up to the detect phase), its detect phase and the rest",
        "(the other phases, skipped on a healthy stack, and the run's end). Goal: 3 s or less.",
        "",
        f"- Measured: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} cores, Docker lab on loopback, SSH to the lab VPS",
        "",
        "| runbook | median | min - max | to detect | detect | rest | tasks | window | goal met | "
        f"{BEFORE} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for runbook, taken in runs.items():
        walls = [r["wall"] for r in taken]
        rest = [r["wall"] - r["to_detect"] - r["detect"] for r in taken]
        ran, skipped = (int(statistics.median(r[k] for r in taken)) for k in ("ran", "skipped"))
        _, before = published_before(SECTIONS[runbook])
        lines.append(
            f"| {runbook} | {med(walls)} | {min(walls):.1f} - {max(walls):.1f} s | "
            f"{med([r['to_detect'] for r in taken])} | {med([r['detect'] for r in taken])} | {med(rest)} | "
            f"{ran} (+{skipped}) | {window(runbook)} | "
            f"{'yes' if statistics.median(walls) <= GOAL else 'NO'} | {before or '-'} |")
    lines += [
        "",
        "to detect: from vedrun's start to the detect phase's (the phases' times are the incident's",
        "record). tasks: the tasks that ran for the host (Ansible's ok), and (+) those skipped, which",
        "cost no round trip to the host. window: the time the runbook measures over on every run,",
        f"healthy ones included (the lab's setting; see \"Reading the fleet numbers\"). {BEFORE}: the",
        "healthy-run median published at that commit, before the runbook kit.",
    ]
    return "\n".join(lines)


def against(env: dict, rev: str, runbooks: list[str]) -> None:
    """This vedrun against the one of `rev`, RUNS pairs per runbook, each pair run back to back."""
    work = Path(tempfile.mkdtemp(prefix="vedrun-bench-against-"))
    before = work / "before"
    subprocess.run(["git", "worktree", "add", "--detach", str(before), rev], cwd=REPO, check=True,
                   capture_output=True)
    try:
        print(f"| runbook | {rev} | this tree | median of the pairs' differences |\n|---|---|---|---|")
        for runbook in runbooks:
            pairs = []
            healthy_run(env, runbook, before), healthy_run(env, runbook, REPO)  # not counted
            for _ in range(RUNS):
                pairs.append((healthy_run(env, runbook, before)["wall"],
                              healthy_run(env, runbook, REPO)["wall"]))
            old, new = zip(*pairs, strict=True)
            print(f"| {runbook} | {statistics.median(old):.2f} s | {statistics.median(new):.2f} s | "
                  f"{statistics.median(b - a for a, b in pairs):+.2f} s |", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=REPO, check=False,
                       capture_output=True)


def main() -> None:
    env = {**os.environ, "VEDRUN_HOME": tempfile.mkdtemp(prefix="vedrun-bench-healthy-"),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VEDRUN_PROJECT", None)
    assert vedrun(env, "lab", "up").returncode == 0, "the lab did not come up"
    if sys.argv[1:2] == ["--against"]:
        against(env, sys.argv[2], sys.argv[3:] or list(SECTIONS))
        return
    runbooks = sys.argv[1:] or list(SECTIONS)
    runs: dict[str, list[dict[str, float]]] = {runbook: [] for runbook in runbooks}
    for runbook in runbooks:  # one run each first, not counted: caches, the SSH master
        healthy_run(env, runbook)
    for _ in range(RUNS):
        for runbook in runbooks:
            runs[runbook].append(healthy_run(env, runbook))
            print(runbook, runs[runbook][-1], flush=True)
    text = table(runs)
    if not sys.argv[1:]:
        publish("healthy", text)
    print(text)


if __name__ == "__main__":
    main()
