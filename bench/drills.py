"""Drill MTTR on the lab: fault injected -> verified recovery, per fault, median of N drills
(`vedrun drill`), and each runbook's run time on a healthy stack; for p0-database-failure also
`vedrun backup` and `vedrun restore` of the lab database (500,000+ rows).
Run: `make bench-drills` (BENCH_DRILLS=N, default 3), or `python bench/drills.py RUNBOOK...`.
Goals: under 60 s per fault; under 120 s for a drill or a restore that restores a backup.
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
from publish import publish

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RUNS = int(os.environ.get("BENCH_DRILLS", 3))
# runbook -> the docs/benchmarks.md section its numbers go to
SECTIONS = {"p0-service-down": "drills", "p0-database-failure": "drills-database"}
RESTORE_FAULTS = {"corruption"}  # drills whose recovery restores a backup: goal 120 s


def vedrun(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "vedrun"), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, check=False)


def bench_runbook(env: dict, runbook: str) -> str:
    from vedrun.drill import faults

    results: dict[str, list[float]] = {}
    for fault in faults(REPO, runbook):
        for _ in range(RUNS):
            out = vedrun(env, "drill", runbook, "--fault", fault, "--json")
            assert out.returncode == 0, out.stdout + out.stderr
            [drill] = json.loads(out.stdout)
            total = next(r["seconds"] for r in drill["mttr"] if r["phase"] == "total")
            results.setdefault(fault, []).append(total)
            print(runbook, fault, total, flush=True)
    healthy = []
    for _ in range(RUNS):
        started = time.perf_counter()
        out = vedrun(env, runbook, "-i", "inventory/lab", "--yes", "--json")
        assert out.returncode == 0 and json.loads(out.stdout)["outcome"] == "no fault found"
        healthy.append(time.perf_counter() - started)

    lines = [
        f"## Drill MTTR: {runbook} on the drill lab",
        "",
        f"Measured by `make bench-drills` (`bench/drills.py`), {RUNS} drills per fault with",
        "`vedrun drill`: MTTR is the incident's total, from the moment the fault was in place (end",
        "of the scenario's prepare) to the end of the runbook's passing verify phase; each drill",
        "also passed Molecule's independent verify. Goal: under 60 s per fault, under 120 s when",
        "the recovery restores a backup.",
        "",
        f"- Measured: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} cores, Docker lab on loopback, SSH to the lab VPS",
        "",
        "| fault | median MTTR | min - max | goal | met |",
        "|---|---|---|---|---|",
    ]
    for fault, totals in results.items():
        median = statistics.median(totals)
        goal = 120 if fault in RESTORE_FAULTS else 60
        lines.append(f"| {fault} | {median:.1f} s | {min(totals):.1f} - {max(totals):.1f} s | "
                     f"{goal} s | {'yes' if median < goal else 'NO'} |")
    lines += [
        "",
        f"The runbook on a healthy stack (`no fault found`, changed=0), whole "
        f"`vedrun` process: median {statistics.median(healthy):.1f} s "
        f"({min(healthy):.1f} - {max(healthy):.1f} s).",
    ]
    if runbook == "p0-database-failure":
        lines += ["", *bench_restore(env)]
    return "\n".join(lines)


def bench_restore(env: dict) -> list[str]:
    """`vedrun backup` then `vedrun restore --yes` of the lab database, whole processes."""
    backups, restores, inside = [], [], []
    rows = 0
    for _ in range(RUNS):
        started = time.perf_counter()
        out = vedrun(env, "backup", "-i", "inventory/lab", "--json")
        assert out.returncode == 0, out.stdout + out.stderr
        backups.append(time.perf_counter() - started)
        rows = json.loads(out.stdout)["backups"]["lab-vps"]["rows"]
        started = time.perf_counter()
        out = vedrun(env, "restore", "-i", "inventory/lab", "--yes", "--json")
        assert out.returncode == 0, out.stdout + out.stderr
        restores.append(time.perf_counter() - started)
        inside.append(json.loads(out.stdout)["restores"]["lab-vps"]["seconds"])
    return [
        f"Backup and restore of the lab database ({rows:,} rows, {RUNS} runs each, whole `vedrun`",
        "processes over SSH; the restore includes its dry run, the check of every table against",
        "the manifest, the swap and the health verify). Goal for a restore: under 120 s.",
        "",
        "| operation | median | min - max |",
        "|---|---|---|",
        f"| `vedrun backup` (dump, counts, sha256, pg_restore --list) | {statistics.median(backups):.1f} s"
        f" | {min(backups):.1f} - {max(backups):.1f} s |",
        f"| `vedrun restore --yes` | {statistics.median(restores):.1f} s | "
        f"{min(restores):.1f} - {max(restores):.1f} s |",
        f"| of which restore + check + swap on the VPS | {statistics.median(inside):.1f} s | "
        f"{min(inside):.1f} - {max(inside):.1f} s |",
    ]


def main() -> None:
    env = {**os.environ, "VEDRUN_HOME": tempfile.mkdtemp(prefix="vedrun-bench-drills-"),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VEDRUN_PROJECT", None)
    assert vedrun(env, "lab", "up").returncode == 0, "the lab did not come up"
    sys.path.insert(0, str(REPO))
    for runbook in sys.argv[1:] or list(SECTIONS):
        text = bench_runbook(env, runbook)
        publish(SECTIONS[runbook], text)
        print(text)


if __name__ == "__main__":
    main()
