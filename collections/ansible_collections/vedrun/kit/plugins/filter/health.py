"""Filter: the verdict of a health check, from what vedrun.kit.stack_health gathered."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: health_failures
short_description: The failed checks of a health probe, each with what the service said
description:
  - A check is failed only when it is not ok; a slow check (the probe itself got no answer in
    time) is ok and only reported. An empty set of checks is a failure of its own, since a
    health check that checked nothing never reports a healthy host.
options:
  _input: {description: "The checks: {name: {ok, slow, detail}}.", type: dict, required: true}
"""

EXAMPLES = r"""
failed: "{{ probe.checks | vedrun.kit.health_failures }}"
"""

RETURN = r"""
_value: {description: "'name (detail)' for each failed check.", type: list}
"""


def health_failures(checks):
    if not isinstance(checks, dict):
        raise AnsibleFilterError("expected the checks of vedrun.kit.stack_health, got "
                                 f"{type(checks).__name__}")
    if not checks:
        return ["no check (every check is disabled)"]
    return [f"{name} ({check.get('detail', '')})" for name, check in checks.items() if not check.get("ok")]


class FilterModule:
    def filters(self):
        return {"health_failures": health_failures}
