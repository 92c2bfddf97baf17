"""Times and durations as an on-call engineer types them: ISO 8601, `10m ago`, `30d`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
# the longest period `--since` and `15m ago` accept: beyond it a date is out of datetime's range
MAX_DURATION = timedelta(days=36500)
# an incident's start: at most 30 days back, never before 2000 (a typo there skews every average)
START_MAX_AGE = timedelta(days=30)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
BACKFILL_HINT = ("To record an older incident, log it by hand: vedrun incident log --backfill "
                 "--severity P0 --title ... --started-at YYYY-MM-DDTHH:MM")


class DurationTooLong(ValueError):
    """A duration beyond MAX_DURATION."""


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with milliseconds, the store's one format (sorts as text)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_duration(text: str) -> timedelta:
    """`90s`, `10m`, `2h`, `30d`, `1w` -> timedelta; ValueError names the accepted forms."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration: use a number and a unit, e.g. 90s, 10m, 2h, 30d")
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds > MAX_DURATION.total_seconds():
        raise DurationTooLong(f"{text!r} is too long: durations go up to {MAX_DURATION.days}d "
                              "(100 years)")
    return timedelta(seconds=seconds)


def parse_moment(text: str, reference: datetime | None = None) -> datetime:
    """When something happened: ISO 8601 (local time when no zone is given), `now`,
    `15m ago` / `-15m`, or `HH:MM` (local: the most recent past instant with that clock time,
    so 23:50 typed at 00:05 is yesterday). Never in the future; ValueError, never
    OverflowError, for a time out of range."""
    reference = reference or now()
    raw = text.strip()
    lowered = raw.lower()
    try:
        if lowered == "now":
            moment = reference
        elif lowered.endswith(" ago") or lowered.startswith("-"):
            moment = reference - parse_duration(lowered.removesuffix(" ago").lstrip("-"))
        elif _CLOCK.fullmatch(raw):
            moment = _clock(raw, reference)
        else:
            moment = _iso(text, raw)
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range: give a time between {EARLIEST:%Y-%m-%d} "
                         "and now") from None
    if moment - reference > timedelta(seconds=5):
        raise ValueError(f"{text!r} is in the future; give the time the alert fired")
    return moment


def _clock(raw: str, reference: datetime) -> datetime:
    hour, minute = (int(part) for part in _CLOCK.fullmatch(raw).groups())
    if hour > 23 or minute > 59:
        raise ValueError(f"{raw!r} is not a clock time: use HH:MM from 00:00 to 23:59")
    day = reference.astimezone().date()
    moment = datetime.combine(day, time(hour, minute)).astimezone()  # local, DST-aware
    if moment > reference:  # not yet today: the most recent one was yesterday
        moment = datetime.combine(day - timedelta(days=1), time(hour, minute)).astimezone()
    return moment


def _iso(text: str, raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use ISO 8601 (2026-11-26T03:12:00Z), HH:MM, or '15m ago'"
        ) from None
    try:
        return moment.astimezone() if moment.tzinfo is None else moment  # bare: local time
    except ValueError:  # year 1 in a zone east of UTC
        raise OverflowError from None


def parse_start(text: str, reference: datetime | None = None,
                max_age: timedelta | None = START_MAX_AGE) -> datetime:
    """When an incident began: parse_moment, at most `max_age` back (None: no limit but
    EARLIEST, for a backfilled incident) and never before EARLIEST."""
    reference = reference or now()
    oldest = max(EARLIEST, reference - max_age) if max_age is not None else EARLIEST
    accepted = (f"an incident's start is accepted from {max_age.days} days ago to now"
                if max_age is not None else f"an incident's start is accepted from {EARLIEST:%Y-%m-%d}")
    try:
        moment = parse_moment(text, reference)
    except DurationTooLong:
        moment = EARLIEST - timedelta(days=1)
    if moment < oldest:
        hint = f" {BACKFILL_HINT}." if max_age is not None else ""
        raise ValueError(f"{text!r} is too far back: {accepted} (an older start would skew every "
                         f"MTTR average).{hint}")
    return moment


def since(text: str, reference: datetime | None = None) -> datetime:
    """`--since 30d` or an ISO date -> the earliest moment to include."""
    reference = reference or now()
    try:
        return reference - parse_duration(text)
    except DurationTooLong as exc:
        raise ValueError(f"{exc}; for everything, leave --since out") from None
    except ValueError:
        pass
    try:
        return parse_moment(text, reference)
    except ValueError:
        raise ValueError(f"{text!r} is not a period: use e.g. 30d, 12h, 2w or a date 2026-11-01") from None


def human(seconds: float | None) -> str:
    """`4m 05s` style, as read on a pager."""
    if seconds is None:
        return "-"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
