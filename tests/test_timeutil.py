from datetime import UTC, datetime, timedelta

import pytest

from vedrun.timeutil import human, iso, parse_duration, parse_moment, since

REF = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("2h", 7200),
                                               ("30d", 2592000), ("1w", 604800)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


def test_bad_duration_names_the_forms():
    with pytest.raises(ValueError, match=r"e\.g\. 90s, 10m"):
        parse_duration("soon")


def test_moments():
    assert parse_moment("15m ago", REF) == REF - timedelta(minutes=15)
    assert parse_moment("-5m", REF) == REF - timedelta(minutes=5)
    assert parse_moment("2026-11-26T03:12:00Z", REF) == datetime(2026, 11, 26, 3, 12, tzinfo=UTC)
    assert parse_moment("now", REF) == REF


def test_future_and_garbage_are_refused():
    with pytest.raises(ValueError, match="in the future"):
        parse_moment("2026-11-27T03:12:00Z", REF)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_moment("yesterday-ish", REF)
    with pytest.raises(ValueError, match="not a period"):
        since("lately", REF)


def test_iso_sorts_as_text_and_human():
    assert iso(REF) == "2026-11-26T03:30:00.000Z"
    assert human(65) == "1m 05s" and human(3700) == "1h 01m" and human(None) == "-"
