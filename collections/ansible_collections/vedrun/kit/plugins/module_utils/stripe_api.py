"""A small Stripe REST client for the payment-failure probe and its resends, run on the host.

The key travels only in the Authorization header of requests to the declared API base: never in
a URL, an argv, a log line or a result. Errors are returned in Stripe's own words (type, code,
message: Stripe masks a key in its messages as sk_test_****abcd). Lists are paged with
`starting_after` as Stripe documents, up to a bound, and say when they were cut short.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

from ansible_collections.vedrun.kit.plugins.module_utils import http_probe

PREFIXES = {
    "sk_live_": ("secret", "live"),
    "sk_test_": ("secret", "test"),
    "rk_live_": ("restricted", "live"),
    "rk_test_": ("restricted", "test"),
}


def key_kind(key):
    """(type, mode) of a Stripe key from its prefix: ('secret', 'test'), ('restricted', 'live')...;
    ('unknown', 'unknown') for anything else (a publishable key, a typo, nothing)."""
    key = (key or "").strip()
    for prefix, kind in PREFIXES.items():
        if key.startswith(prefix):
            return kind
    return ("unknown", "unknown")


class StripeError(Exception):
    """An answer that is not 2xx, or no answer: status (None without one), type, code, message."""

    def __init__(self, status, kind, code, message):
        super().__init__(message)
        self.status, self.type, self.code, self.message = status, kind, code, message

    def as_dict(self):
        return {"status": self.status, "type": self.type, "code": self.code, "message": self.message}


class Stripe:
    def __init__(self, api_base, key, timeout=10.0):
        self.base = api_base.rstrip("/")
        self._key = (key or "").strip()
        self.timeout = float(timeout)
        self.calls = 0

    def request(self, method, path, params=None):
        """One call: the decoded JSON body of a 2xx answer, else StripeError."""
        query = urllib.parse.urlencode(params or {}, doseq=True)
        url = self.base + path
        data = None
        if method == "GET" and query:
            url += "?" + query
        elif query:
            data = query.encode()
        headers = {
            "Authorization": "Bearer " + self._key,
            "Accept": "application/json",
            "Stripe-Version": "2022-11-15",
        }
        if data is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - the declared API base
        self.calls += 1
        try:
            with http_probe._OPENER.open(req, timeout=self.timeout) as response:  # no proxy, no redirect
                return json.loads(response.read(8 * 1024 * 1024).decode("utf-8", "replace") or "{}")
        except urllib.error.HTTPError as error:
            text = error.read(64 * 1024).decode("utf-8", "replace") if error.fp else ""
            try:
                body = (json.loads(text) or {}).get("error") or {}
            except (ValueError, AttributeError):
                body = {}
            if not isinstance(body, dict):
                body = {}
            message = str(body.get("message") or " ".join(text.split())[:200] or f"HTTP {error.code}")
            raise StripeError(
                error.code, str(body.get("type") or ""), str(body.get("code") or ""), message[:400]
            ) from None
        except (TimeoutError, OSError, ValueError) as error:
            cause = getattr(error, "reason", error)
            if isinstance(cause, TimeoutError) or "timed out" in str(cause):
                message = f"no answer from {self.base} within {self.timeout:g} s"
            else:
                message = f"cannot reach {self.base}: {getattr(cause, 'strerror', None) or cause}"
            raise StripeError(None, "connection_error", "", message) from None

    def get(self, path, params=None):
        return self.request("GET", path, params)

    def post(self, path, params=None):
        return self.request("POST", path, params)

    def list_all(self, path, params=None, max_items=5000):
        """Every object of a list endpoint (newest first, as Stripe lists them), page by page:
        (items, complete). complete is False when max_items cut it short."""
        items, after = [], None
        while True:
            page = dict(params or {}, limit=100)
            if after:
                page["starting_after"] = after
            body = self.get(path, page)
            data = body.get("data") or []
            items.extend(data)
            if not body.get("has_more") or not data:
                return items, True
            if len(items) >= max_items:
                return items[:max_items], False
            after = data[-1].get("id")


def check_key(api_base, key, timeout):
    """Is this key accepted: a read-only call (the newest PaymentIntent) made with it.
    {set, type, mode, ok, status, error {type, code, message}, seconds}; never the key."""
    kind, mode = key_kind(key)
    out = {
        "set": bool((key or "").strip()),
        "type": kind,
        "mode": mode,
        "ok": False,
        "status": None,
        "error": None,
        "seconds": 0.0,
    }
    if not out["set"]:
        out["error"] = {"status": None, "type": "", "code": "", "message": "no key"}
        return out
    started = time.monotonic()
    try:
        Stripe(api_base, key, timeout).get("/v1/payment_intents", {"limit": 1})
        out.update(ok=True, status=200)
    except StripeError as error:
        out.update(status=error.status, error=error.as_dict())
    out["seconds"] = round(time.monotonic() - started, 3)
    return out
