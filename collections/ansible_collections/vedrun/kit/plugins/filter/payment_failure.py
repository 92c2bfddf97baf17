"""Filters: the decisions of the p1-payment-failure runbook (issue 13), from one probe
(vedrun.kit.payment_probe): the Stripe key the API runs with and the vault's, each checked by a
read-only call and compared by keyed fingerprint; the webhook signing secret by fingerprint and
the signature failures in the API's log; the webhook endpoint's status and URL; the events not
delivered since T; and the reconciliation of Stripe's PaymentIntents since T with the payments
table. The rule: no payment is ever lost and none is created, captured, refunded or cancelled by
the runbook; what cannot be brought back by the API's own webhook handler is reported, never
written by hand. Plain functions, tested without Docker; the YAML runs the steps.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError
from ansible_collections.vedrun.kit.plugins.module_utils import reconcile

DOCUMENTATION = r"""
name: payment_failure_plan
short_description: Why payments fail or go missing, and what the runbook does about it
description:
  - "Fixed from the declared configuration: stripe key invalid or differs (the API's key is
    rejected, or is not the vault's, or is of the wrong mode, while the vault's key is accepted:
    the vault's key restored, the container recreated); webhook secret differs (the API's signing
    secret is not the vault's: restored the same way); events undelivered (resent to the
    endpoint, oldest first, once the causes are fixed); payments missing (a PaymentIntent whose
    row is missing or behind, with a handled event since T: that event resent, so that the API's
    own handler writes the row)."
  - "Asked first: webhook endpoint disabled (re-enabled only with the endpoint confirmed by id)."
  - "Handed off (nothing changed): the vault's key rejected too or of the wrong mode (a key is
    never rolled by the runbook), no key in the vault; signatures failing while the API runs the
    vault's secret (the secret was rolled at Stripe); no endpoint for the declared URL, or only
    one with another URL; payments that no resend can bring back, and rows with no Stripe
    object (the reconciliation report); the API's container missing; Stripe unreachable."
positional: settings
options:
  _input: {description: The probe (vedrun.kit.payment_probe)., type: dict, required: true}
  settings:
    description: >-
      key_fingerprint and webhook_secret_fingerprint (the vault's, under the probe's nonce; ''
      when the vault has none), mode (test or live), webhook_url (the declared endpoint URL),
      key_env, secret_env, endpoint_confirmed (the endpoint id confirmed for re-enabling, or '')
    type: dict
    required: true
"""

EXAMPLES = r"""
plan: "{{ probe | vedrun.kit.payment_failure_plan(settings) }}"
"""

RETURN = r"""
_value:
  description: >-
    faults [{fault, detail}], handoffs [{fault, detail}], notes, confirm (a question, or null),
    fixes {env {key, webhook_secret}, enable_endpoint (id or ''), resend [{id, type, created,
    intent}], endpoint (id)}, report {missing, behind, differs, orphans, unexplained}, since,
    steps {act, env, endpoint, resend}
  type: dict
"""

MODES = ("test", "live")


def _settings(settings):
    s = dict(settings or {})
    if s.get("mode") not in MODES:
        raise AnsibleFilterError(
            f"payment_failure: stack.stripe.mode is {s.get('mode')!r}: declare test or live "
            "(the mode the environment's key must have)"
        )
    url = str(s.get("webhook_url") or "")
    if not re.fullmatch(r"https?://[^\s]+", url):
        raise AnsibleFilterError(
            f"payment_failure: stack.stripe.webhook_url is {url!r}: declare the URL of the "
            "API's webhook endpoint as registered at Stripe (https://.../webhooks/stripe)"
        )
    s["webhook_url"] = url
    for name in ("key_fingerprint", "webhook_secret_fingerprint", "endpoint_confirmed"):
        s[name] = str(s.get(name) or "")
    s.setdefault("key_env", "STRIPE_SECRET_KEY")
    s.setdefault("secret_env", "STRIPE_WEBHOOK_SECRET")
    return s


def _fault(plan, name, handoff, detail):
    plan["faults"].append({"fault": name, "detail": detail, "handoff": handoff})


def _why(check):
    error = (check or {}).get("error") or {}
    said = error.get("message") or "no answer"
    code = f" ({error['code']})" if error.get("code") else ""
    status = f"HTTP {check.get('status')}: " if check and check.get("status") else ""
    return f"{status}{said}{code}"


def _vault_key_usable(probe, s):
    """(usable, why not): the vault's key is accepted by Stripe and of the declared mode."""
    keys = probe.get("keys") or {}
    vault = keys.get("vault") or {}
    too = " too" if not (keys.get("running") or {}).get("ok") else ""
    if not s["key_fingerprint"] or not vault.get("set"):
        return False, "the vault has no Stripe key for this environment (vault_stripe_secret_key)"
    if not vault.get("ok"):
        return False, (
            f"the vault's key is rejected{too} ({_why(vault)}): roll it in Stripe's Dashboard, put the "
            "new key in the vault, run again (vedrun never rolls a key)"
        )
    if vault.get("mode") != s["mode"]:
        return False, (
            f"the vault's key is a {vault.get('mode')}-mode key, the environment is {s['mode']} mode: "
            "fix the vault"
        )
    return True, ""


