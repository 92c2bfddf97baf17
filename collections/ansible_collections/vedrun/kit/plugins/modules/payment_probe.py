#!/usr/bin/python
"""Ansible module: are payments processed and recorded, and if not, why: every signal of
p1-payment-failure in one round trip on the host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: payment_probe
short_description: The Stripe key, webhook secret, endpoint, undelivered events and the reconciliation since T
description:
  - >-
    Read-only: it creates, captures, refunds and cancels nothing, at Stripe or in the database.
    The Stripe key the API runs with (its container's environment) and the vault's key, each
    checked by a read-only call (the newest PaymentIntent) with the key in the Authorization
    header only; their keyed fingerprints (HMAC-SHA256 under C(nonce)) and modes, never their
    values. The webhook signing secret by fingerprint only, and the signature failures in the
    API's log since T.
  - >-
    With an accepted key (the vault's first): the webhook endpoints (status and URL), the events
    since T not delivered to every endpoint (C(delivery_success=false)), the handled events
    (payment_intent.succeeded and payment_failed) of the payments that need one, and the
    reconciliation of every PaymentIntent since T with the payments table, both ways (rows since T
    whose intent Stripe does not list are looked up one by one).
  - >-
    T is C(since) when given, else the earliest recovery point of the restores on record in
    C(restores) (the database runbook's) within Stripe's 30 days of events, else now minus
    C(window_seconds).
options:
  stripe_api_base: {description: Stripe's API as the API calls it., type: str, required: true}
  api_container: {description: The API's container., type: str, required: true}
  key_env: {description: The API's variable of the Stripe key., type: str, default: STRIPE_SECRET_KEY}
  secret_env:
    description: The API's variable of the webhook signing secret.
    type: str
    default: STRIPE_WEBHOOK_SECRET
  deploy_history: {description: The API's deploy history on the host., type: path, required: true}
  vault_key:
    description: The environment's key from the vault ('' when none).
    type: str
    default: ""
    no_log: true
  nonce:
    description: The fingerprints' key for this run (never returned).
    type: str
    default: ""
    no_log: true
  since:
    description: T as Unix time or ISO 8601 (2026-12-01T09:30:00Z); '' or 0 finds it (see above).
    type: str
    default: ""
  window_seconds:
    description: How far back T is without a given one or a restore on record.
    type: int
    default: 86400
  restores:
    description: The record of restores on the host (a JSON list); '' for none.
    type: str
    default: ""
  postgres_container: {description: PostgreSQL's container., type: str, required: true}
  postgres_user: {description: The user psql connects as (local socket)., type: str, required: true}
  postgres_database: {description: The API's database., type: str, required: true}
  signature_pattern:
    description: A regular expression for the API's log lines of a refused webhook signature.
    type: str
    default: "(?i)webhook.*(signature|STRIPE_WEBHOOK_SECRET)"
  max_items: {description: The most objects read from one Stripe list., type: int, default: 5000}
  max_lookups: {description: The most rows looked up one by one at Stripe., type: int, default: 50}
  timeout: {description: Seconds per request., type: float, default: 10}
  wait_seconds:
    description: >-
      Probe again until the API's key is accepted, no event since T is undelivered and nothing is
      missing or behind but the intents in C(except_intents), for up to this many seconds.
    type: float
    default: 0
  except_intents:
    description: Intents already reported as no resend's to fix.
    type: list
    elements: str
    default: []
"""

RETURN = r"""
since:
  description: at (Unix time), iso, source (given, restore or window), restore, clamped
  type: dict
  returned: always
api:
  description: >-
    container (state), env {key {set, type, mode, fingerprint}, webhook_secret {set, fingerprint}}
  type: dict
  returned: always
deploy: {description: entries, newest, env as above, problem, type: dict, returned: always}
keys:
  description: "running and vault: {set, type, mode, ok, status, error}"
  type: dict
  returned: always
stripe_key_used: {description: vault, running or '' (no accepted key), type: str, returned: always}
endpoints:
  description: data [{id, url, status, livemode, enabled_events}], error
  type: dict
  returned: always
events:
  description: >-
    undelivered [{id, type, created, intent, pending_webhooks}] (newest first), handled (of the
    payments missing or behind), complete, error
  type: dict
  returned: always
signatures: {description: failures, first, last (log lines, cut), error, type: dict, returned: always}
reconcile:
  description: missing, behind, differs, orphans, checked, clean, complete, error (module_utils/reconcile.py)
  type: dict
  returned: always
"""

