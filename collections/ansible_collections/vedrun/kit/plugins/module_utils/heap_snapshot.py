"""A V8 heap snapshot (`.heapsnapshot`) summarised by kind of object, read as a stream.

A snapshot is a JSON document as large as the heap (hundreds of MB in production): it is never
loaded whole. The `nodes` array (flat integers, `node_fields` per node) is read in chunks and
added up per (type, name), then only the names that were counted are read from `strings`.

Strings, numbers and regular expressions are counted under their type only: the name of such a
node is its content (a token, an email, a password in memory), which never leaves the host.
"""

from __future__ import annotations

import json

CHUNK = 1 << 20
# node types whose "name" is the value itself: summarised without it
CONTENT_TYPES = frozenset({"string", "concatenated string", "sliced string", "number", "regexp",
                           "bigint", "symbol"})


class SnapshotError(Exception):
    """The file is not a V8 heap snapshot this reader understands."""


def _read_until(handle, buffer, marker):
    """Advance to just after `marker`; returns what follows it in the buffer."""
    while True:
        at = buffer.find(marker)
        if at >= 0:
            return buffer[at + len(marker):]
        more = handle.read(CHUNK)
        if not more:
            raise SnapshotError(f"no {marker.decode()} in the snapshot")
        buffer = buffer[-len(marker):] + more


def _meta(handle):
    """The snapshot's meta (node fields and types), from the head of the file."""
    head = handle.read(CHUNK)
    end = head.find(b'"nodes"')
    if not head.startswith(b'{"snapshot":') or end < 0:
        raise SnapshotError("not a V8 heap snapshot (no snapshot header)")
    header = json.loads(head[len(b'{"snapshot":'):end].rstrip(b", \n"))
    meta = header["meta"]
    fields = meta["node_fields"]
    return fields, meta["node_types"][0], head[end:]


def _nodes(handle, buffer, width):
    """Each node's fields, in order, as lists of ints; leaves the handle after the array."""
    buffer = _read_until(handle, buffer, b"[")
    values, tail = [], b""
    while True:
        closing = buffer.find(b"]")
        text = tail + (buffer if closing < 0 else buffer[:closing])
        # a number cut by the chunk's end is finished with the next chunk
        cut = text.rfind(b",") + 1 if closing < 0 else len(text)
        text, tail = text[:cut], text[cut:]
        values += [int(item) for item in text.split(b",") if item.strip()]
        whole = len(values) - len(values) % width
        for start in range(0, whole, width):
            yield values[start:start + width]
        values = values[whole:]
        if closing >= 0:
            handle.seek(handle.tell() - (len(buffer) - closing - 1))
            return
        buffer = handle.read(CHUNK)
        if not buffer:
            raise SnapshotError("the nodes array is not closed")


def _strings(handle, wanted):
    """The strings at the indices in `wanted`, from the `strings` array at the end."""
    buffer = _read_until(handle, handle.read(CHUNK), b'"strings":[')
    decoder, found, index, at = json.JSONDecoder(), {}, 0, 0
    text = buffer.decode("utf-8", "surrogatepass")
    while index <= max(wanted, default=-1):
        while at < len(text) and text[at] in " ,\n\r\t":
            at += 1
        try:
            value, end = decoder.raw_decode(text, at)
        except ValueError:
            more = handle.read(CHUNK)
            if not more:
                break
            text = text[at:] + more.decode("utf-8", "surrogatepass")
            at = 0
            continue
        if index in wanted:
            found[index] = value
        index, at = index + 1, end
    return found


def summarize(path):
    """{"kinds": {"<type>:<name>": [count, self_size]}, "nodes": n, "bytes": total self size}."""
    with open(path, "rb") as handle:
        fields, types, rest = _meta(handle)
        try:
            at_type, at_name, at_size = (fields.index(f) for f in ("type", "name", "self_size"))
        except ValueError as exc:
            raise SnapshotError(f"the snapshot's node fields lack {exc}") from None
        counted = {}
        nodes = total = 0
        for row in _nodes(handle, _read_until(handle, rest, b'"nodes":'), len(fields)):
            kind = types[row[at_type]] if row[at_type] < len(types) else "?"
            key = (kind, -1 if kind in CONTENT_TYPES else row[at_name])
            entry = counted.setdefault(key, [0, 0])
            entry[0] += 1
            entry[1] += row[at_size]
            nodes, total = nodes + 1, total + row[at_size]
        names = _strings(handle, {name for _, name in counted if name >= 0})
    kinds = {}
    for (kind, name), (count, size) in counted.items():
        label = f"{kind}:{names.get(name, '') if name >= 0 else '(' + kind + ')'}"[:120]
        entry = kinds.setdefault(label, [0, 0])
        entry[0] += count
        entry[1] += size
    return {"kinds": kinds, "nodes": nodes, "bytes": total}
