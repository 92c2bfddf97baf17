"""Helpers for the kit's tests: run one task of the kit for real with ansible-playbook on this
machine (local connection), the way a runbook runs it on a VPS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def run_task(tmp_path):
    """run_task(task_dict, **vars) -> (rc, result of the task as registered, stdout)."""

    def run(task: dict, extra_vars: dict | None = None, check: bool = False):
        task = {"name": "the task under test", **task, "register": "under_test"}

        def save(value):
            return {"name": "keep the result", "ansible.builtin.copy": {
                "content": "{{ " + value + " | to_json }}", "dest": str(tmp_path / "result.json"),
                "mode": "0600"}, "check_mode": False}

        # a failure is kept too (rescue), so that a test can read the module's own message
        block = {"name": "the task and its result", "block": [task, save("under_test")],
                 "rescue": [save("ansible_failed_result")]}
        play = [{"name": "kit test", "hosts": "localhost", "connection": "local", "gather_facts": False,
                 "vars": {"ansible_python_interpreter": sys.executable}, "tasks": [block]}]
        book = tmp_path / "play.yml"
        book.write_text(yaml.safe_dump(play, sort_keys=False))
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(book)]
        if check:
            argv.append("--check")
        for key, value in (extra_vars or {}).items():
            argv += ["-e", json.dumps({key: value})]
        env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
                              check=False)
        path = tmp_path / "result.json"
        result = json.loads(path.read_text()) if path.exists() else None
        return proc.returncode, result, proc.stdout + proc.stderr

    return run
