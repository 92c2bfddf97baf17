"""A V8 heap snapshot (`.heapsnapshot`) summarised by kind of object, read as a stream.

A snapshot is a JSON document as large as the heap (hundreds of MB in production): it is never
loaded whole. The `nodes` array (flat integers, `node_fields` per node) is read in chunks and
added up per (type, name), then only the names that were counted are read from `strings`.

Strings, numbers and regular expressions are counted under their type only: the name of such a
node is its content (a token, an email, a password in memory), which never leaves the host.
"""

from __future__ import annotations

import codecs
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


def _numbers(text):
    """The integers of a run of "1,2,\n3," (a trailing comma allowed), parsed by the json module
    in C: a snapshot holds millions of them, and int() one at a time took most of a read."""
    text = text.strip().rstrip(b",")
    return json.loads(b"[" + text + b"]") if text else []


def _rows(handle, buffer, width):
    """The array after the buffer's next "[", in flat lists of whole rows of `width` integers (a
    row's fields are list[i:i + width], or read a field of every row with list[field::width]);
    leaves the handle just after the array."""
    buffer = _read_until(handle, buffer, b"[")
    values, tail = [], b""
    while True:
        closing = buffer.find(b"]")
        text = tail + (buffer if closing < 0 else buffer[:closing])
        # a number cut by the chunk's end is finished with the next chunk
        cut = text.rfind(b",") + 1 if closing < 0 else len(text)
        text, tail = text[:cut], text[cut:]
        values += _numbers(text)
        whole = len(values) - len(values) % width
        if whole:
            yield values[:whole]
        values = values[whole:]
        if closing >= 0:
            if values:
                raise SnapshotError(f"an array's length is not a multiple of its {width} fields")
            handle.seek(handle.tell() - (len(buffer) - closing - 1))
            return
        buffer = handle.read(CHUNK)
        if not buffer:
            raise SnapshotError("the nodes or edges array is not closed")


def _strings(handle, wanted):
    """The strings at the indices in `wanted`, from the `strings` array at the end."""
    buffer = _read_until(handle, handle.read(CHUNK), b'"strings":[')
    decoder, found, index, at = json.JSONDecoder(), {}, 0, 0
    text = buffer.decode("utf-8", "surrogatepass")
    last = max(wanted, default=-1)  # once: asked at every string, it made a read quadratic
    while index <= last:
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
        width = len(fields)
        kind_of = [*types, "?"]  # a type index past the table reads "?"
        counted = {}
        nodes = total = 0
        for flat in _rows(handle, _read_until(handle, rest, b'"nodes":'), width):
            # the slices are as long as each other: flat holds whole rows
            for type_at, name, size in zip(flat[at_type::width], flat[at_name::width],  # noqa: B905 - VPS Python 3.8
                                           flat[at_size::width]):
                kind = kind_of[min(type_at, len(types))]
                key = (kind, -1 if kind in CONTENT_TYPES else name)
                entry = counted.get(key)
                if entry is None:
                    counted[key] = [1, size]
                else:
                    entry[0] += 1
                    entry[1] += size
                total += size
            nodes += len(flat) // width
        names = _strings(handle, {name for _, name in counted if name >= 0})
    kinds = {}
    for (kind, name), (count, size) in counted.items():
        label = f"{kind}:{names.get(name, '') if name >= 0 else '(' + kind + ')'}"[:120]
        entry = kinds.setdefault(label, [0, 0])
        entry[0] += count
        entry[1] += size
    return {"kinds": kinds, "nodes": nodes, "bytes": total}


def redact(path, out_path):
    """A copy of the snapshot with every string value blanked: the `strings` entries that a
    string, number or regexp node names (their content) become "<redacted N chars>". Object
    shapes, constructor and closure names, property names and retainers stay, which is what a
    leak is read from; a secret held in memory does not leave the host. Returns the count."""
    with open(path, "rb") as handle:
        fields, types, rest = _meta(handle)
        at_type, at_name, width = fields.index("type"), fields.index("name"), len(fields)
        values = {i for i, kind in enumerate(types) if kind in CONTENT_TYPES}
        blank, names = set(), set()
        for flat in _rows(handle, _read_until(handle, rest, b'"nodes":'), width):
            for type_at, name in zip(flat[at_type::width], flat[at_name::width]):  # noqa: B905 - Python 3.8
                (blank if type_at in values else names).add(name)
        # the table is deduplicated: a string that is also an object's or a property's name stays
        handle.seek(0)
        head = handle.read(CHUNK)
        meta = json.loads(head[len(b'{"snapshot":'):head.find(b'"nodes"')].rstrip(b", \n"))["meta"]
        edge_fields, edge_types = meta["edge_fields"], meta["edge_types"][0]
        at_edge_type, at_edge_name = edge_fields.index("type"), edge_fields.index("name_or_index")
        edge_width = len(edge_fields)
        # an element's or a hidden edge's name_or_index is an index, not a string's
        named = {i for i, kind in enumerate(edge_types) if kind not in ("element", "hidden")}
        for flat in _rows(handle, _read_until(handle, head, b'"edges":'), edge_width):
            names.update(name for edge_type, name in zip(flat[at_edge_type::edge_width],  # noqa: B905 - 3.8
                                                         flat[at_edge_name::edge_width])
                         if edge_type in named)
        blank -= names
    marker = b'"strings":['
    with open(path, "rb") as source, open(out_path, "wb") as out:
        carry = b""
        while True:  # everything before the strings, as it is
            chunk = source.read(CHUNK)
            if not chunk:
                raise SnapshotError('no "strings": in the snapshot')
            data = carry + chunk
            at = data.find(marker)
            if at >= 0:
                out.write(data[:at + len(marker)])
                rest = data[at + len(marker):]
                break
            out.write(data[:-len(marker)])
            carry = data[-len(marker):]
        decode = codecs.getincrementaldecoder("utf-8")("surrogatepass").decode
        decoder, text, at, index, redacted = json.JSONDecoder(), decode(rest), 0, 0, 0
        while True:
            while at < len(text) and text[at] in " ,\n\r\t":
                at += 1
            if at < len(text) and text[at] == "]":
                out.write(text[at:].encode("utf-8", "surrogatepass"))
                break
            try:
                value, end = decoder.raw_decode(text, at)
            except ValueError:
                more = source.read(CHUNK)
                if not more:
                    raise SnapshotError("the strings array is not closed") from None
                text, at = text[at:] + decode(more), 0
                continue
            if index in blank and isinstance(value, str) and value:
                value, redacted = f"<redacted {len(value)} chars>", redacted + 1
            out.write((b",\n" if index else b"") + json.dumps(value).encode())
            index, at = index + 1, end
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                return redacted
            out.write(chunk)
