"""The catalog (runbooks.yml) and the commands that read only it: --help, list."""

from __future__ import annotations

import subprocess
import time

import pytest
import yaml
from click.testing import CliRunner
from support import REPO, VENV_BIN

from vedrun import catalog
from vedrun.cli import cli
from vedrun.errors import CatalogError

SEED_RUNBOOKS = {
    "p0-service-down": ("P0", "Complete outage", "Container crashed, Port conflict, Disk full"),
    "p0-database-failure": ("P0", "DB inaccessible",
                            "Container stopped, Corruption, Connection pool exhausted"),
    "p0-memory-leak": ("P0", "OOM kill loop", "Unclosed connections, Event listeners, Large cache"),
    "p1-login-failure": ("P1", "Users can't authenticate", "JWT secret missing, Redis down, CORS issue"),
    "p1-payment-failure": ("P1", "Payments not processing",
                           "Stripe API key invalid, Webhook broken, DB rollback"),
    "p1-slow-queries": ("P1", "Database performance degraded",
                        "Missing index, N+1 queries, Outdated statistics"),
}


def test_catalog_holds_the_six_seed_runbooks_with_playbooks():
    cat = catalog.load(REPO)
    assert set(cat.runbooks) == set(SEED_RUNBOOKS)
    for runbook_id, (severity, scenario, causes) in SEED_RUNBOOKS.items():
        runbook = cat.runbooks[runbook_id]
        assert runbook.severity == severity
        assert runbook.scenario == scenario
        assert ", ".join(runbook.causes) == causes
        assert runbook.playbook_path(REPO).is_file()
    assert cat.severities["P0"].targets == {"detection": 120, "mitigation": 180, "recovery": 300,
                                            "total": 600}
    assert cat.severities["P1"].targets["total"] == 1800
    assert cat.severities["P2"].targets["total"] == 7200


def test_help_lists_the_six_runbooks():
    result = CliRunner().invoke(cli, ["--project", str(REPO), "--help"])
    assert result.exit_code == 0, result.output
    for runbook_id in SEED_RUNBOOKS:
        assert runbook_id in result.output
    assert "Runbooks:" in result.output and "incident" in result.output


def test_list_prints_the_seed_table_with_targets():
    result = CliRunner().invoke(cli, ["--project", str(REPO), "list"])
    assert result.exit_code == 0, result.output
    assert "P0 - Complete outage or data loss (MTTR <10m 00s" in result.output
    assert "P1 - Major feature broken or severe degradation (MTTR <30m 00s" in result.output
    for runbook_id, (_, scenario, causes) in SEED_RUNBOOKS.items():
        line = next(line for line in result.output.splitlines() if runbook_id in line)
        assert scenario in line and causes in line


def test_list_json_is_the_catalog():
    result = CliRunner().invoke(cli, ["--project", str(REPO), "list", "--json"])
    data = yaml.safe_load(result.output)
    assert [r["id"] for r in data["runbooks"]] == list(SEED_RUNBOOKS)


def test_runbook_help_shows_causes_and_options():
    result = CliRunner().invoke(cli, ["--project", str(REPO), "p0-database-failure", "--help"])
    assert result.exit_code == 0
    for text in ("Connection pool exhausted", "--limit", "--check", "--incident", "--started-at",
                 "--vault-password-file", "--yes", "--json", "--extra-vars"):
        assert text in result.output


def test_unknown_runbook_is_a_usage_error():
    result = CliRunner().invoke(cli, ["--project", str(REPO), "p0-cosmic-rays"])
    assert result.exit_code == 2
    assert "No such command 'p0-cosmic-rays'" in result.output


def test_missing_project_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VEDRUN_PROJECT", str(tmp_path))
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 2
    assert "is not a vedrun project" in result.output and "VEDRUN_PROJECT" in result.output


