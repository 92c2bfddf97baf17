"""What the test files share, importable by name (`from support import REPO`): tests/kit has a
conftest.py of its own, so `from conftest import ...` could find the wrong one."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
LAB = REPO / ".lab"


def read_everything(*roots: Path) -> str:
    """Every byte vedrun left in these folders, decoded, for searching."""
    chunks = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)

