"""HTTP probes from the host: one request with its time, and a wait that says why it gave up.

A timeout is not a failure by itself: under load an endpoint can be slow. `get` reports it as
`slow` with the time it waited; `check` retries a slow answer once before calling it failed.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request

BODY_EXCERPT = 300


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect is an answer, not a success
        return None


_OPENER = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))


def get(url, timeout=5.0, method="GET", body=None, headers=None):
    """One request. Returns {url, status, ok (2xx), slow, seconds, reason, body}."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    started = time.monotonic()
    request = urllib.request.Request(url, data=body, method=method,  # noqa: S310 - http(s) only, checked above
                                     headers=headers or {})
    status, reason, text, slow = None, "", "", False
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status = response.status
            text = response.read(64 * 1024).decode("utf-8", "replace")
            reason = f"HTTP {status}"
    except urllib.error.HTTPError as error:
        status = error.code
        text = error.read(64 * 1024).decode("utf-8", "replace") if error.fp else ""
        reason = f"HTTP {status}"
    except (socket.timeout, TimeoutError):  # noqa: UP041 - on a VPS's Python 3.8 they differ
        slow, reason = True, f"no answer within {timeout:g} s"
    except urllib.error.URLError as error:
        cause = error.reason
        if isinstance(cause, (socket.timeout, TimeoutError)):
            slow, reason = True, f"no answer within {timeout:g} s"
        else:
            reason = str(getattr(cause, "strerror", None) or cause)
    except (http.client.HTTPException, ConnectionError, OSError) as error:
        reason = f"{type(error).__name__}: {error}"
    seconds = round(time.monotonic() - started, 3)
    return {"url": url, "status": status, "ok": status is not None and 200 <= status < 300,
            "slow": slow, "seconds": seconds, "reason": reason,
            "body": text.strip()[:BODY_EXCERPT]}


def check(url, timeout=5.0, expect=(200,)):
    """A health check: an expected status is ok; a slow answer is retried once (a host under
    load is not unhealthy without evidence). Returns get()'s dict with `ok` per `expect` and
    `attempts`."""
    result = get(url, timeout)
    attempts = 1
    if result["slow"]:
        result = get(url, timeout)
        attempts = 2
    result["ok"] = result["status"] in expect
    result["attempts"] = attempts
    return result


def describe(result):
    """One line for a person: what the endpoint answered (or did not), and how long it took."""
    text = result["reason"]
    if result["body"] and result["status"] is not None:
        text += ": " + " ".join(result["body"].split())[:200]
    return f"{text} ({result['seconds']:.1f} s)"


def wait(url, timeout=60.0, expect=(200,), interval=1.0, request_timeout=5.0, settle=1):
    """Poll until `settle` answers in a row have an expected status, or `timeout` seconds
    pass. Returns {ok, seconds, attempts, last: get()'s dict of the last answer}."""
    started = time.monotonic()
    attempts = streak = 0
    last = None
    while True:
        left = timeout - (time.monotonic() - started)
        last = get(url, max(0.5, min(request_timeout, left)) if left > 0 else 0.5)
        attempts += 1
        streak = streak + 1 if last["status"] in expect else 0
        if streak >= settle:
            break
        if time.monotonic() - started + interval > timeout:
            break
        time.sleep(interval)
    return {"ok": streak >= settle, "seconds": round(time.monotonic() - started, 2),
            "attempts": attempts, "last": last}