def test_project_is_found_from_a_subfolder(monkeypatch):
    monkeypatch.delenv("VEDRUN_PROJECT", raising=False)
    monkeypatch.chdir(REPO / "playbooks")
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0 and "p1-slow-queries" in result.output


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["runbooks"][0].pop("playbook"), "missing 'playbook'"),
    (lambda d: d["runbooks"][0].update(severity="P9"), "severity P9 is not one of"),
    (lambda d: d["runbooks"].append(dict(d["runbooks"][0])), "the id is used twice"),
    (lambda d: d["runbooks"][0].update(id="Service Down"), "id must look like"),
    (lambda d: d["severities"]["P0"]["targets"].pop("total"), "needs targets"),
])
def test_bad_catalog_entries_are_named(tmp_path, mutate, message):
    data = yaml.safe_load((REPO / "runbooks.yml").read_text())
    mutate(data)
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "runbooks.yml").write_text(yaml.safe_dump(data))
    with pytest.raises(CatalogError, match=message):
        catalog.load(tmp_path)


def test_adding_a_runbook_needs_no_python(tmp_path):
    data = yaml.safe_load((REPO / "runbooks.yml").read_text())
    data["runbooks"].append({"id": "p2-cert-expiry", "severity": "P2", "title": "Cert Expiry",
                             "scenario": "TLS errors", "causes": ["Renewal failed"],
                             "quick_actions": ["Renew"], "playbook": "playbooks/cert.yml"})
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "runbooks.yml").write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["--project", str(tmp_path), "--help"])
    assert "p2-cert-expiry" in result.output and "P2 Cert Expiry: TLS errors" in result.output


def test_help_does_not_import_ansible():
    # Start-up speed is benchmarked in bench/; this guards the reason it is fast.
    code = ("import sys; from vedrun.cli import cli\n"
            "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'ansible' not in sys.modules and 'ansible_runner' not in sys.modules "
            "and 'rich' not in sys.modules and 'jinja2' not in sys.modules, 'heavy import'")
    started = time.monotonic()
    subprocess.run([str(VENV_BIN / "python"), "-c", code], check=True, cwd=REPO,
                   capture_output=True)
    assert time.monotonic() - started < 30


# -- the catalog's rules: one case per rule ----------------------------------------------------
def _load_with(tmp_path, mutate):
    data = yaml.safe_load((REPO / "runbooks.yml").read_text())
    mutate(data)
    (tmp_path / "playbooks").mkdir(exist_ok=True)
    (tmp_path / "runbooks.yml").write_text(yaml.safe_dump(data))
    return catalog.load(tmp_path)


def _entry(**fields):
    return {"id": "p2-cert-expiry", "severity": "P2", "title": "Cert Expiry", "scenario": "TLS errors",
            "causes": ["Renewal failed"], "quick_actions": ["Renew"], "playbook": "playbooks/cert.yml",
            **fields}


@pytest.mark.parametrize(("entry", "message"), [
    # the id is a severity of the catalog lower-cased, a dash and words
    (_entry(id="cert-expiry"), r"id must look like p0-service-down \(a severity of the catalog "
                               r"lower-cased: p0, p1, p2"),
    (_entry(id="p2"), "id must look like"),
    (_entry(id="P2-cert-expiry"), "id must look like"),
    (_entry(id="p9-cert-expiry"), "id must look like"),
    (_entry(id="p2-cert expiry"), "id must look like"),
    # its prefix is the entry's severity: the error names both and the fix
    (_entry(id="p1-cert-expiry"), r"the id says P1 but severity is P2\. Rename it p2-cert-expiry "
                                  r"or set severity: P1\."),
    # an automated runbook (the default) names its playbook
    ({k: v for k, v in _entry().items() if k != "playbook"},
     r"missing 'playbook'\. Add playbook: playbooks/p2-cert-expiry\.yml, or say automated: false"),
    # a runbook not automated yet has no playbook of its own
    (_entry(automated=False), r"says automated: false and names playbook playbooks/cert\.yml\. "
                              r"Remove 'playbook'"),
    (_entry(automated="no"), "automated must be true or false"),
])
def test_catalog_rules_name_the_fix(tmp_path, entry, message):
    with pytest.raises(CatalogError, match=message):
        _load_with(tmp_path, lambda d: d["runbooks"].append(entry))


