"""The question before a destructive step, asked once by the engine through a `confirm`
callback: yes at a terminal, no, nobody at a terminal, and an answer bound to the object shown.

Real ansible runs of a small runbook written here: it asks to replace something with
`test_object`, and goes ahead only when `test_answer` is exactly that object.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from vedrun.cli import cli
from vedrun.engine import Engine
from vedrun.inventory import Where
from vedrun.runs import RunRequest
from vedrun.store import Store

pytestmark = pytest.mark.ansible
OBJECT = "backup 2026-11-26 #2"  # a space and a '#': the printed command must quote it

ASKING_RUNBOOK = """---
- name: Detect | a fault to fix
  hosts: all
  gather_facts: false
  tags: [detect]
  tasks:
    - name: Detect | report the fault
      ansible.builtin.include_role:
        name: incident_report
        tasks_from: faults.yml
      vars:
        incident_report_faults: [replace me]

- name: Mitigate | replace it, once confirmed
  hosts: all
  gather_facts: false
  tags: [mitigate]
  tasks:
    - name: Mitigate | ask, bound to the object shown
      ansible.builtin.set_stats:
        data:
          vedrun_confirmations: >-
            {{ {inventory_hostname: {'variable': 'test_answer', 'value': test_object,
                                     'question': 'Replace it with ' ~ test_object ~ '?'}} }}
      when: test_answer | default('') | string != test_object
    - name: Mitigate | stop until that object is confirmed
      ansible.builtin.fail:
        msg: replacing needs -e test_answer=<the object shown>
      when: test_answer | default('') | string != test_object
    - name: Mitigate | replace it (keep the answer and the runbook vedrun passed)
      ansible.builtin.copy:
        content: "{{ {'answer': test_answer, 'runbook': vedrun_runbook} | to_json }}"
        dest: "{{ fault_dir }}/{{ inventory_hostname }}.done"
        mode: "0600"

- name: Verify | it was replaced
  hosts: all
  gather_facts: false
  tags: [verify]
  tasks:
    - name: Verify | look
      ansible.builtin.stat:
        path: "{{ fault_dir }}/{{ inventory_hostname }}.done"
      register: __test_done
    - name: Verify | it is there
      ansible.builtin.assert:
        that: __test_done.stat.exists
"""


@pytest.fixture
def asking(project):
    (project / "playbooks" / "ask.yml").write_text(ASKING_RUNBOOK)
    catalog = yaml.safe_load((project / "runbooks.yml").read_text())
    catalog["runbooks"].append({"id": "p1-ask-value", "severity": "P1", "title": "Ask Value",
                                "scenario": "Asks first", "causes": ["Old object"],
                                "quick_actions": ["Replace it"], "specialist": "Slack: #test",
                                "playbook": "playbooks/ask.yml"})
    (project / "runbooks.yml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    return ["p1-ask-value", "-i", str(project / "inventory"), "-l", "local-1",
            "-e", json.dumps({"test_object": OBJECT})]


def vedrun(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def _done(fault_dir: Path) -> dict | None:
    path = fault_dir / "local-1.done"
    return json.loads(path.read_text()) if path.exists() else None


def test_without_a_terminal_it_stops_and_prints_the_bound_answer(env, asking, fault_dir, home):
    asked = vedrun(*asking)
    assert asked.exit_code == 7, asked.output
    assert "AWAITING CONFIRMATION" in asked.output and f"local-1: Replace it with {OBJECT}?" in asked.output
    line = next(ln for ln in asked.output.splitlines() if "To go ahead: " in ln)
    assert line.endswith(f"--limit local-1 -e test_answer={shlex.quote(OBJECT)}"), line
    assert _done(fault_dir) is None  # nothing destructive happened
    # the printed command is the one that goes ahead, in the same incident
    command = shlex.split(line.split("To go ahead: ", 1)[1])
    assert command[0] == "vedrun"
    done = vedrun(*command[1:], "-e", json.dumps({"test_object": OBJECT}), "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["outcome"] == "recovered"
    assert _done(fault_dir)["answer"] == OBJECT
    runs = Store(home).runs()
    assert [r["outcome"] for r in runs] == ["awaiting confirmation", "recovered"]
    assert runs[0]["incident_id"] == runs[1]["incident_id"]


def test_a_yes_at_the_terminal_re_runs_with_the_value_shown(env, asking, fault_dir, home, monkeypatch):
    monkeypatch.setattr("vedrun.cli.terminal.can_ask", lambda: True)
    result = vedrun(*asking, input="y\n")
    assert result.exit_code == 0, result.output
    assert f"local-1: Replace it with {OBJECT}?" in result.output and "Go ahead? [y/N]" in result.output
    assert "RECOVERED" in result.output
    done = _done(fault_dir)
    assert done["answer"] == OBJECT  # the re-run's extra var is the value, not true
    assert done["runbook"] == {"id": "p1-ask-value", "severity": "P1", "title": "Ask Value",
                               "scenario": "Asks first", "causes": ["Old object"],
                               "quick_actions": ["Replace it"], "specialist": "Slack: #test"}
    runs = Store(home).runs()
    assert [r["outcome"] for r in runs] == ["awaiting confirmation", "recovered"]


def test_a_no_at_the_terminal_changes_nothing_more(env, asking, fault_dir, home, monkeypatch):
    monkeypatch.setattr("vedrun.cli.terminal.can_ask", lambda: True)
    result = vedrun(*asking, input="n\n")
    assert result.exit_code == 7, result.output
    assert "Not confirmed: nothing more was changed; the incident stays open." in result.output
    assert _done(fault_dir) is None
    assert [r["outcome"] for r in Store(home).runs()] == ["awaiting confirmation"]
    assert Store(home).incidents()[0]["status"] == "open"


def test_json_output_never_asks(env, asking, fault_dir, monkeypatch):
    monkeypatch.setattr("vedrun.cli.terminal.can_ask", lambda: True)
    result = vedrun(*asking, "--json")
    assert result.exit_code == 7, result.output
    assert "Go ahead?" not in result.output
    assert json.loads(result.stdout)["outcome"] == "awaiting confirmation"


def test_the_engine_asks_its_confirm_callback(env, asking, project, fault_dir, home):
    engine = Engine(project, home)
    asked = []

    def confirm(questions):
        asked.append([(q.host, q.variable, q.value) for q in questions])
        return len(asked) == 1  # yes once; a second question would be refused

    where = Where(str(project / "inventory"), "local-1")
    report = engine.runs.run(RunRequest("p1-ask-value", where, extravars={"test_object": OBJECT}),
                             confirm=confirm)
    assert asked == [[("local-1", "test_answer", OBJECT)]]
    assert report.outcome == "recovered" and report.exit_code == 0
    assert _done(fault_dir)["answer"] == OBJECT