def _key(probe, s, plan):
    env = ((probe.get("api") or {}).get("env") or {}).get("key") or {}
    running = (probe.get("keys") or {}).get("running") or {}
    usable, why_not = _vault_key_usable(probe, s)
    name = s["key_env"]
    problem = None
    if not env.get("set"):
        problem = ("stripe key invalid", f"the running API has no {name}")
    elif not running.get("ok"):
        problem = ("stripe key invalid", f"Stripe rejects the running API's {name} ({_why(running)})")
    elif running.get("mode") != s["mode"]:
        problem = (
            "stripe key differs",
            f"the running API's {name} is a {running.get('mode')}-mode key, the "
            f"environment is {s['mode']} mode",
        )
    elif s["key_fingerprint"] and env.get("fingerprint") != s["key_fingerprint"]:
        kind = running.get("type") or "unknown"
        problem = (
            "stripe key differs",
            f"the running API's {name} is not the vault's (a {kind} key, fingerprint "
            f"{env.get('fingerprint')}, vault {s['key_fingerprint']})",
        )
    elif not s["key_fingerprint"]:
        plan["notes"].append(
            "the vault has no Stripe key for this environment: the running one was only checked with Stripe"
        )
    if problem is None:
        return
    if usable and env.get("fingerprint") != s["key_fingerprint"]:
        _fault(plan, problem[0], False, problem[1] + ": the vault's key, accepted by Stripe, is restored")
        plan["fixes"]["env"]["key"] = True
    elif usable:
        _fault(
            plan,
            problem[0],
            True,
            problem[1] + " although it is the vault's, which Stripe accepts: "
            "check again in a minute, then Stripe's status page",
        )
    else:
        _fault(plan, problem[0], True, f"{problem[1]}; {why_not}")


def _secret(probe, s, plan):
    env = ((probe.get("api") or {}).get("env") or {}).get("webhook_secret") or {}
    signatures = probe.get("signatures") or {}
    failures = int(signatures.get("failures") or 0)
    seen = (
        f"{failures} signature failure(s) in the API's log since {probe.get('since', {}).get('iso', 'T')}"
        + (f", the last: {signatures.get('last')}" if signatures.get("last") else "")
    )
    name = s["secret_env"]
    if s["webhook_secret_fingerprint"] and env.get("fingerprint") != s["webhook_secret_fingerprint"]:
        what = "has no" if not env.get("set") else "runs with another"
        _fault(
            plan,
            "webhook secret differs",
            False,
            f"the running API {what} {name} than the vault's "
            f"(fingerprint {env.get('fingerprint') or 'none'}, "
            f"vault {s['webhook_secret_fingerprint']}); {seen}: the vault's is restored",
        )
        plan["fixes"]["env"]["webhook_secret"] = True
    elif failures and s["webhook_secret_fingerprint"]:
        _fault(
            plan,
            "webhook signatures failing",
            True,
            f"{seen}, while the API runs the vault's {name}: the endpoint's secret was rolled at Stripe (or "
            "another endpoint posts here); reveal the endpoint's secret in Stripe's Dashboard, put it in the "
            "vault, run again",
        )
    elif failures:
        _fault(
            plan,
            "webhook signatures failing",
            True,
            f"{seen}, and the vault has no webhook secret (vault_stripe_webhook_secret) to compare with",
        )


