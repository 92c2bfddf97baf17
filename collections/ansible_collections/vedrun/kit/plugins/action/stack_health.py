"""Action plugin: the health check of one host in one task.

Checks the inputs on the controller, runs the probe module (vedrun.kit.stack_health) on the host,
and from its checks makes the verdict: a one-line summary (`msg`), the published results
(`ansible_stats`, as set_stats would: vedrun_health, and vedrun_health_passed when every check
is ok) and, with `fail_on_unhealthy`, the failure naming each failed check with what the service
said. One task instead of an assert, the probe, a set_stats, a debug and a fail: each task costs
a fork and a round of templating per host on the controller, which is most of a fleet check's time.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.vedrun.kit.plugins.filter.health import health_failures

DOCUMENTATION = r"""
action: stack_health
short_description: One host's health in one task (inputs checked, probe, verdict, published results)
description:
  - Takes the options of the module vedrun.kit.stack_health, and two of its own.
options:
  fail_on_unhealthy:
    description: Fail the host when a check failed (verify phase).
    type: bool
    default: false
  publish:
    description: Publish the checks as set_stats would (vedrun_health, vedrun_health_passed).
    type: bool
    default: false
"""

_STRINGS = ("api_url", "postgres_container", "redis_container")
_LISTS = ("containers", "http_checks")
_CHECKS = ("api_url", "postgres_container", "redis_container", "containers", "http_checks")


def input_problem(args: dict) -> str | None:
    """Why these inputs cannot make a health check, or None. A check that checks nothing must
    never report a healthy host; `-e health_containers=[]` passes the string "[]"."""
    bad = [name for name in _STRINGS if not isinstance(args.get(name, ""), str)]
    user = args.get("postgres_user", "postgres")
    if not isinstance(user, str) or not user:
        bad.append("postgres_user")
    bad += [name for name in _LISTS if isinstance(args.get(name, []), (str, bytes, dict))
            or not isinstance(args.get(name, []), (list, tuple))]
    enabled = [name for name in _CHECKS if args.get(name)]
    if not bad and enabled:
        return None
    got = repr(args.get("containers", []))[:80]
    what = f"wrong: {', '.join(bad)}" if bad else "every check is disabled"
    return (f"health: {what}. api_url, postgres_container, redis_container must be strings, "
            "postgres_user a non-empty string, containers and http_checks lists (role variables "
            "health_*; on the command line as JSON: -e '{\"health_containers\": []}'), and at least "
            f"one check enabled. Got containers={got}.")


def summary(host: str, checks: dict) -> str:
    """`host: api ok (200 in 0.01 s); postgres FAILED (...)`, one line."""
    parts = [f"{name} {'ok' if check.get('ok') else 'FAILED'}{' (slow)' if check.get('slow') else ''}"
             f" ({check.get('detail', '')})" for name, check in checks.items()]
    return f"{host}: " + "; ".join(parts)


def verdict(host: str, checks: dict, *, fail: bool, publish: bool) -> dict:
    """What the task returns besides the probe's own result."""
    failed = health_failures(checks)
    # shown by ansible-playbook's default output like a debug task's message (a health check run
    # without vedrun must still say what it found, not only "ok")
    out = {"msg": summary(host, checks), "unhealthy": failed, "_ansible_verbose_always": True}
    if publish:
        out["ansible_stats"] = {"data": {"vedrun_health": {host: checks},
                                         "vedrun_health_passed": {} if failed else {host: True}},
                                "per_host": False, "aggregate": True}
    if fail and failed:
        out["failed"] = True
        out["msg"] = f"{host} is unhealthy: {', '.join(failed)}"
    return out


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        fail = boolean(args.pop("fail_on_unhealthy", False), strict=True)
        publish = boolean(args.pop("publish", False), strict=True)
        problem = input_problem(args)
        if problem:
            raise AnsibleActionFail(problem)
        probe = self._execute_module(module_name="vedrun.kit.stack_health", module_args=args,
                                     task_vars=task_vars)
        result.update(probe)
        if probe.get("failed") or not isinstance(probe.get("checks"), dict):
            return result
        host = str(task_vars.get("inventory_hostname", ""))
        result.update(verdict(host, probe["checks"], fail=fail, publish=publish))
        return result
