"""vedrun.kit.node_diagnostics' reading of what Node wrote, without Docker: a report copied
without the process's environment, network interfaces and arguments; a snapshot that is still
being written is not taken as whole. (The signals and the files on a real API: the memory-leak
drills and tests/test_drill_memory_leak.py.)"""

from __future__ import annotations

import json

from ansible_collections.vedrun.kit.plugins.modules import node_diagnostics

REPORT = {
    "header": {"commandLine": ["node", "--report-on-signal", "/opt/vedapi/src/main.js", "--token=sk_live_x"],
               "networkInterfaces": [{"address": "10.0.0.5"}]},
    "javascriptHeap": {"usedMemory": 12, "totalMemory": 20, "memoryLimit": 100},
    "resourceUsage": {"rss": "4096"},
    "libuv": [{"type": "tcp"}, {"type": "tcp"}, {"type": "timer"}],
    "environmentVariables": {"JWT_SECRET": "planted-jwt-1f3e"},
}


def test_a_report_is_copied_without_the_environment_and_says_the_heap(tmp_path):
    source, dest = tmp_path / "report.1.json", tmp_path / "copy.json"
    source.write_text(json.dumps(REPORT))
    found = node_diagnostics.report(str(source), str(dest))
    assert found == {"heap": {"used_bytes": 12, "total_bytes": 20, "limit_bytes": 100}, "rss_bytes": 4096,
                     "handles": {"tcp": 2, "timer": 1}}
    copy = dest.read_text()
    assert "planted-jwt-1f3e" not in copy and "environmentVariables" not in copy
    assert "10.0.0.5" not in copy and "sk_live_x" not in copy
    said = json.loads(copy)["header"]["commandLine"]
    assert said == ["node", "--report-on-signal", "/opt/vedapi/src/main.js", "<hidden>"]
    assert oct(dest.stat().st_mode & 0o777) == "0o600"


def test_a_snapshot_is_whole_only_when_its_json_is_closed(tmp_path):
    path = tmp_path / "Heap.1.heapsnapshot"
    path.write_text('{"snapshot":{},"nodes":[1,2')
    assert not node_diagnostics.complete(str(path), "heap_snapshot")
    path.write_text('{"snapshot":{},"nodes":[1,2],"strings":["a"]}\n')
    assert node_diagnostics.complete(str(path), "heap_snapshot")
    report = tmp_path / "report.json"
    report.write_text('{"header": {')
    assert not node_diagnostics.complete(str(report), "report")