def _endpoint(probe, s, plan):
    """The endpoint for the declared URL; its id, or '' when there is none to use."""
    endpoints = probe.get("endpoints") or {}
    if endpoints.get("error"):
        plan["notes"].append(f"the webhook endpoints could not be listed ({endpoints['error']})")
        return ""
    listed = endpoints.get("data") or []
    mine = [e for e in listed if e.get("url") == s["webhook_url"]]
    if not mine:
        seen = ", ".join(f"{e.get('id')} {e.get('url')} ({e.get('status')})" for e in listed) or "none"
        _fault(
            plan,
            "webhook endpoint missing",
            True,
            f"no webhook endpoint at Stripe sends to {s['webhook_url']} (endpoints: {seen}): "
            "payments are made "
            "but never recorded; register the endpoint (or fix its URL) in Stripe's Dashboard and put its "
            "signing secret in the vault",
        )
        return ""
    enabled = [e for e in mine if e.get("status") == "enabled"]
    if enabled:
        return enabled[0]["id"]
    endpoint = mine[0]
    if s["endpoint_confirmed"] == endpoint["id"]:
        _fault(
            plan,
            "webhook endpoint disabled",
            False,
            f"the webhook endpoint {endpoint['id']} ({s['webhook_url']}) is disabled: "
            "Stripe sends it nothing; "
            "re-enabled as confirmed",
        )
        plan["fixes"]["enable_endpoint"] = endpoint["id"]
        return endpoint["id"]
    _fault(
        plan,
        "webhook endpoint disabled",
        False,
        f"the webhook endpoint {endpoint['id']} ({s['webhook_url']}) is disabled: Stripe sends it nothing",
    )
    plan["confirm"] = {
        "variable": "payment_failure_enable_endpoint_confirmed",
        "value": endpoint["id"],
        "question": (
            f"Re-enable the Stripe webhook endpoint {endpoint['id']} ({s['webhook_url']})? It was "
            "disabled at Stripe, maybe on purpose (a migration, a test); once enabled it receives every "
            "new event, and the missed ones are resent."
        ),
    }
    return ""


def _events(probe, s, plan, endpoint, api_missing=False):
    events = probe.get("events") or {}
    if events.get("error"):
        plan["notes"].append(f"the events since T could not be listed ({events['error']})")
        return
    undelivered = events.get("undelivered") or []
    report = probe.get("reconcile") or {}
    if report.get("error"):
        plan["notes"].append(f"no reconciliation ({report['error']})")
        report = {}
    resend = reconcile.events_to_resend(events.get("handled") or [], report, undelivered)
    since = (probe.get("since") or {}).get("iso") or "T"
    if undelivered:
        _fault(
            plan,
            "events undelivered",
            False,
            f"{len(undelivered)} event(s) since {since} not delivered to the API "
            f"(oldest {undelivered[-1].get('id')}"
            f", {reconcile.iso(undelivered[-1].get('created'))})",
        )
    lost = report.get("missing", []) + report.get("behind", [])
    if lost:
        _fault(
            plan,
            "payments missing",
            False,
            f"{len(report.get('missing', []))} PaymentIntent(s) since {since} without a row and "
            f"{len(report.get('behind', []))} with a row behind Stripe's status (the first: "
            f"{lost[0]['intent']} {lost[0]['amount']} {lost[0]['currency']}, {lost[0]['why']})",
        )
    plan["report"] = {k: report.get(k, []) for k in ("missing", "behind", "differs", "orphans")}
    plan["report"]["unexplained"] = reconcile.unexplained(report, resend)
    plan["report"]["complete"] = bool(events.get("complete", True) and report.get("complete", True))
    if plan["report"]["unexplained"] or report.get("differs") or report.get("orphans"):
        parts = []
        if plan["report"]["unexplained"]:
            parts.append(f"{len(plan['report']['unexplained'])} payment(s) no event can bring back")
        if report.get("differs"):
            parts.append(f"{len(report['differs'])} row(s) that differ from Stripe")
        if report.get("orphans"):
            parts.append(f"{len(report['orphans'])} row(s) with no Stripe object")
        _fault(
            plan,
            "payments unreconciled",
            True,
            "the reconciliation report lists " + ", ".join(parts) + ": "
            + _listed(plan["report"]["unexplained"] + report.get("differs", []) + report.get("orphans", []))
            + "; a person decides; vedrun never writes payments by hand",
        )
    if not plan["report"]["complete"]:
        skipped = report.get("skipped_lookups") or []
        plan["notes"].append(
            "the reconciliation was cut short (a Stripe list reached payment_failure_max_items"
            + (f", {len(skipped)} row(s) not looked up past payment_failure_max_lookups" if skipped else "")
            + "): run again with a later payment_failure_since or higher bounds"
        )
    why_not = ""
    if api_missing:
        why_not = "the API's container is missing: nothing can record them"
    elif resend and not endpoint and (probe.get("endpoints") or {}).get("error"):
        why_not = "the webhook endpoints could not be listed to resend them to"
    elif resend and not endpoint:
        why_not = "there is no enabled endpoint to resend them to"
    if why_not and resend:
        for fault in plan["faults"]:
            if fault["fault"] in ("events undelivered", "payments missing") and not plan["confirm"]:
                fault["handoff"] = True
                fault["detail"] += ": " + why_not
        return
    plan["fixes"]["resend"] = [{k: e.get(k) for k in ("id", "type", "created", "intent")} for e in resend]
    plan["fixes"]["endpoint"] = endpoint


