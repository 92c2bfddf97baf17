"""The probes' wait: look again until the answer is settled or the time allowed is spent.

A probe with wait_seconds looks at once and, while the answer is not yet what it waits for, again
every `interval` seconds, never starting a look it could not finish inside the time allowed. The
last answer is returned either way: the caller says why it gave up from what the service last
answered.
"""

from __future__ import annotations

import time


def until_settled(look, settled, wait_seconds, interval=1.0, clock=time.monotonic, sleep=time.sleep):
    """(answer, attempts, seconds waited): look() until settled(answer) or wait_seconds is spent."""
    started, attempts = clock(), 0
    while True:
        attempts += 1
        answer = look()
        waited = clock() - started
        if settled(answer) or waited + interval > wait_seconds:
            return answer, attempts, round(waited, 1)
        sleep(interval)
