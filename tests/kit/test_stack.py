"""The stack description (role stack + vedrun.kit.stack): one source, overrides by key, checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.vedrun.kit.plugins.filter.stack import stack

REPO = Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((REPO / "roles/stack/defaults/main.yml").read_text())["stack_defaults"]


def overrides(inventory: str) -> dict:
    path = REPO / "inventory" / inventory / "group_vars" / "all" / "main.yml"
    return (yaml.safe_load(path.read_text()) or {}).get("vedrun_stack", {})


def test_production_is_the_defaults_with_derived_urls():
    result = stack(DEFAULTS, overrides("production"))
    assert result["api"]["health_url"] == "http://127.0.0.1:3001/health"
    assert result["api"]["deploy_history"] == "/var/lib/vedfinance/deploys/vedfinance-api.json"
    assert result["postgres"]["deploy_history"] == "/var/lib/vedfinance/deploys/vedfinance-postgres.json"


def test_an_environment_sets_only_what_differs():
    lab = stack(DEFAULTS, overrides("lab"))
    assert lab["api"]["data_path"] == "/srv/vedfinance/api-data"
    assert lab["api"]["port"] == 3001 and lab["api"]["container"] == "vedfinance-api"  # inherited
    assert lab["api"]["probe_url"] == "http://127.0.0.1:3001/courses?category=wealth-management"
    assert lab["port_holders_safe_to_stop"] == {"containers": ["vedrun-lab-squatter"], "executables": []}
    assert DEFAULTS["api"]["data_path"] == "/var/lib/vedfinance/api-data"  # the defaults are untouched


def test_staging_and_production_are_no_copies():
    files = [REPO / "inventory" / env / "group_vars" / "all" / "main.yml"
             for env in ("production", "staging")]
    assert files[0].read_text() != files[1].read_text()
    # both run the production stack; only what Stripe knows them by differs (a URL is no default)
    assert set(overrides("staging")) == set(overrides("production")) == {"stripe"}
    assert stack(DEFAULTS, overrides("staging"))["stripe"]["mode"] == "test"
    assert stack(DEFAULTS, overrides("production"))["stripe"]["mode"] == "live"


def test_no_role_holds_an_environment_value():
    """The stack's values live in roles/stack only: no other role names a port, a container or a
    lab volume of its own."""
    offenders = []
    for path in (REPO / "roles").rglob("*.yml"):
        if path.parts[-3] == "stack" or "lab_stack" in path.parts:
            continue
        text = path.read_text()
        for literal in ("3001", "vedfinance-api", "vedfinance-postgres", "vedrun-lab-"):
            if literal in text:
                offenders.append(f"{path.relative_to(REPO)}: {literal}")
    assert offenders == []


@pytest.mark.parametrize(("change", "message"), [
    ({"api": {"port": "http"}}, "vedrun_stack.api.port must be a TCP port"),
    ({"api": {"port": 70000}}, "vedrun_stack.api.port must be a TCP port"),
    ({"api": {"container": ""}}, "vedrun_stack.api.container must be a non-empty string"),
    ({"api": {"data_path": "relative/path"}}, "vedrun_stack.api.data_path must be an absolute path"),
    ({"api": {"data_path": "/var/lib/postgresql/api"}}, "apart from the protected path /var/lib/postgresql"),
    ({"api": {"health_path": "health"}}, "starting with /"),
    ({"port_holders_safe_to_stop": ["nginx"]}, "containers: [names]"),
    ({"postgres": {"backup_keep": -1}}, "vedrun_stack.postgres.backup_keep must be a whole number"),
    ({"api": {"allowed_origins": ["*"]}}, "vedrun_stack.api.allowed_origins must be a list of exact origins"),
    ({"api": {"allowed_origins": "https://app.test"}}, "api.allowed_origins must be a list of exact origins"),
    ({"api": {"allowed_origins": ["https://app.test/login"]}}, "no path, never \\*"),
    ({"redis": {"maxmemory": "lots"}}, "redis.maxmemory must be '' \\(not declared\\) or a Redis"),
    ({"redis": {"maxmemory_policy": "all-keys"}}, "redis.maxmemory_policy must be '' \\(not declared\\)"),
    ({"stripe": {"mode": "prod"}}, "vedrun_stack.stripe.mode must be test or live"),
    ({"stripe": {"webhook_url": "api.example.com/hook"}}, "stripe.webhook_url must be '' \\(not declared\\)"),
])
def test_a_bad_value_is_named_with_its_fix(change, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        stack(DEFAULTS, change)


def test_overrides_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError, match="vedrun_stack must be a mapping"):
        stack(DEFAULTS, ["api"])


def test_each_lab_folder_has_volumes_of_its_own():
    """A lab's database volume keeps that lab's passwords: two lab folders never share one."""
    from ansible_collections.vedrun.kit.plugins.filter.lab import lab_volumes

    first, second = lab_volumes("/work/a/.lab"), lab_volumes("/work/b/.lab")
    assert set(first) == {"pgdata", "apidata", "apidiag"}
    assert not set(first.values()) & set(second.values())
    assert lab_volumes("/work/a/.lab/") == first  # the same folder, however it is written
    assert re.fullmatch(r"vedrun-lab-[0-9a-f]{10}-pgdata", first["pgdata"])
    with pytest.raises(AnsibleFilterError, match="absolute path"):
        lab_volumes(".lab")


def test_overrides_are_copied_not_shared():
    lab_overrides = overrides("lab")
    lab = stack(DEFAULTS, lab_overrides)
    lab["port_holders_safe_to_stop"]["containers"].append("changed")
    lab["api"]["data_path"] = "/elsewhere"
    assert lab_overrides["port_holders_safe_to_stop"]["containers"] == ["vedrun-lab-squatter"]
    assert lab_overrides["api"]["data_path"] == "/srv/vedfinance/api-data"
