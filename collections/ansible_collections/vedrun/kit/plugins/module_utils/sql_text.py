"""SQL text as evidence: literals redacted, the route a statement was sent from.

`pg_stat_activity.query` holds a statement as the client sent it, literals included (an email, a
token, a card's last digits): before it leaves the host every literal becomes `?`. Comments stay
(a sqlcommenter comment names the route), and so do `$1` parameters and identifiers.
`pg_stat_statements` already replaces constants with `$n`; its text goes through the same
redaction all the same (a statement it could not normalise keeps its literals).
"""

from __future__ import annotations

import re
import urllib.parse

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_ROUTE = re.compile(r"/\*[^*]*?\broute='([^']*)'[^*]*\*/")


def _word_char(char):
    return char.isalnum() or char in "_$"


def _closing(text, start, quote, backslashes):
    """The index of the quote that closes a quoted run begun before `start` (a doubled quote is
    part of it, and so is a backslash-escaped one in E'...'); the end of the text if none."""
    end = start
    while end < len(text):
        if (backslashes and text[end] == "\\") or text.startswith(quote * 2, end):
            end += 2  # an escaped or doubled quote: still inside
        elif text[end] == quote:
            return end
        else:
            end += 1
    return len(text)


def redact(sql):
    """The statement with every string, dollar-quoted and numeric literal replaced by `?`."""
    text = str(sql or "")
    out, i, n = [], 0, len(text)
    while i < n:
        char = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(text[i:end])
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(text[i:end])
            i = end
        elif char == '"':  # a quoted identifier: kept
            end = _closing(text, i + 1, '"', backslashes=False)
            out.append(text[i:end + 1])
            i = end + 1
        elif char == "'" or (char in "eEbBxXnN" and text.startswith("'", i + 1)
                             and (i == 0 or not _word_char(text[i - 1]))):
            end = _closing(text, i + (1 if char == "'" else 2), "'", backslashes=char in "eE")
            out.append("?")
            i = end + 1
        elif char == "$" and (i == 0 or not _word_char(text[i - 1])) and _DOLLAR_TAG.match(text, i):
            tag = _DOLLAR_TAG.match(text, i).group(0)
            end = text.find(tag, i + len(tag))
            out.append("?")
            i = n if end < 0 else end + len(tag)
        elif char == "$" and i + 1 < n and text[i + 1].isdigit():  # a parameter: kept
            end = i + 1
            while end < n and text[end].isdigit():
                end += 1
            out.append(text[i:end])
            i = end
        elif (char.isdigit() or (char == "." and i + 1 < n and text[i + 1].isdigit())) and (
                i == 0 or not _word_char(text[i - 1])):
            match = _NUMBER.match(text, i)
            out.append("?")
            i = match.end()
        elif _word_char(char):
            end = i
            while end < n and _word_char(text[end]):
                end += 1
            out.append(text[i:end])
            i = end
        else:
            out.append(char)
            i += 1
    return "".join(out)


def route(sql):
    """The route of a sqlcommenter comment (`/*route='%2Fcourses'*/`), decoded; '' without one."""
    match = _ROUTE.search(str(sql or ""))
    return urllib.parse.unquote(match.group(1)) if match else ""
