"""Drill MTTR of p0-service-down on the lab: fault injected -> verified recovery, per fault,
median of N drills (`vedrun drill`), and the runbook's run time on a healthy stack.
Run: `make bench-drills` (BENCH_DRILLS=N, default 3). Goal: under 60 s per fault.
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
RUNBOOK = "p0-service-down"


def vedrun(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "vedrun"), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, check=False)


def main() -> None:
    env = {**os.environ, "VEDRUN_HOME": tempfile.mkdtemp(prefix="vedrun-bench-drills-"),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VEDRUN_PROJECT", None)
    assert vedrun(env, "lab", "up").returncode == 0, "the lab did not come up"
    sys.path.insert(0, str(REPO))
    from vedrun.drill import faults

    results: dict[str, list[float]] = {}
    for fault in faults(REPO, RUNBOOK):
        for _ in range(RUNS):
            out = vedrun(env, "drill", RUNBOOK, "--fault", fault, "--json")
            assert out.returncode == 0, out.stdout + out.stderr
            [drill] = json.loads(out.stdout)
            total = next(r["seconds"] for r in drill["mttr"] if r["phase"] == "total")
            results.setdefault(fault, []).append(total)
            print(fault, total, flush=True)
    healthy = []
    for _ in range(RUNS):
        started = time.perf_counter()
        out = vedrun(env, RUNBOOK, "-i", "inventory/lab", "--yes", "--json")
        assert out.returncode == 0 and json.loads(out.stdout)["outcome"] == "no fault found"
        healthy.append(time.perf_counter() - started)

    lines = [
        f"## Drill MTTR: {RUNBOOK} on the drill lab",
        "",
        f"Measured by `make bench-drills` (`bench/drills.py`), {RUNS} drills per fault with",
        "`vedrun drill`: MTTR is the incident's total, from the moment the fault was in place (end",
        "of the scenario's prepare) to the end of the runbook's passing verify phase; each drill",
        "also passed Molecule's independent verify. Goal: under 60 s per fault.",
        "",
        f"- Measured: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} cores, Docker lab on loopback, SSH to the lab VPS",
        "",
        "| fault | median MTTR | min - max | goal met |",
        "|---|---|---|---|",
    ]
    for fault, totals in results.items():
        median = statistics.median(totals)
        lines.append(f"| {fault} | {median:.1f} s | {min(totals):.1f} - {max(totals):.1f} s | "
                     f"{'yes' if median < 60 else 'NO'} |")
    lines += [
        "",
        f"The runbook on a healthy stack (detect only, `no fault found`, changed=0), whole "
        f"`vedrun` process: median {statistics.median(healthy):.1f} s "
        f"({min(healthy):.1f} - {max(healthy):.1f} s).",
    ]
    publish("drills", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
