"""GB 3096-2008 noise: zone limits, night bursts, Leq arithmetic and the streaming aggregator."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

import pytest

from analytics.standards import gb3096
from analytics.standards.gb3096 import (
    DailyNoise,
    HourlyLeq,
    NoiseDayAggregator,
    aggregate_noise,
    exceedance_level,
    is_exceedance,
    is_night,
    is_night_burst,
    ldn,
    leq,
    limit,
    statistical_levels,
)
from envmon import timeutil
from envmon.timeutil import parse_time

# zone, day limit, night limit (standards.md §2)
ZONES = [("0", 50, 40), ("1", 55, 45), ("2", 60, 50), ("3", 65, 55), ("4a", 70, 55), ("4b", 70, 60)]


@pytest.mark.parametrize(("zone", "day", "night"), ZONES)
def test_zone_limits(zone, day, night):
    assert limit(zone, night=False) == day
    assert limit(zone, night=True) == night


@pytest.mark.parametrize(("zone", "day", "night"), ZONES)
def test_exceedance_is_strictly_above_the_limit(zone, day, night):
    assert not is_exceedance(day, zone, night=False)
    assert is_exceedance(day + 0.1, zone, night=False)
    assert not is_exceedance(night, zone, night=True)
    assert is_exceedance(night + 0.1, zone, night=True)


@pytest.mark.parametrize(("zone", "day", "night"), ZONES)
def test_night_burst_boundary(zone, day, night):
    # Lmax − Ln_limit > 15 is a burst: exactly 15 over is allowed, 15.1 is not.
    assert not is_night_burst(night + 14.9, zone)
    assert not is_night_burst(night + 15.0, zone)
    assert is_night_burst(night + 15.1, zone)


def test_zone_names_are_checked():
    assert limit(2, night=True) == 50
    assert limit("4A", night=True) == 55
    with pytest.raises(ValueError, match="zone"):
        limit("5", night=False)


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([50.0], 50.0),
        ([50.0, 50.0, 50.0], 50.0),
        # 10·lg((10^6 + 10^7)/2) = 10·lg(5.5·10^6) = 67.404
        ([60.0, 70.0], 67.404),
        # 10·lg((10^4 + 10^5 + 10^6 + 10^7)/4) = 10·lg(2 777 500) = 64.436
        ([40.0, 50.0, 60.0, 70.0], 64.436),
        # one 80 dB sample among nine 0 dB ones: 10·lg((10^8 + 9)/10) ≈ 80 − 10 = 70.0
        ([80.0] + [0.0] * 9, 70.0),
    ],
)
def test_leq_is_the_energy_mean(levels, expected):
    assert leq(levels) == pytest.approx(expected, abs=1e-3)
    assert leq(iter(levels)) == pytest.approx(expected, abs=1e-3)  # a single pass suffices


def test_leq_refuses_nothing_and_nan():
    with pytest.raises(ValueError):
        leq([])
    with pytest.raises(ValueError):
        leq([50.0, math.nan])


@pytest.mark.parametrize(
    ("ld", "ln", "expected"),
    [
        (60.0, 50.0, 60.0),  # 16·10^6 + 8·10^6 over 24 → 60
        (55.0, 55.0, 61.021),  # 55 + 10·lg((16 + 80)/24) = 55 + 10·lg 4
        (70.0, 40.0, 68.261),  # 10·lg((16·10^7 + 8·10^(0.1·50))/24) = 10·lg(6.7·10^6)
    ],
)
def test_ldn(ld, ln, expected):
    assert ldn(ld, ln) == pytest.approx(expected, abs=1e-3)


def test_percentile_levels_by_rank():
    samples = [float(v) for v in range(1, 101)]
    random.Random(7).shuffle(samples)
    # Sorted descending, of 100 samples L10 is the 10th (91), L50 the 50th, L90 the 90th.
    assert exceedance_level(samples, 10) == 91.0
    assert exceedance_level(samples, 50) == 51.0
    assert exceedance_level(samples, 90) == 11.0
    levels = statistical_levels(samples)
    assert (levels.l10, levels.l50, levels.l90) == (91.0, 51.0, 11.0)
    assert exceedance_level([42.0], 90) == 42.0
    with pytest.raises(ValueError):
        exceedance_level(samples, 100)
    with pytest.raises(ValueError):
        exceedance_level([], 10)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_leq_matches_the_gaussian_rule_of_thumb(seed):
    # Leq ≈ L50 + d²/60 with d = L10 − L90 for normally distributed levels (standards.md §2).
    rng = random.Random(seed)
    samples = [rng.gauss(60.0, 3.0) for _ in range(20_000)]
    s = statistical_levels(samples)
    d = s.l10 - s.l90
    assert leq(samples) == pytest.approx(s.l50 + d * d / 60, abs=0.25)


@pytest.mark.parametrize(
    ("text", "night"),
    [
        ("2026-07-14T05:59:59+08:00", True),
        ("2026-07-14T06:00:00+08:00", False),
        ("2026-07-14T21:59:59+08:00", False),
        ("2026-07-14T22:00:00+08:00", True),
        ("2026-07-14T00:00:00+08:00", True),
        ("2026-07-13T22:00:00Z", False),  # 06:00 CST
        ("2026-07-13T21:59:00Z", True),  # 05:59 CST
    ],
)
def test_is_night_uses_china_standard_time(text, night):
    assert is_night(parse_time(text)) is night


def test_table_periods_agree_with_timeutil():
    # Everything else in envmon uses timeutil; a local redefinition must change both.
    assert gb3096._noise().day_start_hour == timeutil.NIGHT_END_HOUR
    assert gb3096._noise().night_start_hour == timeutil.NIGHT_START_HOUR


def _day_samples(day: str, *, day_level: float, night_level: float, step_min: int = 30):
    t = parse_time(f"{day}T00:00:00+08:00")
    for k in range(24 * 60 // step_min):
        when = t + timedelta(minutes=k * step_min)
        yield when, night_level if is_night(when) else day_level


def test_full_day_gives_24_hours_and_ld_ln_ldn():
    out = list(aggregate_noise(_day_samples("2026-07-14", day_level=60.0, night_level=50.0)))
    hours = [s for s in out if isinstance(s, HourlyLeq)]
    days = [s for s in out if isinstance(s, DailyNoise)]
    assert len(hours) == 24 and len(days) == 1
    assert [h.start.hour for h in hours] == list(range(24))
    assert all(h.samples == 2 for h in hours)
    assert [h.night for h in hours] == [True] * 6 + [False] * 16 + [True] * 2
    d = days[0]
    assert d.day == date(2026, 7, 14)
    assert (d.day_hours, d.night_hours) == (16, 8)
    assert d.ld == pytest.approx(60.0)
    assert d.ln == pytest.approx(50.0)
    assert d.ldn == pytest.approx(60.0)


def test_hourly_leq_is_the_energy_mean_of_its_samples():
    agg = NoiseDayAggregator()
    t = parse_time("2026-07-14T10:00:00+08:00")
    assert agg.add(t, 50.0) == []
    assert agg.add(t + timedelta(minutes=30), 60.0) == []
    (hour,) = agg.add(t + timedelta(hours=1), 55.0)
    # 10·lg((10^5 + 10^6)/2) = 57.404
    assert hour.leq == pytest.approx(57.404, abs=1e-3)
    assert (hour.start.isoformat(), hour.samples, hour.night) == ("2026-07-14T10:00:00+08:00", 2, False)


def test_daily_levels_weigh_hours_not_samples():
    agg = NoiseDayAggregator()
    t = parse_time("2026-07-14T08:00:00+08:00")
    for m in range(60):
        agg.add(t + timedelta(minutes=m), 50.0)
    agg.add(t + timedelta(hours=1), 70.0)  # a single sample in the next hour
    day = agg.flush()[-1]
    # hour-weighted: 10·lg((10^5 + 10^7)/2) = 67.033; sample-weighted would be ≈ 53.
    assert day.ld == pytest.approx(67.033, abs=1e-3)
    assert day.ln is None and day.ldn is None


def test_days_split_at_cst_midnight_even_for_utc_stamps():
    agg = NoiseDayAggregator()
    assert agg.add(parse_time("2026-07-13T15:30:00Z"), 48.0) == []  # 23:30 CST on the 13th
    out = agg.add(parse_time("2026-07-13T16:10:00Z"), 52.0)  # 00:10 CST on the 14th
    assert [type(s).__name__ for s in out] == ["HourlyLeq", "DailyNoise"]
    assert out[1].day == date(2026, 7, 13)
    assert (out[1].ln, out[1].ld, out[1].night_hours) == (pytest.approx(48.0), None, 1)
    (last_hour, last_day) = agg.flush()
    assert last_day.day == date(2026, 7, 14) and last_hour.leq == pytest.approx(52.0)
    assert agg.flush() == []


def test_late_samples_are_counted_and_dropped():
    agg = NoiseDayAggregator()
    t = parse_time("2026-07-14T10:00:00+08:00")
    agg.add(t, 50.0)
    agg.add(t + timedelta(hours=1), 50.0)
    assert agg.add(t + timedelta(minutes=10), 90.0) == []
    assert agg.late_ == 1
    hour, day = agg.flush()
    assert hour.leq == pytest.approx(50.0) and day.ld == pytest.approx(50.0)


def test_samples_within_the_open_hour_may_come_in_any_order():
    agg = NoiseDayAggregator()
    t = parse_time("2026-07-14T10:00:00+08:00")
    agg.add(t + timedelta(minutes=40), 60.0)
    agg.add(t + timedelta(minutes=5), 60.0)
    assert agg.late_ == 0
    assert agg.flush()[0].samples == 2


def test_aggregation_streams():
    consumed = []

    def source():
        for when, level in _day_samples("2026-07-14", day_level=60.0, night_level=50.0):
            consumed.append(when)
            yield when, level

    first = next(aggregate_noise(source()))
    assert isinstance(first, HourlyLeq) and first.start.hour == 0
    assert len(consumed) == 3  # two samples of hour 0 and the one that closed it


def test_aggregator_refuses_naive_times_and_bad_levels():
    agg = NoiseDayAggregator()
    with pytest.raises(ValueError, match="offset"):
        agg.add(parse_time("2026-07-14T10:00:00+08:00").replace(tzinfo=None), 50.0)
    with pytest.raises(ValueError):
        agg.add(parse_time("2026-07-14T10:00:00+08:00"), math.inf)
