"""Text from records and hosts made safe to print and to render into Markdown.

Titles and notes are typed by people, and failure messages, fault names and backup names come
from hosts: none of it may drive the terminal (ANSI escapes, a carriage return that rewrites the
line, bidirectional overrides that reorder it) or change the structure of INCIDENTS.md and RCA
drafts (a newline that starts a table row or a heading, a `|` that shifts a column, raw HTML).
Control characters are shown, not dropped: `\\x1b` says that something tried.
"""

from __future__ import annotations

import re

# C0 and C1 controls except tab and newline, DEL, and the format characters that reorder or hide
# text (bidi embeddings, overrides and isolates, line/paragraph separators)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                     "\u202a-\u202e\u2066-\u2069]")
_NEWLINES = re.compile(r"\r\n|\n")
# a line starting with one of these would start a Markdown block: heading, quote, list, rule,
# code fence, table row, setext underline, HTML block
_BLOCK_START = re.compile(r"^[#>+*=_~`-]")
_ORDERED = re.compile(r"^(\d+)([.)])")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def controls(text) -> str:
    """Every unsafe control character shown as an escape (`\\x1b`); newlines and tabs kept."""
    return _UNSAFE.sub(_visible, "" if text is None else str(text))


def terminal(text, multiline: bool = False) -> str:
    """A value as it may be echoed: controls shown escaped; newlines too unless multiline."""
    safe = controls(_NEWLINES.sub("\n", "" if text is None else str(text)))
    return safe if multiline else safe.replace("\n", "\\n")


def _markdown_inline(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def md_line(value) -> str:
    """One line of Markdown (a heading, a list item): newlines become spaces."""
    lines = _NEWLINES.split(controls(value).replace("\t", " "))
    return _markdown_inline(" ".join(part.strip() for part in lines if part.strip()))


def md_cell(value) -> str:
    """A Markdown table cell: one line (`<br>` between lines), `|` escaped, no raw HTML."""
    lines = _NEWLINES.split(controls(value).replace("\t", " "))
    return "<br>".join(_markdown_inline(part.strip()) for part in lines if part.strip())


def md_text(value, indent: int = 0) -> str:
    """A multi-line block (continuation lines indented to stay in a list item): no line may
    start a heading, a table row, a list or a fence of its own."""
    out = []
    for part in _NEWLINES.split(controls(value).replace("\t", " ")):
        line = _ORDERED.sub(r"\1\\\2", _markdown_inline(part.strip()))
        out.append("\\" + line if _BLOCK_START.match(line) else line)
    return ("\n" + " " * indent).join(out).rstrip()
