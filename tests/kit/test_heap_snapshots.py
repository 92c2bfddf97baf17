"""V8 heap snapshots read as a stream (module_utils/heap_snapshot.py) and the cause of a leak named
from two of them (vedrun.kit memory_leak_heap_cause). The snapshots are real: written by this
machine's Node.js (`v8.writeHeapSnapshot`) from small programs that leak the way each of the
seed's three causes does. No Docker."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict

import pytest
from ansible_collections.vedrun.kit.plugins.filter.memory_leak import memory_leak_heap_cause
from ansible_collections.vedrun.kit.plugins.module_utils import heap_snapshot

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js (make setup installs Debian's nodejs)")

SECRET = "tok_PLANTED_in_the_heap_5e1d"
GROW = {
    # a response cache whose keys never repeat
    "cache": "const c = new Map(); let i = 0; const grow = (n) => { for (let k = 0; k < n; k++) "
             "c.set('k' + i++, 'x'.repeat(512) + i); };",
    # a listener per tick on a long-lived emitter, never removed
    "listeners": "const e = new (require('events').EventEmitter)(); e.setMaxListeners(0); "
                 "const grow = (n) => { for (let k = 0; k < n; k++) { const b = Buffer.alloc(1024); "
                 "e.on('settings', () => b.length); } };",
    # connections opened and never closed
    "connections": "const net = require('net'); const held = []; let port; "
                   "const grow = (n) => Promise.all(Array.from({length: n}, () => new Promise((ok) => "
                   "held.push(net.connect(port, '127.0.0.1', ok)))));",
}


def snapshots(tmp_path, kind):
    script = f"""
const v8 = require('v8');
const secret = {json.dumps(SECRET)};  // a value in memory: it must not leave the host
{GROW[kind]}
const server = require('net').createServer(() => {{}}).listen(0, '127.0.0.1', async () => {{
  port = server.address().port;
  await grow(5); v8.writeHeapSnapshot('first.heapsnapshot');
  await grow(400); v8.writeHeapSnapshot('second.heapsnapshot');
  process.exit(secret.length > 0 ? 0 : 1);
}});
"""
    subprocess.run([NODE, "-e", script], cwd=tmp_path, check=True, timeout=120)
    return tmp_path / "first.heapsnapshot", tmp_path / "second.heapsnapshot"


def summary_in_memory(path):
    """The same summary from the whole document, parsed at once (what the stream must equal)."""
    doc = json.loads(path.read_text())
    meta = doc["snapshot"]["meta"]
    width, types = len(meta["node_fields"]), meta["node_types"][0]
    strings, nodes = doc["strings"], doc["nodes"]
    kinds = defaultdict(lambda: [0, 0])
    for at in range(0, len(nodes), width):
        kind = types[nodes[at]]
        name = f"({kind})" if kind in heap_snapshot.CONTENT_TYPES else strings[nodes[at + 1]]
        kinds[f"{kind}:{name}"[:120]][0] += 1
        kinds[f"{kind}:{name}"[:120]][1] += nodes[at + 3]
    return dict(kinds)


@pytest.mark.parametrize("kind", ["cache", "listeners", "connections"])
def test_two_snapshots_name_the_cause_of_the_leak(tmp_path, kind, monkeypatch):
    first, second = snapshots(tmp_path, kind)
    monkeypatch.setattr(heap_snapshot, "CHUNK", 4093)  # many chunk borders inside numbers and strings
    before, after = heap_snapshot.summarize(first), heap_snapshot.summarize(second)
    assert after["kinds"] == summary_in_memory(second)
    found = memory_leak_heap_cause(before, after, {"heap_min_objects": 50})
    expected = {"cache": "large cache", "listeners": "event listeners", "connections": "unclosed connections"}
    assert found["cause"] == expected[kind], found
    assert found["top"] and found["bytes_grown"] > 0
    assert SECRET not in json.dumps(after)  # string contents are counted, never named


def test_no_dominant_kind_is_unknown_and_a_non_snapshot_is_named(tmp_path):
    flat = {"kinds": {"object:Foo": [10, 1000]}}
    grown = {"kinds": {"object:Foo": [30, 3000], "object:Bar": [5, 800]}}
    assert memory_leak_heap_cause(flat, grown, {"heap_min_objects": 50})["cause"] == "unknown"
    bad = tmp_path / "x.heapsnapshot"
    bad.write_text('{"something": "else"}')
    with pytest.raises(heap_snapshot.SnapshotError, match="not a V8 heap snapshot"):
        heap_snapshot.summarize(bad)


def test_a_redacted_copy_keeps_the_shapes_and_loses_the_values(tmp_path, monkeypatch):
    """What is fetched to the controller: the same nodes, edges and names of objects, every
    string value blanked (the planted secret, an email with a multi-byte character)."""
    _first, second = snapshots(tmp_path, "cache")
    monkeypatch.setattr(heap_snapshot, "CHUNK", 4093)  # chunk borders inside strings and markers
    copy = tmp_path / "redacted.heapsnapshot"
    count = heap_snapshot.redact(second, copy)
    original, redacted = json.loads(second.read_text()), json.loads(copy.read_text())
    assert count > 400  # the cache's values at least
    assert SECRET.encode() not in copy.read_bytes() and SECRET.encode() in second.read_bytes()
    for key in ("snapshot", "nodes", "edges"):
        assert redacted[key] == original[key]
    assert len(redacted["strings"]) == len(original["strings"])
    assert heap_snapshot.summarize(copy)["kinds"] == heap_snapshot.summarize(second)["kinds"]
    assert "Map" in redacted["strings"] and "<redacted 36 chars>" in redacted["strings"]
