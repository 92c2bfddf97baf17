#!/usr/bin/python
"""Ansible module: a container's next environment, made on the host from its newest deploy."""

from __future__ import annotations

DOCUMENTATION = r"""
module: env_update
short_description: Write a new env file from the newest deploy's, with some variables set or removed
description:
  - >-
    Reads the env file of the newest entry of a deploy history (roles/container_deploy), sets
    and removes the given variables, and writes the result as a new env file (0600, named by its
    content as container_deploy names them) next to it. Returns the newest spec with the new
    file in it, ready for container_deploy: the values stay on the host.
  - >-
    Changes nothing when every variable already has its value (C(changed) false, the newest
    spec returned as it is). Supports check mode (nothing written).
options:
  history: {description: The container's deploy history on the host., type: path, required: true}
  set: {description: Variables to set (values are never returned)., type: dict, default: {}, no_log: true}
  unset: {description: Variables to remove., type: list, elements: str, default: []}
"""

RETURN = r"""
spec: {description: The newest spec with the new env_file (no values)., type: dict, returned: always}
names: {description: The variables whose value changed, were added or removed., type: list, returned: always}
env_file: {description: The env file the spec names., type: str, returned: always}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import deploys, env_file


def main():
    module = AnsibleModule(argument_spec={
        "history": {"type": "path", "required": True},
        "set": {"type": "dict", "default": {}, "no_log": True},
        "unset": {"type": "list", "elements": "str", "default": []},
    }, supports_check_mode=True)
    entries, problem = deploys.read(module.params["history"])
    if problem or not entries:
        module.fail_json(msg=problem or f"no deploy in {module.params['history']}: nothing to take the "
                                        "environment from (deploy the container first)")
    spec = dict(entries[-1]["spec"])
    base = spec.get("env_file") or ""
    if not base:
        module.fail_json(msg=f"the newest deploy in {module.params['history']} has no env file: its "
                             "environment is not on this host (redeploy it with its environment)")
    try:
        env = env_file.read(base)
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        module.fail_json(msg=f"cannot read the newest deploy's env file {base}: {why}")
    wanted = dict(env)
    for key, value in (module.params["set"] or {}).items():
        wanted[str(key)] = "" if value is None else str(value)
    for key in module.params["unset"]:
        wanted.pop(key, None)
    names = sorted(k for k in set(env) | set(wanted) if env.get(k) != wanted.get(k))
    if not names:
        module.exit_json(changed=False, spec=spec, names=[], env_file=base)
    try:
        text = env_file.render(wanted)
    except ValueError as exc:
        module.fail_json(msg=f"cannot write the environment: {exc}")
    name = spec.get("name") or os.path.basename(base).rsplit("-", 1)[0]
    path = os.path.join(os.path.dirname(base), f"{name}-{env_file.content_name(wanted)}.env")
    if not module.check_mode and not os.path.exists(path):
        env_file.write_private(path, text)
    spec["env_file"] = path
    module.exit_json(changed=True, spec=spec, names=names, env_file=path)


if __name__ == "__main__":
    main()
