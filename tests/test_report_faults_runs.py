"""What a runbook's detect phase reports, through the role incident_report (tasks_from faults,
one task: vedrun.kit.report_faults), in real ansible runs: what vedrun records from it, the line
plain ansible-playbook shows, and faults that are not a list of names refused before anything
is recorded. The plugin's decisions alone: tests/kit/test_report_faults.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from support import VENV_BIN

from vedrun.store import Store

pytestmark = pytest.mark.ansible

REPORTING_RUNBOOK = """---
- name: Detect | report what the test says
  hosts: all
  gather_facts: false
  tags: [detect]
  tasks:
    - name: Detect | report the faults to vedrun
      ansible.builtin.import_role: {name: incident_report, tasks_from: faults}
      vars:
        incident_report_faults: "{{ test_faults | default([]) }}"
        incident_report_handoffs: "{{ test_handoffs | default([]) }}"

- name: Verify | nothing to verify
  hosts: all
  gather_facts: false
  tags: [verify]
  tasks:
    - name: Verify | done
      ansible.builtin.assert: {that: true, quiet: true}
"""


@pytest.fixture
def reporting(project: Path) -> list[str]:
    (project / "playbooks" / "report.yml").write_text(REPORTING_RUNBOOK)
    catalog = yaml.safe_load((project / "runbooks.yml").read_text())
    catalog["runbooks"].append({"id": "p1-report-test", "severity": "P1", "title": "Report Test",
                                "scenario": "Reports", "causes": ["Any"], "quick_actions": ["None"],
                                "playbook": "playbooks/report.yml"})
    (project / "runbooks.yml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    return ["p1-report-test", "-i", str(project / "inventory"), "-l", "local-1"]


def test_a_handed_off_fault_is_recorded_as_handed_off(run, reporting):
    given = {"test_faults": ["n plus one"],
             "test_handoffs": [{"fault": "n plus one", "detail": "GET /courses: 51 queries"}]}
    result = run(*reporting, "-e", json.dumps(given), "--json")
    data = json.loads(result.stdout)
    assert data["run"]["faults"] == {"local-1": ["n plus one"]}
    assert data["outcome"] == "handed off", result.output
    assert "local-1: n plus one: GET /courses: 51 queries" in data["message"]


def test_a_string_is_refused_and_no_fault_is_recorded(run, reporting, home):
    result = run(*reporting, "-e", "test_faults=disk", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["outcome"] == "failed" and data["run"]["faults"] == {}
    assert "incident_report_faults must be a list of short fault names" in data["message"]
    assert "got 'disk'" in data["message"]
    assert Store(home).incidents()[0]["detected_at"] is None  # no fault "d", "i", "s", "k"


def test_plain_ansible_playbook_says_what_was_found(project):
    out = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(project / "inventory"), "-l", "local-1",
         str(project / "playbooks" / "noop.yml")],
        cwd=project, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Detect | no fault found on local-1" in out.stdout
