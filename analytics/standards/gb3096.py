"""GB 3096-2008 environmental noise: zone limits, Leq arithmetic and a streaming day aggregator.

All levels are dB(A). Day is 06:00–22:00 and night 22:00–06:00 China Standard Time (from the
table, so a local redefinition is a data change).

>>> limit("2", night=False), limit("2", night=True)
(60.0, 50.0)
>>> round(leq([60.0, 70.0]), 2)
67.4
>>> is_night_burst(70.0, "3"), is_night_burst(70.1, "3")
(False, True)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from analytics.standards._tables import StandardsTableError, check_finite, load_table
from envmon.timeutil import CST, cst_hour_start

TABLE = "gb3096-2008"
ZONES = ("0", "1", "2", "3", "4a", "4b")


@dataclass(frozen=True, slots=True)
class _Noise:
    limits: dict[str, tuple[float, float]]  # zone -> (day, night)
    day_start_hour: int
    night_start_hour: int
    burst_margin: float


@cache
def _noise() -> _Noise:
    raw = load_table(TABLE)
    limits = {str(z): (float(v["day"]), float(v["night"])) for z, v in raw["zone"].items()}
    if set(limits) != set(ZONES):
        raise StandardsTableError(f"{TABLE}.toml: zones must be {ZONES}, got {sorted(limits)}")
    day, night = raw["periods"]["day_start_hour"], raw["periods"]["night_start_hour"]
    if not (isinstance(day, int) and isinstance(night, int) and 0 <= day < night <= 24):
        raise StandardsTableError(f"{TABLE}.toml: periods must be whole hours, day < night")
    return _Noise(limits, day, night, float(raw["night_burst"]["max_over_night_limit"]))


def _zone(zone: str | int) -> str:
    z = str(zone).strip().lower()
    if z not in ZONES:
        raise ValueError(f"GB 3096 zone must be one of {ZONES}, got {zone!r}")
    return z


def limit(zone: str | int, *, night: bool) -> float:
    """Leq limit of a functional zone ("0".."3", "4a", "4b") by day or by night.

    >>> limit("4a", night=True), limit(1, night=False)
    (55.0, 55.0)
    """
    day_limit, night_limit = _noise().limits[_zone(zone)]
    return night_limit if night else day_limit


def is_night(t: datetime) -> bool:
    """True in the night period (22:00–06:00 CST) of an aware datetime.

    >>> from envmon.timeutil import parse_time
    >>> is_night(parse_time("2026-07-14T21:59:59+08:00"))
    False
    >>> is_night(parse_time("2026-07-13T14:00:00Z"))  # 22:00 CST
    True
    """
    if t.tzinfo is None:
        raise ValueError("time must carry a UTC offset (night is defined in CST)")
    n = _noise()
    hour = t.astimezone(CST).hour
    return not n.day_start_hour <= hour < n.night_start_hour


def is_exceedance(level: float, zone: str | int, *, night: bool) -> bool:
    """True when an Leq is above the zone's limit for the period (the limit itself complies).

    >>> is_exceedance(50.0, "2", night=True), is_exceedance(50.1, "2", night=True)
    (False, True)
    """
    return check_finite("leq", level) > limit(zone, night=night)


def is_night_burst(lmax: float, zone: str | int) -> bool:
    """Night burst: Lmax more than 15 dB(A) above the zone's night limit (15 exactly is allowed).

    Only meaningful for a night-time Lmax; the caller decides the period.

    >>> is_night_burst(60.0, "1"), is_night_burst(60.1, "1")
    (False, True)
    """
    return check_finite("lmax", lmax) - limit(zone, night=True) > _noise().burst_margin


def leq(levels: Iterable[float]) -> float:
    """Equivalent level of equally spaced samples: 10·lg(mean(10^(0.1·L))).

    >>> leq([50.0, 50.0, 50.0])
    50.0
    >>> round(leq([40.0, 50.0, 60.0, 70.0]), 2)  # 10·lg(11 110 000/4)
    64.44
    """
    total, n = 0.0, 0
    for level in levels:
        total += 10.0 ** (0.1 * check_finite("level", level))
        n += 1
    if n == 0:
        raise ValueError("leq of no samples")
    return 10.0 * math.log10(total / n)


def ldn(ld: float, ln: float) -> float:
    """Day–night level with the 10 dB night penalty: 10·lg((16·10^(Ld/10) + 8·10^((Ln+10)/10))/24).

    >>> round(ldn(60.0, 50.0), 2)
    60.0
    >>> round(ldn(55.0, 55.0), 2)  # 55 + 10·lg((16 + 8·10)/24) = 55 + 10·lg 4
    61.02
    """
    ld, ln = check_finite("ld", ld), check_finite("ln", ln)
    return 10.0 * math.log10((16 * 10.0 ** (0.1 * ld) + 8 * 10.0 ** (0.1 * (ln + 10.0))) / 24)


def exceedance_level(levels: Iterable[float], percent: float) -> float:
    """L_N: the level exceeded N % of the time (sorted descending, the ceil(N·n/100)-th sample).

    >>> samples = [float(v) for v in range(1, 101)]  # 1..100 dB
    >>> exceedance_level(samples, 10), exceedance_level(samples, 50), exceedance_level(samples, 90)
    (91.0, 51.0, 11.0)
    """
    if not 0 < percent < 100:
        raise ValueError(f"percent must be in (0, 100), got {percent!r}")
    ordered = sorted((check_finite("level", v) for v in levels), reverse=True)
    if not ordered:
        raise ValueError("exceedance level of no samples")
    # "Of 100 samples, L10 is the 10th": index ceil(N·n/100) - 1, at least the first sample.
    rank = max(1, math.ceil(percent * len(ordered) / 100))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class StatisticalLevels:
    """L10 (≈ peaks), L50 (median) and L90 (≈ background) of a set of samples.

    >>> statistical_levels([50.0, 52.0, 54.0, 56.0, 58.0, 60.0, 62.0, 64.0, 66.0, 68.0])
    StatisticalLevels(l10=68.0, l50=60.0, l90=52.0)
    """

    l10: float
    l50: float
    l90: float


def statistical_levels(levels: Iterable[float]) -> StatisticalLevels:
    """L10, L50 and L90 in one pass over the samples (see ``exceedance_level``)."""
    data = list(levels)
    return StatisticalLevels(*(exceedance_level(data, p) for p in (10, 50, 90)))


@dataclass(frozen=True, slots=True)
class HourlyLeq:
    """Leq of one CST clock hour (``start`` is the hour's start in CST)."""

    start: datetime
    leq: float
    samples: int
    night: bool


@dataclass(frozen=True, slots=True)
class DailyNoise:
    """Ld, Ln and Ldn of one CST calendar day, with the number of hours that had samples.

    The night of a calendar day is 00:00–06:00 plus 22:00–24:00 (as HJ 212 daily records keep
    it). A period without any hourly value is None, and so is Ldn unless both exist.
    """

    day: date
    ld: float | None
    ln: float | None
    ldn: float | None
    day_hours: int
    night_hours: int


NoiseSummary = HourlyLeq | DailyNoise


class NoiseDayAggregator:
    """Streaming hourly Leq and daily Ld/Ln/Ldn for ONE station, from (time, LAeq) samples.

    Feed samples in time order; ``add`` returns what the sample closed (the previous hour's
    ``HourlyLeq`` and, at a CST date change, the previous day's ``DailyNoise``); ``flush``
    closes the open hour and day. Memory is constant: an energy sum for the open hour and two
    for the open day.

    - Hourly Leq is the energy mean of the hour's samples (samples are taken as equally spaced).
    - Ld and Ln are energy means of the hourly Leqs of the period, every hour weighing the same,
      so a gap in sampling does not let the rest of the hour count double.
    - A sample older than the open hour cannot be placed any more; it is counted in ``late_``
      and dropped (never raised: one late row must not stop a replay).

    >>> from datetime import timedelta
    >>> from envmon.timeutil import parse_time
    >>> agg = NoiseDayAggregator()
    >>> t0 = parse_time("2026-07-14T21:00:00+08:00")
    >>> out = [s for m in range(0, 180, 30) for s in agg.add(t0 + timedelta(minutes=m), 60.0)]
    >>> [(h.start.hour, h.leq, h.night) for h in out]
    [(21, 60.0, False), (22, 60.0, True)]
    >>> agg.flush()[-1]
    DailyNoise(day=datetime.date(2026, 7, 14), ld=60.0, ln=60.0, ldn=66.02...,
               day_hours=1, night_hours=2)
    """

    def __init__(self) -> None:
        self.hour_: datetime | None = None  # start (CST) of the open hour
        self.day_: date | None = None  # CST date of the open day
        self.hour_energy_ = 0.0
        self.hour_samples_ = 0
        self.day_energy_ = 0.0  # sum of 10^(0.1·Lh) over closed day-period hours of the open day
        self.day_hours_ = 0
        self.night_energy_ = 0.0
        self.night_hours_ = 0
        self.late_ = 0

    def add(self, time: datetime, laeq: float) -> list[NoiseSummary]:
        """Take one sample; return the hour and day summaries that it closed (often none)."""
        if time.tzinfo is None:
            raise ValueError("sample time must carry a UTC offset")
        energy = 10.0 ** (0.1 * check_finite("laeq", laeq))
        hour = cst_hour_start(time)
        out: list[NoiseSummary] = []
        if self.hour_ is not None and hour < self.hour_:
            self.late_ += 1
            return out
        if self.hour_ is not None and hour > self.hour_:
            day_changed = hour.date() != self.day_
            out.append(self._close_hour())
            if day_changed:
                out.append(self._close_day())
        if self.hour_ is None:
            self.hour_, self.day_ = hour, hour.date()
        self.hour_energy_ += energy
        self.hour_samples_ += 1
        return out

    def flush(self) -> list[NoiseSummary]:
        """Close the open hour and the open day (end of a replay, or a station going away)."""
        if self.hour_ is None:
            return []
        return [self._close_hour(), self._close_day()]

    def _close_hour(self) -> HourlyLeq:
        assert self.hour_ is not None
        level = 10.0 * math.log10(self.hour_energy_ / self.hour_samples_)
        summary = HourlyLeq(self.hour_, level, self.hour_samples_, is_night(self.hour_))
        if summary.night:
            self.night_energy_ += 10.0 ** (0.1 * level)
            self.night_hours_ += 1
        else:
            self.day_energy_ += 10.0 ** (0.1 * level)
            self.day_hours_ += 1
        self.hour_, self.hour_energy_, self.hour_samples_ = None, 0.0, 0
        return summary

    def _close_day(self) -> DailyNoise:
        assert self.day_ is not None
        ld = 10.0 * math.log10(self.day_energy_ / self.day_hours_) if self.day_hours_ else None
        ln = (
            10.0 * math.log10(self.night_energy_ / self.night_hours_) if self.night_hours_ else None
        )
        summary = DailyNoise(
            day=self.day_,
            ld=ld,
            ln=ln,
            ldn=ldn(ld, ln) if ld is not None and ln is not None else None,
            day_hours=self.day_hours_,
            night_hours=self.night_hours_,
        )
        self.day_energy_, self.day_hours_ = 0.0, 0
        self.night_energy_, self.night_hours_ = 0.0, 0
        return summary


def aggregate_noise(samples: Iterable[tuple[datetime, float]]) -> Iterator[NoiseSummary]:
    """Generator form of ``NoiseDayAggregator`` for one station's time-ordered samples.

    >>> from envmon.timeutil import parse_time
    >>> rows = [(parse_time("2026-07-14T23:10:00+08:00"), 50.0),
    ...         (parse_time("2026-07-15T00:10:00+08:00"), 50.0)]
    >>> [type(s).__name__ for s in aggregate_noise(rows)]
    ['HourlyLeq', 'DailyNoise', 'HourlyLeq', 'DailyNoise']
    """
    agg = NoiseDayAggregator()
    for time, level in samples:
        yield from agg.add(time, level)
    yield from agg.flush()
