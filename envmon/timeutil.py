"""Time on the wire is UTC; day/night, hourly and daily windows are China Standard Time.

>>> t = parse_time("2026-07-14T02:13:00+08:00")
>>> format_time(t)
'2026-07-13T18:13:00Z'
>>> is_night(t)
True
>>> cst_hour_start(t).isoformat()
'2026-07-14T02:00:00+08:00'
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

CST = timezone(timedelta(hours=8), "CST")

# GB 3096-2008 / noise law: day 06:00–22:00, night 22:00–06:00 local time.
NIGHT_START_HOUR = 22
NIGHT_END_HOUR = 6


class TimeFormatError(ValueError):
    """A timestamp that is not ISO 8601 with an offset."""


def parse_time(text: str) -> datetime:
    """Parse ISO 8601 with an offset (``Z`` allowed) into an aware UTC datetime.

    Naive timestamps are refused: a reading without a zone is ambiguous by 8 hours here.
    """
    try:
        t = datetime.fromisoformat(text)
    except (TypeError, ValueError) as err:
        raise TimeFormatError(f"not an ISO 8601 time: {text!r}") from err
    if t.tzinfo is None:
        raise TimeFormatError(f"time {text!r} has no UTC offset; add 'Z' or '+08:00'")
    return t.astimezone(UTC)


def format_time(t: datetime) -> str:
    """UTC, seconds resolution unless there are fractions, with a ``Z``."""
    t = t.astimezone(UTC)
    if t.microsecond:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_cst(t: datetime) -> datetime:
    return t.astimezone(CST)


@lru_cache(maxsize=8192)  # pure; a network's stations share their timestamps
def is_night(t: datetime) -> bool:
    """Night period of GB 3096 (22:00–06:00 China Standard Time)."""
    h = t.astimezone(CST).hour
    return h >= NIGHT_START_HOUR or h < NIGHT_END_HOUR


@lru_cache(maxsize=8192)  # pure; a network's stations share their timestamps
def cst_hour_start(t: datetime) -> datetime:
    return t.astimezone(CST).replace(minute=0, second=0, microsecond=0)


@lru_cache(maxsize=8192)  # pure; a network's stations share their timestamps
def cst_day_start(t: datetime) -> datetime:
    return t.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)


def epoch_ns(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def utcnow() -> datetime:
    return datetime.now(UTC)