def test_a_new_severity_needs_no_python(tmp_path):
    def add_p3(data):
        data["severities"]["P3"] = {"meaning": "Cosmetic",
                                    "targets": {"detection": "1h", "mitigation": "4h",
                                                "recovery": "1d", "total": "2d"}}
        data["runbooks"].append(_entry(id="p3-typo-on-login", severity="P3"))

    cat = _load_with(tmp_path, add_p3)
    assert cat.runbooks["p3-typo-on-login"].severity == "P3"
    result = CliRunner().invoke(cli, ["--project", str(tmp_path), "--help"])
    assert result.exit_code == 0 and "p3-typo-on-login" in result.output


def test_not_automated_runbooks_run_the_one_generic_playbook(project):
    assert {r.id for r in catalog.load(REPO).runbooks.values() if not r.automated} == set()  # all six are
    cat = catalog.load(project)  # the tests' catalog keeps one not automated (tests/conftest.py)
    runbook = cat.runbooks["p1-payment-failure"]
    assert not runbook.automated and runbook.playbook is None
    assert runbook.playbook_path(project) == project / "playbooks" / "not-automated.yml"
    assert cat.runbooks["p0-fake-outage"].playbook_path(project) == project / "playbooks" / "fake-outage.yml"
    help_text = CliRunner().invoke(cli, ["--project", str(project), "p1-payment-failure", "--help"]).output
    assert "Not automated yet" in help_text


def test_the_runbook_passed_to_playbooks_is_its_catalog_entry():
    runbook = catalog.load(REPO).runbooks["p0-database-failure"]
    assert runbook.as_extra_var() == {
        "id": "p0-database-failure", "severity": "P0", "title": "Database Failure",
        "scenario": "DB inaccessible",
        "causes": ["Container stopped", "Corruption", "Connection pool exhausted"],
        "quick_actions": ["Restart PostgreSQL", "Restore backup", "Kill blocking queries"],
        "specialist": "Slack: #database-experts"}


def test_a_runbook_id_can_never_be_a_command_name(tmp_path):
    """An id always has a dash after a severity; no command of the group can be one, for the
    catalog's severities or any other."""
    commands = list(cli.commands)
    assert {"list", "health", "incident", "metrics", "backup", "backups", "restore", "lab",
            "drill"} <= set(commands)
    for name in commands:
        for severities in (["P0", "P1", "P2"], [name.upper()], [name[:1].upper()]):
            assert not catalog.id_pattern(severities).match(name), (name, severities)
        with pytest.raises(CatalogError, match="id must look like"):
            _load_with(tmp_path, lambda d, name=name: d["runbooks"].append(_entry(id=name)))
    # and --help puts the runbooks and the commands in their own sections
    listed = CliRunner().invoke(cli, ["--project", str(REPO), "--help"]).output
    books, tools = listed.split("Runbooks:")[1].split("Commands:")
    assert "p0-service-down" in books and "incident" in tools and "p0-service-down" not in tools


def test_the_fast_yaml_reads_what_pyyaml_reads():
    """The catalog and every playbook, parsed by libyaml (yamltext), give what yaml.safe_load
    gives; broken YAML raises the same yaml.YAMLError the callers catch."""
    from vedrun import yamltext

    if yaml.__with_libyaml__:
        assert yamltext.SAFE_LOADER is yaml.CSafeLoader
    files = [REPO / "runbooks.yml", *sorted((REPO / "playbooks").rglob("*.yml"))]
    assert len(files) > 6
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert yamltext.safe_load(text) == yaml.safe_load(text), path
    with pytest.raises(yaml.YAMLError):
        yamltext.safe_load("runbooks: [unclosed")
