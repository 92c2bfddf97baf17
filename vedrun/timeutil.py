"""Times and durations as an on-call engineer types them: ISO 8601, `10m ago`, `30d`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


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
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_moment(text: str, reference: datetime | None = None) -> datetime:
    """When something happened: ISO 8601 (local time when no zone is given), `now`,
    `15m ago` / `-15m`, or `HH:MM` today (local). Never in the future."""
    reference = reference or now()
    raw = text.strip()
    lowered = raw.lower()
    if lowered == "now":
        moment = reference
    elif lowered.endswith(" ago") or lowered.startswith("-"):
        moment = reference - parse_duration(lowered.removesuffix(" ago").lstrip("-"))
    elif re.fullmatch(r"\d{1,2}:\d{2}", raw):
        hour, minute = (int(part) for part in raw.split(":"))
        local = reference.astimezone()
        moment = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    else:
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{text!r} is not a time: use ISO 8601 (2026-11-26T03:12:00Z), HH:MM, or '15m ago'"
            ) from None
        if moment.tzinfo is None:
            moment = moment.astimezone()  # a bare time is the engineer's local time
    if moment - reference > timedelta(seconds=5):
        raise ValueError(f"{text!r} is in the future; give the time the alert fired")
    return moment.astimezone(UTC)


def since(text: str, reference: datetime | None = None) -> datetime:
    """`--since 30d` or an ISO date -> the earliest moment to include."""
    reference = reference or now()
    try:
        return reference - parse_duration(text)
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