import json
import re
import secrets
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import (
    deploys,
    docker_cli,
    env_file,
    polling,
    postgres,
    reconcile,
    stripe_api,
)

HANDLED = sorted(reconcile.HANDLED)
EVENT_DAYS = 30
LOG_LINES = 20000
INTENT_ID = re.compile(r"pi_[A-Za-z0-9_]{1,200}")
ROWS_SQL = """
SELECT coalesce(json_agg(json_build_object('intent_id', intent_id, 'amount', amount, 'currency', currency,
       'status', status, 'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       'since_t', created_at >= to_timestamp(:since)) ORDER BY created_at), '[]'::json)
FROM payments WHERE created_at >= to_timestamp(:since) - interval '1 hour';
"""


def settings(env, params, nonce):
    """The key and the webhook secret an environment holds, as fingerprints and kinds only."""
    key = (env.get(params["key_env"]) or "").strip()
    secret = (env.get(params["secret_env"]) or "").strip()
    kind, mode = stripe_api.key_kind(key)
    return {
        "key": {
            "set": bool(key),
            "type": kind,
            "mode": mode,
            "fingerprint": env_file.fingerprint(key, nonce),
        },
        "webhook_secret": {"set": bool(secret), "fingerprint": env_file.fingerprint(secret, nonce)},
    }


def deploy_state(params, nonce):
    return deploys.newest_env(params["deploy_history"], lambda env: settings(env, params, nonce))


def find_since(params, now):
    """T: given, else the earliest recovery point of the restores on record within Stripe's 30
    days (every restore's lost writes are covered, not only the last one's), else the window."""
    oldest = int(now) - EVENT_DAYS * 86400 + 3600
    if params["since"] > 0:
        at = max(params["since"], oldest)
        return {
            "at": at,
            "iso": reconcile.iso(at),
            "source": "given",
            "restore": None,
            "clamped": at != params["since"],
        }
    restore = earliest_restore(params["restores"], oldest)
    if restore:
        return {
            "at": restore["at"],
            "iso": reconcile.iso(restore["at"]),
            "source": "restore",
            "restore": restore,
            "clamped": False,
        }
    at = int(now) - max(60, params["window_seconds"])
    return {
        "at": max(at, oldest),
        "iso": reconcile.iso(max(at, oldest)),
        "source": "window",
        "restore": None,
        "clamped": at < oldest,
    }


