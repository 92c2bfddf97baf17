"""The heap snapshot reader (module_utils/heap_snapshot.py) on small hand-written snapshots: the
edges of its stream that real snapshots rarely hit. No Node.js, no Docker."""

from __future__ import annotations

import json

import pytest
from ansible_collections.vedrun.kit.plugins.module_utils import heap_snapshot

META = {"node_fields": ["type", "name", "id", "self_size", "edge_count"],
        "node_types": [["hidden", "object", "string", "closure"]],
        "edge_fields": ["type", "name_or_index", "to_node"],
        "edge_types": [["context", "element", "property", "hidden"]]}


def write(path, nodes, edges, strings, *, layout="\n"):
    """A snapshot as V8 lays it out: a row a line, the arrays after the meta."""
    def rows(values, width):
        return layout.join(",".join(str(v) for v in values[i:i + width]) + ("," if i + width < len(values)
                                                                           else "")
                           for i in range(0, len(values), width))
    path.write_text('{"snapshot":{"meta":' + json.dumps(META) + ',"node_count":0,"edge_count":0},\n'
                    f'"nodes":[{rows(nodes, 5)}],\n"edges":[{rows(edges, 3)}],\n'
                    f'"strings":[{",".join(json.dumps(s) for s in strings)}]}}')
    return path


# strings: 0 "", 1 "Cache", 2 a secret held in memory, 3 "entries", 4 "Cache" again as a value
STRINGS = ["", "Cache", "tok_secret_in_memory", "entries", "handler"]
NODES = [1, 1, 1, 40, 1,    # object Cache
         1, 1, 3, 40, 0,    # object Cache
         2, 2, 5, 90, 0,    # string: its name is its content
         3, 4, 7, 30, 0,    # closure handler
         9, 3, 9, 10, 0]    # a type past the table
EDGES = [2, 3, 5]           # property "entries"


def header_size(path):
    return path.read_bytes().index(b'"nodes"') + len(b'"nodes"')


@pytest.mark.parametrize("past_header", [0, 1, 7, 13, 1 << 20])  # the meta is read in one chunk
@pytest.mark.parametrize("layout", ["\n", "", "\n  "])
def test_counts_per_kind_whatever_the_chunk_borders_and_spacing(tmp_path, past_header, layout,
                                                                 monkeypatch):
    path = write(tmp_path / "s.heapsnapshot", NODES * 50, EDGES * 50, STRINGS, layout=layout)
    monkeypatch.setattr(heap_snapshot, "CHUNK", header_size(path) + past_header)
    assert heap_snapshot.summarize(path) == {
        "kinds": {"object:Cache": [100, 4000], "string:(string)": [50, 4500],
                  "closure:handler": [50, 1500], "?:entries": [50, 500]},
        "nodes": 250, "bytes": 10500}


def test_the_copy_blanks_values_and_keeps_names(tmp_path, monkeypatch):
    path = write(tmp_path / "s.heapsnapshot", NODES * 50, EDGES * 50, STRINGS)
    monkeypatch.setattr(heap_snapshot, "CHUNK", header_size(path) + 5)
    copy = tmp_path / "copy.heapsnapshot"
    assert heap_snapshot.redact(path, copy) == 1
    strings = json.loads(copy.read_text())["strings"]
    assert strings == ["", "Cache", "<redacted 20 chars>", "entries", "handler"]


def test_a_value_that_is_also_a_property_name_stays(tmp_path):
    """A string node whose content is also a property's name (the strings table is shared)."""
    nodes = [2, 3, 1, 8, 0]  # a string "entries"
    path = write(tmp_path / "s.heapsnapshot", nodes, EDGES, STRINGS)
    assert heap_snapshot.redact(path, tmp_path / "copy.heapsnapshot") == 0


def test_a_row_cut_short_is_refused(tmp_path):
    path = write(tmp_path / "s.heapsnapshot", NODES[:-2], EDGES, STRINGS)
    with pytest.raises(heap_snapshot.SnapshotError, match="not a multiple of its 5 fields"):
        heap_snapshot.summarize(path)
