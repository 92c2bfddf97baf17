"""Write one benchmark's section into docs/benchmarks.md, between its markers, leaving the
other benchmarks' sections as they were measured."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Every number here is measured by a script in `bench/` and written by it, never typed in. Each
section names the command that made it.
"""


def publish(name: str, text: str) -> None:
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    current = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else HEADER
    if begin not in current:
        current = current.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, rest = current.split(begin, 1)
    _, tail = rest.split(end, 1)
    BENCHMARKS.write_text(f"{head}{begin}\n{text.strip()}\n{end}{tail}", encoding="utf-8")