def earliest_restore(path, oldest):
    """The restore on record with the earliest recovery point not older than `oldest` (Unix time):
    {at, recovery_point, restored_at, backup, database}; None without one or a readable record."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    best = None
    for entry in record if isinstance(record, list) else []:
        at = _unix(entry.get("recovery_point")) if isinstance(entry, dict) else None
        if at is not None and at >= oldest and (best is None or at < best["at"]):
            best = {
                "at": at,
                **{k: entry.get(k) for k in ("recovery_point", "restored_at", "backup", "database")},
            }
    return best


def _unix(text):
    from datetime import datetime, timezone

    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp())


def signature_failures(params, since):
    # the newest LOG_LINES lines since T: a busy API's day of logs is not read whole
    rc, out, err = docker_cli.run(
        ["logs", "--since", str(int(since)), "--tail", str(LOG_LINES), "--", params["api_container"]],
        timeout=30,
    )
    if rc != 0:
        return {"failures": 0, "first": "", "last": "", "error": err.strip()[:300]}
    pattern = re.compile(params["signature_pattern"])
    hits = [line.strip()[:300] for line in (out + "\n" + err).splitlines() if pattern.search(line)]
    return {
        "failures": len(hits),
        "first": hits[0] if hits else "",
        "last": hits[-1] if hits else "",
        "error": "",
    }


def _event(e):
    obj = (e.get("data") or {}).get("object") or {}
    return {
        "id": e.get("id"),
        "type": e.get("type"),
        "created": e.get("created"),
        "intent": obj.get("id"),
        "pending_webhooks": e.get("pending_webhooks"),
    }


def stripe_state(params, client, since):
    """Endpoints, events and the reconciliation, with an accepted key."""
    out = {
        "endpoints": {"data": [], "error": ""},
        "events": {"undelivered": [], "handled": [], "complete": True, "error": ""},
        "reconcile": {"error": ""},
    }
    try:
        listed, _ = client.list_all("/v1/webhook_endpoints", max_items=200)
        out["endpoints"]["data"] = [
            {k: e.get(k) for k in ("id", "url", "status", "livemode", "enabled_events")} for e in listed
        ]
    except stripe_api.StripeError as exc:
        out["endpoints"]["error"] = exc.message
    try:
        undelivered, complete = client.list_all(
            "/v1/events", {"delivery_success": "false", "created[gte]": since}, params["max_items"]
        )
        handled, complete_handled = client.list_all(
            "/v1/events", {"types[]": HANDLED, "created[gte]": since}, params["max_items"]
        )
        intents, complete_intents = client.list_all(
            "/v1/payment_intents", {"created[gte]": since}, params["max_items"]
        )
    except stripe_api.StripeError as exc:
        out["events"]["error"] = out["reconcile"]["error"] = exc.message
        return out
    out["events"]["undelivered"] = [_event(e) for e in undelivered]
    out["events"]["complete"] = complete and complete_handled
    try:
        rows = (
            postgres.psql_json(
                params["postgres_container"],
                params["postgres_user"],
                params["postgres_database"],
                ROWS_SQL,
                {"since": int(since)},
                timeout=60,
            )
            or []
        )
    except (docker_cli.DockerError, ValueError) as exc:
        out["reconcile"]["error"] = f"the payments table could not be read: {exc}"
        return out
    listed_ids = {i.get("id") for i in intents}
    lookups = look_up(
        client,
        [r for r in rows if r.get("since_t") and r.get("intent_id") not in listed_ids],
        params["max_lookups"],
    )
    report = reconcile.reconcile(intents, rows, lookups)
    report["complete"] = complete_intents and len(lookups.get("_skipped", [])) == 0
    report["skipped_lookups"] = lookups.pop("_skipped", [])
    report["error"] = ""
    out["reconcile"] = report
    wanted = {e["intent"] for e in report["missing"] + report["behind"]}
    out["events"]["handled"] = [_event(e) for e in handled if _event(e)["intent"] in wanted]
    return out


def look_up(client, rows, limit):
    """{intent_id: {found, message}} for rows whose intent was not listed (made before T, of the
    other mode, or unknown to Stripe); ids that are not PaymentIntent ids are not sent."""
    out = {"_skipped": []}
    for row in rows:
        intent_id = str(row.get("intent_id") or "")
        if not INTENT_ID.fullmatch(intent_id):
            out[intent_id] = {"found": False, "message": "not a PaymentIntent id"}
            continue
        if len(out) - 1 >= limit:
            out["_skipped"].append(intent_id)
            continue
        try:
            client.get("/v1/payment_intents/" + intent_id)
            out[intent_id] = {"found": True, "message": ""}
        except stripe_api.StripeError as exc:
            out[intent_id] = {"found": exc.status != 404, "message": exc.message[:200]}
    return out


def probe(params, nonce):
    since = find_since(params, time.time())
    inspected = docker_cli.inspect(params["api_container"])
    summary = docker_cli.summary(inspected)
    env = deploys.env_of(inspected) if inspected else {}
    running_key = (env.get(params["key_env"]) or "").strip()
    keys = {
        "running": stripe_api.check_key(params["stripe_api_base"], running_key, params["timeout"]),
        "vault": stripe_api.check_key(params["stripe_api_base"], params["vault_key"], params["timeout"]),
    }
    result = {
        "since": since,
        "api": {
            "container": {
                k: summary[k]
                for k in ("exists", "id", "image", "status", "running", "restarting", "started_at")
            },
            "env": settings(env, params, nonce) if inspected else None,
        },
        "deploy": deploy_state(params, nonce),
        "keys": keys,
        "signatures": signature_failures(params, since["at"])
        if inspected
        else {"failures": 0, "first": "", "last": "", "error": "no API container"},
    }
    used = "vault" if keys["vault"]["ok"] else "running" if keys["running"]["ok"] else ""
    result["stripe_key_used"] = used
    if not used:
        result["stripe_error"] = "neither the API's key nor the vault's is accepted by Stripe"
        result.update(
            endpoints={"data": [], "error": "no accepted key"},
            events={"undelivered": [], "handled": [], "complete": False, "error": "no accepted key"},
            reconcile={"error": "no accepted key"},
        )
        return result
    client = stripe_api.Stripe(
        params["stripe_api_base"], params["vault_key"] if used == "vault" else running_key, params["timeout"]
    )
    result.update(stripe_state(params, client, since["at"]))
    return result


def settled(result, except_intents):
    """Nothing left for verify to wait for: the key accepted, nothing undelivered, nothing
    missing or behind but what was already reported."""
    report = result.get("reconcile") or {}
    lost = [
        e for e in report.get("missing", []) + report.get("behind", []) if e["intent"] not in except_intents
    ]
    return bool(
        result["keys"]["running"]["ok"]
        and not result["events"]["undelivered"]
        and not lost
        and not report.get("error")
    )


def main():
    module = AnsibleModule(
        argument_spec={
            "stripe_api_base": {"type": "str", "required": True},
            "api_container": {"type": "str", "required": True},
            "key_env": {"type": "str", "default": "STRIPE_SECRET_KEY", "no_log": False},
            "secret_env": {"type": "str", "default": "STRIPE_WEBHOOK_SECRET", "no_log": False},
            "deploy_history": {"type": "path", "required": True},
            "vault_key": {"type": "str", "default": "", "no_log": True},
            "nonce": {"type": "str", "default": "", "no_log": True},
            "since": {"type": "str", "default": ""},
            "window_seconds": {"type": "int", "default": 86400},
            "restores": {"type": "str", "default": ""},
            "postgres_container": {"type": "str", "required": True},
            "postgres_user": {"type": "str", "required": True},
            "postgres_database": {"type": "str", "required": True},
            "signature_pattern": {"type": "str", "default": "(?i)webhook.*(signature|STRIPE_WEBHOOK_SECRET)"},
            "max_items": {"type": "int", "default": 5000},
            "max_lookups": {"type": "int", "default": 50},
            "timeout": {"type": "float", "default": 10},
            "wait_seconds": {"type": "float", "default": 0},
            "except_intents": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    params = dict(module.params)
    params["stripe_api_base"] = params["stripe_api_base"].rstrip("/")
    given = (params["since"] or "").strip()
    params["since"] = int(given) if given.isdigit() else _unix(given) if given else 0
    if params["since"] is None:
        module.fail_json(
            msg=f"since is {given!r}: give T as Unix time or ISO 8601, e.g. "
            "2026-12-01T09:30:00Z (-e payment_failure_since=...)"
        )
    nonce = params["nonce"] or secrets.token_hex(16)
    expected = set(params["except_intents"])
    try:
        result, attempts, waited = polling.until_settled(
            lambda: probe(params, nonce), lambda answer: settled(answer, expected), params["wait_seconds"], 2)
    except docker_cli.DockerError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, attempts=attempts, waited=waited, **result)


if __name__ == "__main__":
    main()
