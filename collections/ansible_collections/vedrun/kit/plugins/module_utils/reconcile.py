"""Payments reconciliation: the PaymentIntents at Stripe since T against the payments table, and
the table's rows since T against Stripe. Pure functions on plain data (the probe gathers it), so
that the decisions are tested without Docker. Nothing here writes: a row that is missing is
brought back by the API's own webhook handler (a resent event), never by writing it by hand.

The table as the API keeps it: one row per intent (intent_id unique), status pending | paid |
failed, amount in the smallest currency unit, currency lower-case; created_at and updated_at.
"""

from __future__ import annotations

from datetime import datetime, timezone

# The events the API's handler writes rows from, and the row status each one leads to.
HANDLED = {"payment_intent.succeeded": "paid", "payment_intent.payment_failed": "failed"}


def iso(ts):
    try:
        return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def expected_row(intent):
    """The row status the API keeps for this intent once its webhooks are in."""
    status = intent.get("status")
    if status == "succeeded":
        return "paid"
    if intent.get("last_payment_error") and status in ("requires_payment_method", "canceled"):
        return "failed"
    return "pending"


def _entry(intent, row, expected, why):
    return {
        "intent": intent.get("id") if intent else row.get("intent_id"),
        "amount": (intent or row).get("amount"),
        "currency": str((intent or row).get("currency") or "").lower(),
        "stripe_status": intent.get("status") if intent else None,
        "expected": expected,
        "row_status": row.get("status") if row else None,
        "created": iso(intent.get("created")) if intent else str(row.get("created_at") or ""),
        "why": why,
    }


def reconcile(intents, rows, lookups=None):
    """intents: Stripe's PaymentIntents since T (one mode); rows: the table's rows since T plus
    the rows of those intents, whenever made ({intent_id, amount, currency, status, created_at});
    lookups: {intent_id: {"found": bool, "message": str}} for rows whose intent was not listed
    (looked up one by one: made before T, another mode, or unknown at Stripe).

    Returns {checked {intents, rows}, missing, behind, differs, orphans, clean}:
    missing  the intent has no row (lost, or its webhook never came);
    behind   the row's status is short of what Stripe says (pending while paid, say);
    differs  amount or currency differ, or the row says paid where Stripe says otherwise;
    orphans  a row whose intent Stripe does not have (in this mode).
    """
    by_id = {str(r.get("intent_id")): r for r in rows or []}
    listed = {str(i.get("id")): i for i in intents or []}
    out = {
        "checked": {"intents": len(listed), "rows": len(by_id)},
        "missing": [],
        "behind": [],
        "differs": [],
        "orphans": [],
    }
    for intent_id, intent in sorted(listed.items(), key=lambda kv: (kv[1].get("created") or 0, kv[0])):
        row, expected = by_id.get(intent_id), expected_row(intent)
        if row is None:
            out["missing"].append(_entry(intent, None, expected, "no row for this intent"))
            continue
        amount_ok = str(row.get("amount")) == str(intent.get("amount"))
        currency_ok = str(row.get("currency") or "").lower() == str(intent.get("currency") or "").lower()
        if not (amount_ok and currency_ok):
            out["differs"].append(
                _entry(
                    intent,
                    row,
                    expected,
                    f"the row has {row.get('amount')} {row.get('currency')}, Stripe "
                    f"{intent.get('amount')} {intent.get('currency')}",
                )
            )
        elif row.get("status") == expected:
            continue
        elif row.get("status") == "pending" and expected in ("paid", "failed"):
            out["behind"].append(_entry(intent, row, expected, f"the row is pending, Stripe says {expected}"))
        elif row.get("status") == "failed" and expected == "paid":
            out["behind"].append(_entry(intent, row, expected, "the row is failed, Stripe says paid"))
        elif row.get("status") in ("paid", "failed") and expected == "pending":
            out["differs"].append(
                _entry(
                    intent,
                    row,
                    expected,
                    f"the row says {row.get('status')}, Stripe says {intent.get('status')}",
                )
            )
        elif row.get("status") == "paid" and expected == "failed":
            out["differs"].append(_entry(intent, row, expected, "the row says paid, Stripe says failed"))
        else:
            out["differs"].append(
                _entry(
                    intent,
                    row,
                    expected,
                    f"the row says {row.get('status')!r}, Stripe says {intent.get('status')}",
                )
            )
    for intent_id, row in sorted(by_id.items(), key=lambda kv: (str(kv[1].get("created_at") or ""), kv[0])):
        if intent_id in listed:
            continue
        seen = (lookups or {}).get(intent_id)
        if seen is None or seen.get("found"):
            continue  # made before T (looked up and found), or not looked up: nothing to say
        out["orphans"].append(
            _entry(
                None,
                row,
                None,
                "Stripe has no such PaymentIntent" + (f" ({seen['message']})" if seen.get("message") else ""),
            )
        )
    out["clean"] = not (out["missing"] or out["behind"] or out["differs"] or out["orphans"])
    return out


def events_to_resend(events, report, undelivered):
    """The events whose delivery makes the API write what is missing, oldest first, each once:
    every undelivered event, and for each missing or behind intent its newest handled event that
    leads to the status Stripe has now (delivered before a rollback erased its row, say).
    events: the handled events since T ({id, type, created, intent}). Intents without such an
    event stay in the report (reconcile.unexplained)."""
    wanted = {e["intent"]: e["expected"] for e in report.get("missing", []) + report.get("behind", [])}
    newest = {}
    for event in events or []:
        intent = event.get("intent")
        if intent not in wanted or HANDLED.get(event.get("type")) != wanted[intent]:
            continue
        kept = newest.get(intent)
        if kept is None or (event.get("created") or 0) >= (kept.get("created") or 0):
            newest[intent] = event
    chosen = {e["id"]: e for e in undelivered or [] if e.get("id")}
    chosen.update({e["id"]: e for e in newest.values()})
    return sorted(chosen.values(), key=lambda e: (e.get("created") or 0, e["id"]))


def unexplained(report, resend):
    """The intents of the report that no resend can bring back: listed for a person."""
    covered = {e.get("intent") for e in resend}
    return [e for e in report.get("missing", []) + report.get("behind", []) if e["intent"] not in covered]
