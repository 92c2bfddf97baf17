"""Does Mitogen help `vedrun health` over a fleet here? The fleet bench (bench/fleet.py), run on a
copy of this project whose health playbook uses Mitogen's `mitogen_free` strategy instead of
`free`, beside the same measure without it.

Mitogen is not a dependency of vedrun (issue 15: optional, and only if measured to help). This
script needs it in the venv: `.venv/bin/pip install mitogen` (0.3.54 measured, with ansible-core
2.19), then `python bench/fleet_mitogen.py [N]` (default 50), lab up.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet  # the same measure, from bench/
from publish import publish

REPO = fleet.REPO
SKIP = shutil.ignore_patterns(".venv", ".cache", ".lab", ".git", "node_modules", "demo-home", "*.egg-info")


def mitogen_project(work: Path) -> tuple[Path, str]:
    """A copy of the project whose health playbook runs under Mitogen; its strategy plugins' path."""
    try:
        import ansible_mitogen
    except ImportError:
        sys.exit("Mitogen is not installed in this venv: .venv/bin/pip install mitogen, then run again.")
    project = work / "mitogen"
    shutil.copytree(REPO, project, ignore=SKIP, symlinks=True)
    book = project / "playbooks" / "health.yml"
    text = book.read_text(encoding="utf-8")
    if "  strategy: free\n" not in text:
        sys.exit(f"{book}: no 'strategy: free' to replace; update this script with the playbook.")
    book.write_text(text.replace("  strategy: free\n", "  strategy: mitogen_free\n"), encoding="utf-8")
    return project, str(Path(ansible_mitogen.__file__).parent / "plugins" / "strategy")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    work = Path(tempfile.mkdtemp(prefix="vedrun-bench-mitogen-"))
    env = fleet.bench_env(work)
    project, strategies = mitogen_project(work)
    rows = []
    for label, where, extra in (("free", REPO, {}),
                                ("mitogen_free", project, {"ANSIBLE_STRATEGY_PLUGINS": strategies})):
        (work / where.name).mkdir(exist_ok=True)
        one = None
        for hosts in (1, count):
            measured = fleet.bench({**env, **extra}, where, work, hosts)
            one = one or measured[0]
            rows.append(f"| {label} | {hosts} | {fleet.cells(measured, hosts, one)}")
    lines = [
        f"## `vedrun health` over a fleet with Mitogen: {count} names for the lab VPS",
        "",
        f"Measured by `python bench/fleet_mitogen.py {count}` (Mitogen installed by hand: it is not",
        "a dependency), the measure of `bench/fleet.py` with the health playbook's strategy",
        f"`free` and, on a copy of the project, `mitogen_free`; {fleet.RUNS} runs each.",
        "",
        fleet.measured_on(),
        "",
        "| strategy | hosts | median wall | min - max | x 1 host | controller CPU | CPU per host "
        "| lab CPU per host | false failures |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    text = "\n".join(lines)
    publish("fleet-mitogen", text)
    print(text)


if __name__ == "__main__":
    main()