# rows named in the incident itself; the evidence's reconciliation.json has them all
LISTED_ROWS = 5


def _listed(entries):
    """'pi_1 4900 usd 2026-12-03T08:53:24Z (no row for this intent), ...' for the incident record."""
    said = [
        f"{e.get('intent')} {e.get('amount')} {e.get('currency')} "
        f"{e.get('created') or '(no time)'} ({e.get('why')})"
        for e in entries[:LISTED_ROWS]
    ]
    more = len(entries) - LISTED_ROWS
    return ", ".join(said) + (f" and {more} more" if more > 0 else "") + " (all in reconciliation.json)"


def _api(probe, plan):
    api = probe.get("api") or {}
    if not (api.get("container") or {}).get("exists") or api.get("env") is None:
        _fault(plan, "api missing", True, "the API's container is missing: run p0-service-down first")
        return False
    return True


def _deploy(probe, plan):
    """The environment is restored from the newest deploy's env file: without one, hand off."""
    env = plan["fixes"]["env"]
    if not (env["key"] or env["webhook_secret"]) or (probe.get("deploy") or {}).get("env") is not None:
        return
    deploy = probe.get("deploy") or {}
    why = deploy.get("problem") or f"no deploy on record in {deploy.get('path') or 'the deploy history'}"
    for fault in plan["faults"]:
        if fault["fault"] in ("stripe key invalid", "stripe key differs", "webhook secret differs"):
            fault["handoff"] = True
            fault["detail"] += f"; it cannot be restored here: {why} (redeploy the API with its environment)"
    env.update(key=False, webhook_secret=False)


def payment_failure_plan(probe, settings):
    """The plan of one host: the faults, which are handed off, the question, the fixes."""
    s = _settings(settings)
    probe = probe or {}
    plan = {
        "faults": [],
        "notes": [],
        "handoffs": [],
        "confirm": None,
        "since": probe.get("since") or {},
        "fixes": {
            "env": {"key": False, "webhook_secret": False},
            "enable_endpoint": "",
            "resend": [],
            "endpoint": "",
        },
        "report": {
            "missing": [],
            "behind": [],
            "differs": [],
            "orphans": [],
            "unexplained": [],
            "complete": True,
        },
    }
    keys = probe.get("keys") or {}
    checked = [k for k in (keys.get("running") or {}, keys.get("vault") or {}) if k.get("set")]
    if checked and all(k.get("status") is None and not k.get("ok") for k in checked):
        # no answer at all (a rejected key is a key fault, said below in Stripe's words)
        _fault(plan, "stripe unreachable", True, f"Stripe did not answer: {_why(checked[0])}")
    api_there = _api(probe, plan)
    if api_there:
        _key(probe, s, plan)
        _secret(probe, s, plan)
        _deploy(probe, plan)
    endpoint = _endpoint(probe, s, plan)
    _events(probe, s, plan, endpoint, api_missing=not api_there)
    fixes = plan["fixes"]
    plan["steps"] = {
        "env": bool(fixes["env"]["key"] or fixes["env"]["webhook_secret"]),
        "endpoint": bool(fixes["enable_endpoint"]),
        "resend": bool(fixes["resend"]),
    }
    plan["steps"]["act"] = any(plan["steps"].values())
    plan["handoffs"] = [
        {"fault": f["fault"], "detail": f["detail"]} for f in plan["faults"] if f.get("handoff")
    ]
    for fault in plan["faults"]:
        fault.pop("handoff", None)
    return plan


