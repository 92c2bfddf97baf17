"""The remediation-off proof of the drills (molecule/shared/remediation-off.yml, the side_effect
between prepare and converge): which scenarios carry it, and that the proof itself can fail. The
side_effect playbook runs here for real, with ansible-playbook on the controller, against small
stand-in runbooks in a temporary project (no lab, no Docker): the real runbooks' failures are
proved by the drills themselves in `make drills`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from support import REPO, VENV_BIN

SIDE_EFFECT = "../shared/remediation-off.yml"
# the drills whose runbook, with mitigate and resolve skipped, must fail in its verify; the others
# are hand-offs (an N+1 is code) or prove their fix in their own verify.yml
PROVED = (["p0-database-failure-pool-exhausted", "p0-memory-leak-listeners"]
          + [f"p1-login-failure-{f}" for f in ("secret-removed", "secret-wrong", "redis-stopped",
                                                  "redis-full", "cors-wrong")]
          + [f"p1-slow-queries-{f}" for f in ("missing-index", "stale-statistics", "invalid-index",
                                                 "runaway-query")]
          + [f"p1-payment-failure-{f}" for f in ("key-invalid", "webhook-secret-wrong", "endpoint-disabled",
                                                    "db-rollback")])


def scenario(name: str) -> dict:
    return yaml.safe_load((REPO / "molecule" / name / "molecule.yml").read_text())


def test_the_test_sequence_runs_the_proof_after_prepare_and_before_converge():
    sequence = yaml.safe_load((REPO / "molecule/shared/base.yml").read_text())["scenario"]["test_sequence"]
    assert sequence.index("prepare") < sequence.index("side_effect") < sequence.index("converge")


@pytest.mark.parametrize("name", PROVED)
def test_each_proved_drill_names_the_proof_and_its_runbook_is_known_to_it(name):
    playbooks = scenario(name)["ansible"]["playbooks"]
    assert playbooks.get("side_effect") == SIDE_EFFECT, name
    runbook = Path(playbooks["converge"]).stem
    proof = yaml.safe_load((REPO / "molecule/shared/remediation-off.yml").read_text())
    known = proof[0]["vars"]["__off_runbooks"]
    assert runbook in known and known[runbook]["expect"], (name, runbook)


def test_no_other_drill_names_a_side_effect():
    # a side_effect that is not the proof would run between the fault and the runbook unnoticed
    for path in sorted((REPO / "molecule").glob("*/molecule.yml")):
        playbooks = (yaml.safe_load(path.read_text()).get("ansible") or {}).get("playbooks") or {}
        side = playbooks.get("side_effect")
        assert side in (None, SIDE_EFFECT) and (side is None) == (path.parent.name not in PROVED), path


RUNBOOK = """\
- name: a stand-in runbook
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Mitigate | must be skipped by the proof
      ansible.builtin.fail: {{msg: the proof ran mitigate}}
      tags: [mitigate]
    - name: Verify | the extra variables reached the run
      ansible.builtin.assert:
        that: [vedrun_evidence_dir is defined, login_failure_verify_seconds | int == 3]
    - name: Verify | the stand-in verify
      ansible.builtin.fail: {{msg: "{verify}"}}
      when: {fails}
"""


def run_proof(tmp_path: Path, verify: str, fails: bool) -> subprocess.CompletedProcess:
    project = tmp_path / "project"
    (project / "playbooks").mkdir(parents=True)
    (project / "inventory").mkdir()
    (project / "inventory/lab").write_text("localhost ansible_connection=local\n")
    (project / "playbooks/p1-login-failure.yml").write_text(RUNBOOK.format(verify=verify, fails=fails))
    env = {**os.environ, "MOLECULE_SCENARIO_NAME": "p1-login-failure-cors-wrong",
           "MOLECULE_PROJECT_DIRECTORY": str(project), "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "eph"),
           "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_PYTHON_INTERPRETER": str(VENV_BIN / "python")}
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           str(REPO / "molecule/shared/remediation-off.yml")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_proof_passes_when_the_runbook_fails_in_its_verify_in_its_own_words(tmp_path):
    result = run_proof(tmp_path, "Users still cannot log in on lab-vps: cors", fails=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Remediation off: p1-login-failure failed in its verify" in result.stdout


def test_the_proof_fails_when_the_runbook_passes_without_its_fix(tmp_path):
    result = run_proof(tmp_path, "unused", fails=False)
    assert result.returncode != 0
    assert "without failing: the drill would pass without the fix" in result.stdout


def test_the_proof_fails_when_the_runbook_fails_for_another_reason(tmp_path):
    result = run_proof(tmp_path, "lab-vps is unreachable", fails=True)
    assert result.returncode != 0
    assert "but not with 'Users still cannot log in on lab-vps'" in result.stdout
    assert "lab-vps is unreachable" in result.stdout  # the runbook's own last lines are shown
