#!/usr/bin/env python3
"""Code size gates of the Python wrapper (vedrun/), run by `make lint`.

- no module over 400 lines;
- no function over 60 lines, nor of cyclomatic complexity over 15 (radon);
- no Click command function (decorated with a command or group decorator in vedrun/cli/)
  over 30 lines (from `def` to its end): a command parses, calls one service and renders.

Exit 0 when clean; else 1 and one line per offender (path:line, what, measure and limit).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vedrun"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_COMPLEXITY = 15
MAX_COMMAND_LINES = 30
COMMAND_DECORATORS = {"command", "group"}


def _is_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Decorated with click.command/group, or with <group>.command/group (called or not)."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in COMMAND_DECORATORS:
            return True
    return False


def _length(node: ast.AST) -> int:
    """Lines from `def` to the end of the body (decorators not counted)."""
    return node.end_lineno - node.lineno + 1


def check_file(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    where = path.relative_to(ROOT)
    offenders = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        offenders.append(f"{where}: module has {lines} lines (max {MAX_MODULE_LINES})")
    in_cli = PACKAGE / "cli" in path.parents
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = _length(node)
        if in_cli and _is_command(node):
            if length > MAX_COMMAND_LINES:
                offenders.append(f"{where}:{node.lineno}: command {node.name}() has {length} "
                                 f"lines (max {MAX_COMMAND_LINES} for a Click command)")
        elif length > MAX_FUNCTION_LINES:
            offenders.append(f"{where}:{node.lineno}: function {node.name}() has {length} lines "
                             f"(max {MAX_FUNCTION_LINES})")
    for block in cc_visit(text):
        if block.complexity > MAX_COMPLEXITY:
            kind = "method" if getattr(block, "is_method", False) else type(block).__name__.lower()
            offenders.append(f"{where}:{block.lineno}: {kind} {block.fullname} has cyclomatic "
                             f"complexity {block.complexity} (max {MAX_COMPLEXITY})")
    return offenders


def main() -> int:
    files = sorted(PACKAGE.rglob("*.py"))
    offenders = [line for path in files for line in check_file(path)]
    if offenders:
        print(f"code size: {len(offenders)} offender(s) in vedrun/:")
        for line in offenders:
            print(f"  {line}")
        return 1
    print(f"code size: {len(files)} modules of vedrun/ within the limits (module <= "
          f"{MAX_MODULE_LINES} lines, function <= {MAX_FUNCTION_LINES} lines and complexity <= "
          f"{MAX_COMPLEXITY}, Click command <= {MAX_COMMAND_LINES} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
