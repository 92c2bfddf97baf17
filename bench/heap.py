"""Reading a V8 heap snapshot on the host: p0-memory-leak's diagnose summarises each of its two
snapshots and writes a redacted copy (module_utils/heap_snapshot.py), inside the task that takes
it, so the time is part of the incident's MTTR. Run: `make bench` (after bench/run.py), or
`python bench/heap.py`.

Snapshots of a leaking cache of growing size, written by this machine's Node.js (the lab's drill
snapshots are about 13 MB; production heaps are hundreds of MB). For each: the file's size,
`summarize` and `redact` (median of BENCH_HEAP_RUNS), and the same read by the reader of
BEFORE (the commit before the reader was made linear), once, for the sizes it reads in under a
minute.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ansible_collections.vedrun.kit.plugins.module_utils import heap_snapshot  # noqa: E402
from publish import publish  # noqa: E402

READER = "collections/ansible_collections/vedrun/kit/plugins/module_utils/heap_snapshot.py"
BEFORE = "e804e4e"
RUNS = int(os.environ.get("BENCH_HEAP_RUNS", 3))
ENTRIES = [int(n) for n in os.environ.get("BENCH_HEAP_ENTRIES", "10000,40000,150000").split(",")]
BEFORE_UP_TO_MB = 45  # the old reader's time: the snapshot's strings times the names it counted

LEAK = """
const v8 = require('v8');
const cache = new Map();
for (let i = 0; i < Number(process.argv[1]); i++) {
  cache.set('request-' + i, {id: i, user: 'user' + i, body: 'x'.repeat(64) + i, tags: ['a', String(i)]});
}
v8.writeHeapSnapshot(process.argv[2]);
"""


def timed(call, *args) -> float:
    started = time.perf_counter()
    call(*args)
    return time.perf_counter() - started


def reader_of(commit: str):
    """The heap_snapshot module as it was at `commit`, or None when git cannot show it."""
    shown = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:{READER}"],
                           capture_output=True, text=True, check=False)
    if shown.returncode != 0:
        return None
    path = Path(tempfile.mkdtemp(prefix="vedrun-bench-heap-")) / "heap_snapshot_before.py"
    path.write_text(shown.stdout, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("heap_snapshot_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    node = shutil.which("node")
    if node is None:
        sys.exit("bench/heap.py needs Node.js: make setup installs Debian's nodejs")
    work = Path(tempfile.mkdtemp(prefix="vedrun-bench-heap-"))
    before = reader_of(BEFORE)
    rows = []
    for entries in ENTRIES:
        snapshot = work / f"leak-{entries}.heapsnapshot"
        subprocess.run([node, "-e", LEAK, str(entries), str(snapshot)], check=True, timeout=600)
        size_mb = snapshot.stat().st_size / 1e6
        copy = work / "redacted.heapsnapshot"
        summarize = [timed(heap_snapshot.summarize, snapshot) for _ in range(RUNS)]
        redact = [timed(heap_snapshot.redact, snapshot, copy) for _ in range(RUNS)]
        old = None
        if before is not None and size_mb <= BEFORE_UP_TO_MB:
            assert before.summarize(snapshot) == heap_snapshot.summarize(snapshot), "summaries differ"
            old = (timed(before.summarize, snapshot), timed(before.redact, snapshot, copy))
        rows.append((entries, size_mb, summarize, redact, old))
        snapshot.unlink()
    shutil.rmtree(work, ignore_errors=True)

    lines = [
        "## Reading a heap snapshot on the host (p0-memory-leak's diagnose)",
        "",
        "Measured by `python bench/heap.py` (also run by `make bench`): snapshots of a leaking",
        "cache written by this machine's Node.js, summarised (what the cause is named from) and",
        f"copied with every string value blanked (what is fetched), median of {RUNS} runs. Both",
        "run on the host inside the snapshot's task, twice per diagnose. The lab's drill",
        f"snapshots are about 13 MB. {BEFORE}: the reader before it was made linear, once.",
        "",
        f"- Measured: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "",
        f"| cache entries | snapshot | summarize | redact | MB/s (both) | {BEFORE} summarize | "
        f"{BEFORE} redact |",
        "|---|---|---|---|---|---|---|",
    ]
    for entries, size_mb, summarize, redact, old in rows:
        both = statistics.median(summarize) + statistics.median(redact)
        lines.append(
            f"| {entries} | {size_mb:.0f} MB | {statistics.median(summarize):.2f} s "
            f"| {statistics.median(redact):.2f} s | {size_mb / both:.0f} "
            + (f"| {old[0]:.2f} s | {old[1]:.2f} s |" if old else "| - | - |"))
    lines += ["", f"-: not run (over {BEFORE_UP_TO_MB} MB: the old reader's time grows with the "
              "snapshot's strings times the names it counts, both of which grow with the heap)."]
    publish("heap", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
