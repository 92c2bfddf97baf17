#!/usr/bin/python
"""Ansible module: the payment-failure runbook's changes at Stripe: re-enable a confirmed webhook
endpoint, resend events to it oldest first. Nothing else: no payment is ever created, captured,
refunded or cancelled, no key is rolled, no endpoint created or moved."""

from __future__ import annotations

DOCUMENTATION = r"""
module: stripe_fix
short_description: Re-enable a webhook endpoint and resend events to it, oldest first
description:
  - >-
    Re-enables the endpoint C(enable_endpoint) (C(disabled=false)) when it is disabled, then
    resends each event of C(resend) to C(endpoint) in the order given (C(POST
    /v1/events/<id>/retry), as `stripe events resend` does). A resend only asks Stripe to deliver
    an event again: what the API records from it is its own webhook handler's doing, which records
    each event once.
  - >-
    The key travels in the Authorization header only. In check mode it says what it would do.
    Ids that are not Stripe ids (evt_..., we_...) are refused before anything is sent.
options:
  stripe_api_base: {description: Stripe's API., type: str, required: true}
  key:
    description: The key to act with (the vault's); '' takes the API's own from its container, on the host.
    type: str
    default: ""
    no_log: true
  api_container: {description: The API's container (for its key when C(key) is '')., type: str, default: ""}
  key_env: {description: The API's variable of the key., type: str, default: STRIPE_SECRET_KEY}
  endpoint: {description: The endpoint the events are resent to., type: str, default: ""}
  enable_endpoint: {description: The endpoint to re-enable ('' for none)., type: str, default: ""}
  resend: {description: Event ids, oldest first., type: list, elements: str, default: []}
  timeout: {description: Seconds per request., type: float, default: 10}
"""

RETURN = r"""
enabled:
  description: The endpoint was re-enabled (or would be, in check mode).
  type: bool
  returned: always
resent:
  description: "[{id, ok, error}] in the order sent"
  type: list
  returned: always
failed_resends: {description: How many resends Stripe refused., type: int, returned: always}
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import deploys, docker_cli, stripe_api

EVENT = re.compile(r"evt_[A-Za-z0-9_]{1,200}")
ENDPOINT = re.compile(r"we_[A-Za-z0-9_]{1,200}")


def running_key(module):
    """The API's own key, read from its container on the host (the vault has none): never returned."""
    p = module.params
    if not p["api_container"]:
        module.fail_json(msg="no key given and no API container to take its key from; nothing was sent")
    try:
        container = docker_cli.inspect(p["api_container"]) or {}
    except docker_cli.DockerError as exc:
        module.fail_json(msg=str(exc))
    value = deploys.env_of(container).get(p["key_env"], "").strip()
    if value:
        return value
    module.fail_json(msg=f"no key given and {p['api_container']} has no {p['key_env']}; nothing was sent")


def main():
    module = AnsibleModule(
        argument_spec={
            "stripe_api_base": {"type": "str", "required": True},
            "key": {"type": "str", "default": "", "no_log": True},
            "api_container": {"type": "str", "default": ""},
            "key_env": {"type": "str", "default": "STRIPE_SECRET_KEY", "no_log": False},
            "endpoint": {"type": "str", "default": ""},
            "enable_endpoint": {"type": "str", "default": ""},
            "resend": {"type": "list", "elements": "str", "default": []},
            "timeout": {"type": "float", "default": 10},
        },
        supports_check_mode=True,
    )
    p = module.params
    bad = [e for e in p["resend"] if not EVENT.fullmatch(e)]
    bad += [w for w in (p["endpoint"], p["enable_endpoint"]) if w and not ENDPOINT.fullmatch(w)]
    if bad:
        module.fail_json(msg=f"not Stripe ids: {', '.join(map(repr, bad[:5]))}; nothing was sent")
    if p["resend"] and not p["endpoint"]:
        module.fail_json(msg="events to resend but no endpoint to resend them to; nothing was sent")
    key = p["key"].strip() or running_key(module)
    client = stripe_api.Stripe(p["stripe_api_base"], key, p["timeout"])
    enabled = False
    if p["enable_endpoint"]:
        try:
            status = client.get("/v1/webhook_endpoints/" + p["enable_endpoint"]).get("status")
            if status != "enabled":
                if not module.check_mode:
                    client.post("/v1/webhook_endpoints/" + p["enable_endpoint"], {"disabled": "false"})
                enabled = True
        except stripe_api.StripeError as exc:
            module.fail_json(
                msg=f"Stripe refused to re-enable {p['enable_endpoint']} ({exc.status}): {exc.message}"
            )
    resent = []
    for event in p["resend"]:
        if module.check_mode:
            resent.append({"id": event, "ok": None, "error": ""})
            continue
        try:
            client.post(f"/v1/events/{event}/retry", {"webhook_endpoint": p["endpoint"]})
            resent.append({"id": event, "ok": True, "error": ""})
        except stripe_api.StripeError as exc:
            resent.append({"id": event, "ok": False, "error": f"{exc.status}: {exc.message}"[:300]})
    failed = sum(1 for r in resent if r["ok"] is False)
    changed = enabled or any(r["ok"] is not False for r in resent)
    if failed and failed == len(resent):
        module.fail_json(
            msg=f"Stripe refused every resend to {p['endpoint']}: {resent[0]['error']}",
            enabled=enabled,
            resent=resent,
            failed_resends=failed,
            changed=enabled,
        )
    module.exit_json(changed=changed, enabled=enabled, resent=resent, failed_resends=failed)


if __name__ == "__main__":
    main()
