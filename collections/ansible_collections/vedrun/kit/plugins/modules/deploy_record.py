#!/usr/bin/python
"""Ansible module: add a deploy to the container's deploy history on the host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_record
short_description: Append a deploy to a deploy history file, once
description:
  - The history is a JSON list, newest last, root-only (0600). An entry is added only when the
    spec differs from the newest entry's, so that running the same deploy again adds nothing.
  - The spec must not hold the environment (C(env)); it names an env file on the host instead
    (C(env_file)), so that the history can be read back to the controller without a secret.
options:
  path: {description: The history file., type: path, required: true}
  image: {description: The deployed image., type: str, required: true}
  reason: {description: Why (deploy, restore, rollback from IMAGE)., type: str, default: deploy}
  spec: {description: The container's declared configuration, without env., type: dict, required: true}
"""

import datetime
import json
import os

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={
        "path": {"type": "path", "required": True},
        "image": {"type": "str", "required": True},
        "reason": {"type": "str", "default": "deploy"},
        "spec": {"type": "dict", "required": True},
    }, supports_check_mode=True)
    params = module.params
    if "env" in params["spec"]:
        module.fail_json(msg="the spec holds its environment inline; pass it as env_file (a file on "
                             "the host) so that the deploy history keeps no secret")
    entries = []
    if os.path.exists(params["path"]):
        try:
            with open(params["path"], encoding="utf-8") as handle:
                entries = json.load(handle)
        except (OSError, ValueError) as exc:
            module.fail_json(msg=f"cannot read the deploy history {params['path']}: {exc}")
    if entries and entries[-1].get("spec") == params["spec"]:
        module.exit_json(changed=False, entries=len(entries))
    if module.check_mode:
        module.exit_json(changed=True, entries=len(entries) + 1)
    entries.append({"image": params["image"], "reason": params["reason"], "spec": params["spec"],
                    "deployed_at": datetime.datetime.now(datetime.timezone.utc).isoformat()})
    folder = os.path.dirname(params["path"])
    os.makedirs(folder, mode=0o700, exist_ok=True)
    tmp = f"{params['path']}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(entries, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, params["path"])
    module.exit_json(changed=True, entries=len(entries))


if __name__ == "__main__":
    main()
