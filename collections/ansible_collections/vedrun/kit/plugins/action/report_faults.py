"""Action plugin: publish what the detect phase found on this host, in one task.

Checks its inputs, publishes them for vedrun (`ansible_stats`, as set_stats would, aggregate and
not per host: vedrun_faults {host: [fault, ...]}, and vedrun_handoffs {host: [{fault, detail}]}
when the runbook hands some to a person) and says what it found, as a debug task would. It
replaces an argument check, an assert, a set_stats and a debug: each task costs a fork and a
round of templating on the controller, and every runbook's detect phase (and every healthy
run) ends with this step. Runs on the controller only; nothing is sent to the host.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
action: report_faults
short_description: Publish the faults found on this host for vedrun and say what was found
description:
  - "Publishes set_stats vedrun_faults {inventory_hostname -> [fault, ...]} (and vedrun_handoffs
    {inventory_hostname -> [{fault, detail}]}) and shows 'Detect | faults on HOST: a, b' or
    'Detect | no fault found on HOST'. Changes nothing. Called by the role incident_report
    (tasks_from faults), which is what runbooks use."
options:
  faults:
    description: Short names of the faults found on this host; [] means no fault found.
    type: list
    elements: str
    default: []
  handoffs:
    description:
      - The faults the runbook hands to a person instead of fixing them, each {fault, detail};
        every one must be among C(faults).
    type: list
    elements: dict
    default: []
"""


def _is_list(value) -> bool:
    return isinstance(value, (list, tuple))


def input_problem(faults, handoffs) -> str | None:
    """Why these cannot be published, or None. `-e` passes strings, and a string is iterable: a
    fault named "d", "i", "s", "k" from "disk" must never reach an incident record."""
    # membership in the list, not a set: a hand-off's fault may be any value (a list, a dict)
    # and must be refused like any other, not raise TypeError
    if (_is_list(faults) and all(isinstance(f, str) and f for f in faults)
            and _is_list(handoffs)
            and all(isinstance(h, Mapping) and h.get("fault") in faults for h in handoffs)):
        return None
    handed = [h.get("fault") if isinstance(h, Mapping) else h for h in handoffs] \
        if _is_list(handoffs) else handoffs
    return ("incident_report_faults must be a list of short fault names, and each hand-off "
            "(incident_report_handoffs) a {fault, detail} whose fault is one of them; got "
            f"{faults!r:.200} and {handed!r:.200}")


def report(host: str, faults: list[str], handoffs: list[dict]) -> dict:
    """What the task returns: the message shown and the stats published."""
    data = {"vedrun_faults": {host: list(faults)}}
    if handoffs:
        data["vedrun_handoffs"] = {host: [dict(h) for h in handoffs]}
    if faults:
        msg = f"Detect | faults on {host}: {', '.join(faults)}"
        if handoffs:
            names = list(dict.fromkeys(str(h["fault"]) for h in handoffs))
            msg += f" (handed off to a person: {', '.join(names)})"
    else:
        msg = f"Detect | no fault found on {host}"
    # shown by ansible-playbook's default output as a debug task's message is
    return {"changed": False, "msg": msg, "_ansible_verbose_always": True,
            "ansible_stats": {"data": data, "per_host": False, "aggregate": True}}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("faults", "handoffs"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        faults = self._task.args.get("faults", [])
        handoffs = self._task.args.get("handoffs", [])
        problem = input_problem(faults, handoffs)
        if problem:
            raise AnsibleActionFail(problem)
        result.update(report(str(task_vars.get("inventory_hostname", "")), list(faults),
                             list(handoffs)))
        return result
