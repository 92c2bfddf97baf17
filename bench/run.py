"""vedrun's benchmarks; results go to docs/benchmarks.md. Run: `make bench`.

1. start-up: `vedrun --help` and `vedrun incident list` (a store of 200 incidents), wall time
   of the whole process, median of N runs. Goal: under 0.2 s (issue 15; ansible is not imported).
2. overhead: the same playbook (the healthy-system probes of tests/playbooks/noop.yml against
   localhost) through plain `ansible-playbook` and through `vedrun`, which also opens and
   closes an incident, keeps artifacts and renders INCIDENTS.md. Goal: ratio under 1.05 (issue 15).
   A third run of each round, plain ansible-playbook with ansible-runner's event callback, shows
   how much of the ratio ansible-runner's callback takes inside ansible-playbook; a fourth, the
   floor (bench/runner_floor.py: a Click command that only runs the playbook through
   ansible-runner, as fast as vedrun's runs are set up), shows what the architecture's parts cost
   before vedrun does anything of its own.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from conftest import make_project  # noqa: E402 - the test project is the benchmark's too
from publish import publish  # noqa: E402

STARTUP_RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", 20))
OVERHEAD_RUNS = int(os.environ.get("BENCH_OVERHEAD_RUNS", 11))
PROBES = [int(n) for n in os.environ.get("BENCH_PROBES", "10,40").split(",")]


def wall(cmd: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def callback_env(env: dict, work: Path) -> dict:
    """Plain ansible-playbook with ansible-runner's event callback, as ansible-runner sets it
    up (runner's config: the callback folder, the stdout callback, the event folder)."""
    from ansible_runner.utils import get_callback_dir

    return {**env, "ANSIBLE_CALLBACK_PLUGINS": get_callback_dir(),
            "ANSIBLE_STDOUT_CALLBACK": "awx_display", "RUNNER_OMIT_EVENTS": "False",
            "RUNNER_ONLY_FAILED_EVENTS": "False",
            "AWX_ISOLATED_DATA_DIR": tempfile.mkdtemp(dir=work, prefix="callback-")}


def paired(plain: list[float], other: list[float]) -> tuple[float, list[float], float]:
    """(median ratio, the ratios, median difference) over pairs run one after the other: the
    machine's drift (its speed varies by a tenth over minutes here) hits a pair alike."""
    pairs = list(zip(plain, other, strict=True))
    ratios = [o / p for p, o in pairs]
    return statistics.median(ratios), ratios, statistics.median(o - p for p, o in pairs)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="vedrun-bench-"))
    (work / "faults").mkdir()
    project = make_project(work / "project", work / "faults")
    home = work / "home"
    env = {**os.environ, "VEDRUN_PROJECT": str(project), "VEDRUN_HOME": str(home),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1"}
    from vedrun.store import Store

    store = Store(home)
    for n in range(200):
        store.open_incident(severity="P1", title=f"benchmark incident {n}")
    store.close()

    vedrun = str(BIN / "vedrun")
    startup = {}
    for label, cmd in (("vedrun --help", [vedrun, "--help"]),
                       ("vedrun incident list (200 incidents)", [vedrun, "incident", "list"])):
        wall(cmd, env)  # warm the page cache
        startup[label] = [wall(cmd, env) for _ in range(STARTUP_RUNS)]

    inventory = str(project / "inventory")
    playbook = str(project / "playbooks" / "noop.yml")
    plain_env = {**env, "ANSIBLE_CONFIG": str(project / "ansible.cfg")}
    overhead = {}
    for probes in PROBES:
        plain_cmd = [str(BIN / "ansible-playbook"), "-i", inventory, "-l", "prod", playbook,
                     "-e", f"test_probes={probes}"]
        vedrun_cmd = [vedrun, "p1-noop", "-i", inventory, "-l", "prod",
                      "-e", f"test_probes={probes}"]
        floor_cmd = [str(BIN / "python"), str(REPO / "bench" / "runner_floor.py"), "-i", inventory,
                     "-l", "prod", "-e", f"test_probes={probes}", playbook]
        wall(plain_cmd, plain_env)
        wall(plain_cmd, callback_env(plain_env, work))
        wall(floor_cmd, env)
        wall(vedrun_cmd, env)
        plain, callback, floor, wrapped = [], [], [], []
        for _ in range(OVERHEAD_RUNS):  # interleaved, so that drift hits all alike
            plain.append(wall(plain_cmd, plain_env))
            callback.append(wall(plain_cmd, callback_env(plain_env, work)))
            floor.append(wall(floor_cmd, env))
            wrapped.append(wall(vedrun_cmd, env))
        overhead[probes] = (plain, callback, floor, wrapped)

    lines = [
        "## vedrun start-up and overhead",
        "",
        "Measured by `make bench` (`bench/run.py`): wall time of whole processes, median (min-max).",
        "",
        f"- Measured: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}",
        "",
        f"### Start-up (goal: under 0.2 s; {STARTUP_RUNS} runs each)",
        "",
        "| command | median | min - max | goal met |",
        "|---|---|---|---|",
    ]
    for label, times in startup.items():
        median = statistics.median(times)
        lines.append(f"| `{label}` | {median:.3f} s | {min(times):.3f} - {max(times):.3f} s | "
                     f"{'yes' if median < 0.2 else 'NO'} |")
    lines += [
        "",
        f"### Overhead over plain ansible-playbook (goal: ratio under 1.05; {OVERHEAD_RUNS} runs "
        "each, interleaved)",
        "",
        "The same playbook, `tests/playbooks/noop.yml` with N probes on localhost (a",
        "healthy-system runbook run: probes only). vedrun's run also parses the inventory, opens",
        "the incident, locks the host, keeps scrubbed artifacts and renders INCIDENTS.md.",
        "",
        "| probes | `ansible-playbook` | `vedrun p1-noop` | added | ratio | goal met | callback | floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for probes, (plain, callback, floor, wrapped) in overhead.items():
        ratio, ratios, added = paired(plain, wrapped)
        callback_ratio = paired(plain, callback)[0]
        floor_ratio, _, floor_added = paired(plain, floor)
        lines.append(
            f"| {probes} | {statistics.median(plain):.2f} s ({min(plain):.2f} - {max(plain):.2f}) "
            f"| {statistics.median(wrapped):.2f} s ({min(wrapped):.2f} - {max(wrapped):.2f}) "
            f"| {added:+.2f} s | {ratio:.3f} ({min(ratios):.3f} - {max(ratios):.3f}) "
            f"| {'yes' if ratio < 1.05 else 'NO'} | {callback_ratio:.3f} "
            f"| {floor_ratio:.3f} ({floor_added:+.2f} s) |")
    lines += [
        "",
        "added, ratio: medians over the runs' pairs (a vedrun run and the plain run before it).",
        "callback: plain `ansible-playbook` with ansible-runner's event callback (`awx_display`,",
        "set up as ansible-runner sets it), over plain: the part of the ratio that is",
        "ansible-runner's, spent inside ansible-playbook. floor: `bench/runner_floor.py`, a",
        "Click command that only runs the playbook through ansible-runner (set up as vedrun's",
        "runs are, nothing else), over plain: what the contract's parts cost (the interpreter,",
        "Click, ansible-runner and its callback) before vedrun does any work of its own.",
        "",
    ]
    publish("engine", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
