"""Action plugin: keep evidence in the incident folder on the controller, in one task.

Files are written by the controller itself (no module is sent anywhere to write them), under
<dir>/<inventory_hostname>/<name>, folder 0700 and files 0600. With `containers`, the state
(without its environment) and the last log lines of each container are gathered on the host
first, by one call of vedrun.kit.container_info per container. Evidence is not a change to the
system: the task reports changed=false, and it also writes in check mode.
"""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
action: keep_evidence
short_description: Save evidence into the incident folder on the controller
options:
  files: {description: "name -> text to save (a dict), or a list of {name, content}", type: raw, default: {}}
  containers:
    description: >-
      Containers whose state (without its environment) and last log lines are kept, as a dict
      label -> container name (files <label>-inspect.json and <label>-logs.txt).
    type: dict
    default: {}
  log_lines: {description: Log lines kept per container., type: int, default: 200}
  dir: {description: "The incident folder; default vedrun_evidence_dir; empty keeps nothing.", type: str}
"""


def _files(arg):
    if isinstance(arg, dict):
        return [(str(k), v) for k, v in arg.items()]
    if isinstance(arg, list):
        return [(str(item.get("name", "")), item.get("content", "")) for item in arg]
    raise AnsibleActionFail("keep_evidence: files must be a dict of name -> text or a list of "
                            "{name, content}")


def _check_name(name):
    if not name or "/" in name or name in (".", "..") or "\x00" in name:
        raise AnsibleActionFail(f"keep_evidence: {name!r} is not a plain file name")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        task_vars = task_vars or {}
        folder = args.get("dir")
        if folder is None:
            folder = self._templar.template(task_vars.get("vedrun_evidence_dir", ""))
        folder = to_text(folder or "")
        result.update(changed=False, kept=[])
        if not folder:
            result["skipped_reason"] = "no evidence folder (a run outside vedrun)"
            return result
        if not os.path.isabs(folder):
            raise AnsibleActionFail(f"keep_evidence: the evidence folder must be absolute, got {folder!r}")
        files = _files(args.get("files") or {})
        containers = args.get("containers") or {}
        if not isinstance(containers, dict):
            raise AnsibleActionFail("keep_evidence: containers must be a dict of label -> container name")
        for label, container in containers.items():
            files += self._container_files(str(label), str(container), int(args.get("log_lines", 200)),
                                           task_vars)
        target = os.path.join(folder, task_vars.get("inventory_hostname", "localhost"))
        os.makedirs(target, mode=0o700, exist_ok=True)
        for name, content in files:
            _check_name(name)
            path = os.path.join(target, name)
            text = content if isinstance(content, str) else json.dumps(content, indent=2, default=str)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text if text.endswith("\n") else text + "\n")
            result["kept"].append(name)
        return result

    def _container_files(self, label, name, lines, task_vars):
        answer = self._execute_module(module_name="vedrun.kit.container_info",
                                      module_args={"name": name, "full": True, "logs": lines},
                                      task_vars=task_vars)
        if answer.get("failed"):
            return [(f"{label}-inspect.json", f"(could not inspect {name}: {answer.get('msg', '')})")]
        if not answer.get("exists"):
            return [(f"{label}-inspect.json", f"({name} does not exist)")]
        return [(f"{label}-inspect.json", answer.get("container", {})),
                (f"{label}-logs.txt", answer.get("logs", ""))]
