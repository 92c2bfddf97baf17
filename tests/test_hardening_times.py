"""Issue 10 (hardening), times: out-of-range times are usage errors naming the range, `HH:MM`
is the most recent past instant with that clock time, and an incident cannot start before a
sane lower bound (30 days back; `incident log --backfill` for older ones, never before 2000).

At e0d454e: `999999d ago` and `--since 999999d` raised OverflowError (a traceback, exit 1),
`23:50` typed at 00:05 was "in the future", and a 1970 start was accepted.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from vedrun.timeutil import parse_moment, parse_start, since


@pytest.mark.parametrize("args", [
    ["incident", "log", "--severity", "P0", "--title", "x", "--started-at", "999999d ago"],
    ["incident", "log", "--severity", "P0", "--title", "x", "--started-at", "99999999999999999999w ago"],
    ["incident", "list", "--since", "999999d"],
    ["metrics", "--since", "999999d"],
    ["p1-noop", "--started-at", "999999d ago"],
])
def test_huge_durations_are_usage_errors_naming_the_range(run, args):
    """OverflowError tracebacks at e0d454e; now exit 2 and the accepted range."""
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "30 days ago to now" in result.output or "up to 36500d" in result.output


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York"])
def test_a_clock_time_just_after_midnight_means_yesterday(monkeypatch, zone):
    """`--started-at 23:50` typed at 00:05: e0d454e said "in the future"."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        reference = datetime(2026, 11, 26, 0, 5).astimezone()  # 00:05 local
        moment = parse_moment("23:50", reference).astimezone()
        assert (moment.year, moment.month, moment.day, moment.hour, moment.minute) == (2026, 11, 25, 23, 50)
        earlier = parse_moment("00:01", reference).astimezone()  # earlier today stays today
        assert (earlier.day, earlier.hour, earlier.minute) == (26, 0, 1)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_start_too_far_back_is_refused_and_says_how_to_record_an_older_one(run):
    """A 1970 start (an epoch typo) skews every MTTR average: e0d454e accepted it."""
    result = run("incident", "log", "--severity", "P0", "--title", "x", "--started-at",
                 "1970-01-01T00:00:00Z")
    assert result.exit_code == 2, result.output
    assert "from 30 days ago to now" in result.output and "--backfill" in result.output
    runbook = run("p1-noop", "--started-at", "40d ago")
    assert runbook.exit_code == 2 and "30 days ago" in runbook.output

    older = run("incident", "log", "--backfill", "--severity", "P1", "--title", "last quarter",
                "--started-at", "2026-01-15T10:00:00Z", "--json")
    assert older.exit_code == 0, older.output
    assert json.loads(older.output)["started_at"] == "2026-01-15T10:00:00.000Z"
    epoch = run("incident", "log", "--backfill", "--severity", "P1", "--title", "x",
                "--started-at", "1970-01-01T00:00:00Z")
    assert epoch.exit_code == 2 and "from 2000-01-01" in epoch.output


def test_the_bounds_in_timeutil():
    reference = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
    assert parse_start("29d ago", reference) == reference - timedelta(days=29)
    with pytest.raises(ValueError, match="too far back"):
        parse_start("31d ago", reference)
    with pytest.raises(ValueError, match="out of range"):
        parse_moment("0001-01-01T00:00+05:00", reference)
    with pytest.raises(ValueError, match="not a clock time"):
        parse_moment("24:10", reference)
    assert since("36500d", reference).year == 1926
    with pytest.raises(ValueError, match="up to 36500d"):
        since("36501d", reference)
