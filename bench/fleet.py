"""`vedrun health` over a fleet: N inventory names for the one lab VPS, against 1 name.

Each of the N names is a host of its own to Ansible (its own fork, its own module run on the
VPS), all reaching the lab VPS over SSH; the VPS answers them all at once, so this is harsher
than N real VPS hosts. Measures the whole `vedrun health` process (wall time and the CPU time
of vedrun and every process it started), the forks vedrun chose, and whether every host was
reported healthy (a failure would be a false one: the lab is healthy). Goal: at most 3 times
the 1-host time, no false failure. Run: `python bench/fleet.py [N]` (default 50), lab up.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
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
RUNS = int(os.environ.get("BENCH_FLEET_RUNS", 3))
# The same measure of the vedrun before the runbook kit, from a git worktree of that commit.
BEFORE = os.environ.get("BENCH_BEFORE", "e0d454e")


def fleet_inventory(project: Path, root: Path, count: int) -> Path:
    """The project's inventory/lab with its one host replaced by `count` names of the same VPS."""
    inventory = root / f"lab-{count}"
    shutil.copytree(project / "inventory" / "lab", inventory)
    names = "\n".join(f"        lab-vps-{n:02d}:\n          ansible_host: 127.0.0.1\n"
                      f"          ansible_port: {os.environ.get('VEDRUN_LAB_SSH_PORT', '2222')}"
                      for n in range(1, count + 1))
    (inventory / "hosts.yml").write_text(
        f"---\nall:\n  vars:\n    vedrun_environment: lab\n  children:\n    lab:\n      hosts:\n{names}\n")
    return inventory


LAB_CONTAINERS = ("vedrun-lab-vps", "vedfinance-api", "vedfinance-postgres", "vedfinance-redis",
                  "vedrun-lab-stripe")


def lab_cpu() -> float:
    """CPU seconds used so far by the lab's containers (the VPS and the services it asks), from
    their cgroups (v1 cpuacct or v2 cpu.stat); 0 for a container whose cgroup is not found."""
    total = 0.0
    for name in LAB_CONTAINERS:
        cid = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", name], capture_output=True,
                             text=True, check=False).stdout.strip()
        if not cid:
            continue
        v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
        v2 = Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat")
        if v1.exists():
            total += int(v1.read_text()) / 1e9
        elif v2.exists():
            usage = dict(line.split() for line in v2.read_text().splitlines())
            total += int(usage["usage_usec"]) / 1e6
    return total


def measure(env: dict, project: Path, inventory: Path) -> tuple[float, float, float, dict]:
    lab_before = lab_cpu()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "from vedrun.cli import main; main()", "--project",
                          str(project), "health", "-i", str(inventory), "--json"], cwd=project,
                         env={**env, "PYTHONPATH": str(project)}, capture_output=True, text=True,
                         check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, lab_cpu() - lab_before, json.loads(out.stdout)


def bench_env(work: Path) -> dict:
    """The environment of the measured runs: their own VEDRUN_HOME, the lab of this checkout."""
    env = {**os.environ, "VEDRUN_HOME": str(work / "home"), "VEDRUN_LAB_DIR": str(REPO / ".lab"),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VEDRUN_PROJECT", None)
    return env


def cells(measured: tuple, hosts: int, one: float) -> str:
    """A table row's measured cells: wall, range, x 1 host, CPU, CPU and lab CPU per host, false."""
    median, low, high, cpu, lab, false = measured
    return (f"{median:.1f} s | {low:.1f} - {high:.1f} s | {median / one:.1f} | {cpu:.1f} s | "
            f"{cpu / hosts:.2f} s | {lab / hosts:.2f} s | {false} |")


def measured_on() -> str:
    return (f"- Measured: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
            f"{os.cpu_count()} cores, the lab's VPS on loopback over SSH")


def checkout_before(work: Path) -> Path:
    """A worktree of BEFORE (its vedrun runs from there, with this venv's packages)."""
    tree = work / "before"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), BEFORE], cwd=REPO, check=True,
                   capture_output=True)
    return tree


def bench(env: dict, project: Path, work: Path, hosts: int) -> tuple:
    inventory = fleet_inventory(project, work / project.name, hosts)
    walls, cpus, labs, false_failures = [], [], [], 0
    for _ in range(RUNS):
        wall, cpu, lab, report = measure(env, project, inventory)
        walls.append(wall)
        cpus.append(cpu)
        labs.append(lab)
        bad = [h for h, checks in report["hosts"].items() if not all(c["ok"] for c in checks.values())]
        false_failures += len(bad) + len(report["unreachable"]) + (hosts - len(report["hosts"]))
        print(project.name, hosts, round(wall, 1), round(cpu, 1), bad, report["unreachable"], flush=True)
    return (statistics.median(walls), min(walls), max(walls), statistics.median(cpus),
            statistics.median(labs), false_failures)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    work = Path(tempfile.mkdtemp(prefix="vedrun-bench-fleet-"))
    # both vedruns reach the one lab, whose keys are in this checkout's .lab
    env = bench_env(work)
    sys.path.insert(0, str(REPO))
    from vedrun.runner import choose_forks

    before = checkout_before(work)
    rows = []
    try:
        for label, project, forks in ((BEFORE, before, lambda n: 5), ("now", REPO, choose_forks)):
            (work / project.name).mkdir(exist_ok=True)
            one = None
            for hosts in (1, count):
                measured = bench(env, project, work, hosts)
                one = one or measured[0]
                rows.append(f"| {label} | {hosts} | {forks(hosts)} | {cells(measured, hosts, one)}")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=REPO, check=False,
                       capture_output=True)
    lines = [
        f"## `vedrun health` over a fleet: {count} names for the lab VPS",
        "",
        f"Measured by `python bench/fleet.py {count}`: the whole `vedrun health` process, {RUNS} runs",
        f"each, against 1 inventory name and against {count} names of the same lab VPS (every name",
        "a host of its own to Ansible, all answered by the one VPS at once), by this vedrun and by",
        f"the one of {BEFORE} (before the runbook kit, from a git worktree). CPU: vedrun and every",
        "process it started on this machine (ansible, its forks, ssh); lab CPU: the lab's",
        "containers (the VPS, and the API, PostgreSQL, Redis and Stripe stand-in it asks), which",
        "on a real fleet is spread over the hosts but here shares the controller's cores. Goal: at",
        "most 3 times the 1-host time, and no false failure (the lab is healthy).",
        "",
        measured_on(),
        "",
        "| vedrun | hosts | forks | median wall | min - max | x 1 host | controller CPU | CPU per host "
        "| lab CPU per host | false failures |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    text = "\n".join(lines)
    publish("fleet", text)
    print(text)


if __name__ == "__main__":
    main()
