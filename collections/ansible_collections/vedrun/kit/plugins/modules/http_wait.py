#!/usr/bin/python
"""Ansible module: wait on the host until an HTTP endpoint answers, or say what it last said."""

from __future__ import annotations

DOCUMENTATION = r"""
module: http_wait
short_description: Wait until an HTTP endpoint answers with an expected status
description:
  - Polls from the host in one task (no per-retry round trip). Succeeds after C(settle)
    expected answers in a row; on timeout it fails with the endpoint's last answer (status,
    body excerpt, or the connection error) and how long it waited.
  - With C(fail=false) it reports instead of failing (C(ok) false).
options:
  url: {description: The endpoint., type: str, required: true}
  timeout: {description: Seconds to wait in all., type: float, default: 60}
  expect: {description: Statuses that count as answered., type: list, elements: int, default: [200]}
  interval: {description: Seconds between requests., type: float, default: 1}
  request_timeout: {description: Seconds per request., type: float, default: 5}
  settle: {description: Expected answers in a row needed., type: int, default: 1}
  fail: {description: Fail the task when it gives up., type: bool, default: true}
  what: {description: What is awaited, for the message., type: str, default: the endpoint}
"""

RETURN = r"""
ok: {description: The endpoint answered as expected., type: bool, returned: always}
seconds: {description: Time waited., type: float, returned: always}
attempts: {description: Requests made., type: int, returned: always}
last: {description: "The last answer: status, reason, seconds, body excerpt.", type: dict, returned: always}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import http_probe


def main():
    module = AnsibleModule(argument_spec={
        "url": {"type": "str", "required": True},
        "timeout": {"type": "float", "default": 60},
        "expect": {"type": "list", "elements": "int", "default": [200]},
        "interval": {"type": "float", "default": 1},
        "request_timeout": {"type": "float", "default": 5},
        "settle": {"type": "int", "default": 1},
        "fail": {"type": "bool", "default": True},
        "what": {"type": "str", "default": "the endpoint"},
    }, supports_check_mode=True)
    params = module.params
    if module.check_mode:
        module.exit_json(changed=False, skipped=True, ok=True, msg="check mode: nothing to wait for")
    result = http_probe.wait(params["url"], params["timeout"], tuple(params["expect"]),
                             params["interval"], params["request_timeout"], params["settle"])
    if result["ok"] or not params["fail"]:
        module.exit_json(changed=False, **result)
    module.fail_json(msg=(f"{params['what']} ({params['url']}) did not answer "
                          f"{'/'.join(map(str, params['expect']))} within {params['timeout']:g} s "
                          f"({result['attempts']} requests); it last answered: "
                          f"{http_probe.describe(result['last'])}"), **result)


if __name__ == "__main__":
    main()
