"""Every role documents itself: meta/main.yml, meta/argument_specs.yml, and no default drifts
from what defaults/main.yml really holds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (REPO / "roles").iterdir() if p.is_dir())


def _yaml(path: Path):
    return yaml.safe_load(path.read_text()) if path.is_file() else None


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_role_has_meta_and_argument_specs(role):
    assert _yaml(role / "meta" / "main.yml"), f"{role.name}: meta/main.yml missing"
    specs = (_yaml(role / "meta" / "argument_specs.yml") or {}).get("argument_specs")
    assert specs and "main" in specs, f"{role.name}: meta/argument_specs.yml has no main entry point"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_argument_specs_defaults_match_defaults_main(role):
    defaults = _yaml(role / "defaults" / "main.yml") or {}
    specs = (_yaml(role / "meta" / "argument_specs.yml") or {}).get("argument_specs") or {}
    documented: dict[str, dict] = {}
    drift = []
    for entry, spec in specs.items():
        for name, option in (spec.get("options") or {}).items():
            documented[name] = option
            if "default" in option and name in defaults and option["default"] != defaults[name]:
                drift.append(f"{entry}.{name}: spec {option['default']!r} != defaults {defaults[name]!r}")
            if "default" in option and name not in defaults:
                drift.append(f"{entry}.{name}: a default in the spec, none in defaults/main.yml")
    undocumented = sorted(set(defaults) - set(documented))
    assert not drift, drift
    assert not undocumented, f"{role.name}: defaults without an argument spec: {undocumented}"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_public_variable_starts_with_the_role_name(role):
    defaults = _yaml(role / "defaults" / "main.yml") or {}
    stray = [name for name in defaults if not name.startswith(role.name + "_") and name != "stack"]
    assert not stray, f"{role.name}: {stray}"


def test_a_drifted_default_is_caught(tmp_path, monkeypatch):
    """The check above can fail: a role whose spec says 7 and whose defaults say 8."""
    role = tmp_path / "roles" / "demo"
    (role / "meta").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "meta" / "main.yml").write_text("galaxy_info: {author: x}\n")
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n      demo_keep: {type: int, default: 7}\n")
    (role / "defaults" / "main.yml").write_text("demo_keep: 8\n")
    with pytest.raises(AssertionError, match="demo_keep"):
        test_argument_specs_defaults_match_defaults_main(role)