def payment_failure_said(plan):
    """What the run does, in the order it does it, for the detect message."""
    fixes, said = plan["fixes"], []
    names = (["the Stripe key"] if fixes["env"]["key"] else []) + (
        ["the webhook signing secret"] if fixes["env"]["webhook_secret"] else []
    )
    if names:
        said.append(
            "restore " + " and ".join(names) + " from the vault in the API's environment and recreate it"
        )
    if fixes["enable_endpoint"]:
        said.append(f"re-enable the webhook endpoint {fixes['enable_endpoint']} (confirmed)")
    if fixes["resend"]:
        said.append(
            f"resend {len(fixes['resend'])} event(s) to {fixes['endpoint']}, oldest first, for the API's "
            "handler to record"
        )
    if plan.get("confirm"):
        said.append("ask before re-enabling the webhook endpoint " + plan["confirm"]["value"])
    return said


def payment_failure_env(plan, key, webhook_secret, settings):
    """The variables to set in the API's environment, by name (for vedrun.kit.env_update, under
    no_log): the vault's key and webhook secret, as the plan says."""
    s, fixes, out = _settings(settings), plan["fixes"]["env"], {}
    for wanted, value, name in (
        (fixes["key"], key, s["key_env"]),
        (fixes["webhook_secret"], webhook_secret, s["secret_env"]),
    ):
        if wanted:
            if not str(value or "").strip():
                raise AnsibleFilterError(
                    f"payment_failure: the vault has no value for {name}: nothing to restore"
                )
            out[name] = str(value).strip()
    return out


def payment_failure_verify(probe, plan, settings):
    """After the fixes: {ok, problems}, each problem with what Stripe or the API last said. The
    reconciliation must be clean but for what the plan already reported as no resend's to fix."""
    s, probe, problems = _settings(settings), probe or {}, []
    api_env = (probe.get("api") or {}).get("env") or {}
    running = (probe.get("keys") or {}).get("running") or {}
    if not running.get("ok"):
        problems.append(f"Stripe rejects the API's key ({_why(running)})")
    elif s["key_fingerprint"] and (api_env.get("key") or {}).get("fingerprint") != s["key_fingerprint"]:
        problems.append("the API does not run with the vault's key")
    secret = api_env.get("webhook_secret") or {}
    if s["webhook_secret_fingerprint"] and secret.get("fingerprint") != s["webhook_secret_fingerprint"]:
        problems.append("the API does not run with the vault's webhook secret")
    listed = (probe.get("endpoints") or {}).get("data") or []
    mine = [e for e in listed if e.get("url") == s["webhook_url"]]
    if not any(e.get("status") == "enabled" for e in mine):
        problems.append(
            f"no enabled webhook endpoint for {s['webhook_url']} "
            f"({', '.join(e['id'] + ' ' + str(e.get('status')) for e in mine) or 'none'})"
        )
    undelivered = (probe.get("events") or {}).get("undelivered") or []
    if undelivered:
        problems.append(
            f"{len(undelivered)} event(s) still undelivered (the oldest {undelivered[-1].get('id')})"
        )
    report = probe.get("reconcile") or {}
    known = {e["intent"] for e in (plan or {}).get("report", {}).get("unexplained", [])}
    lost = [e for e in report.get("missing", []) + report.get("behind", []) if e["intent"] not in known]
    if lost:
        problems.append(
            f"{len(lost)} payment(s) still missing or behind (the first {lost[0]['intent']}: "
            f"{lost[0]['why']})"
        )
    if report.get("error"):
        problems.append(f"no reconciliation: {report['error']}")
    return {"ok": not problems, "problems": problems}


class FilterModule:
    def filters(self):
        return {
            "payment_failure_plan": payment_failure_plan,
            "payment_failure_said": payment_failure_said,
            "payment_failure_env": payment_failure_env,
            "payment_failure_verify": payment_failure_verify,
        }
