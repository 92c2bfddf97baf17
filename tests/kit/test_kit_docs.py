"""Every plugin of the kit documents itself in valid YAML (ansible-doc and Ansible read it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

KIT = Path(__file__).resolve().parents[2] / "collections" / "ansible_collections" / "vedrun" / "kit"
PLUGINS = sorted(p for p in (KIT / "plugins").rglob("*.py") if "module_utils" not in p.parts)


def _strings(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
            found[node.targets[0].id] = ast.literal_eval(node.value)
    return found


@pytest.mark.parametrize("path", PLUGINS, ids=[p.stem for p in PLUGINS])
def test_plugin_documentation_is_valid_yaml(path):
    strings = _strings(path)
    assert "DOCUMENTATION" in strings, f"{path.name} has no DOCUMENTATION"
    for name, text in strings.items():
        data = yaml.safe_load(text)
        assert data is not None, f"{path.name}: {name} is empty"
    doc = yaml.safe_load(strings["DOCUMENTATION"])
    assert doc.get("short_description"), f"{path.name}: no short_description"
