"""HJ 633 AQI, editions 2012 and 2026: every breakpoint, round-up, rounding and special rules.

The breakpoint columns below are copied by hand from standards.md §4 (not read from the TOML),
so a wrong number in seeds/standards/hj633-*.toml — e.g. the SO2 24 h column replaced by the
1 h one, as in caiyunapp/aqi-hub — makes these tests fail.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date
from fractions import Fraction

import pytest

from analytics.standards.hj633 import (
    AQIResult,
    aqi_category,
    aqi_daily,
    aqi_hourly,
    edition_for,
    iaqi,
    o3_8h_moving_average,
    round_gbt8170,
)

IAQI = [0, 50, 100, 150, 200, 300, 400, 500]
COLUMNS_2012 = {
    ("so2", "24h"): [0, 50, 150, 475, 800, 1600, 2100, 2620],
    ("so2", "1h"): [0, 150, 500, 650, 800],
    ("no2", "24h"): [0, 40, 80, 180, 280, 565, 750, 940],
    ("no2", "1h"): [0, 100, 200, 700, 1200, 2340, 3090, 3840],
    ("pm10", "24h"): [0, 50, 150, 250, 350, 420, 500, 600],
    ("co", "24h"): [0, 2, 4, 14, 24, 36, 48, 60],
    ("co", "1h"): [0, 5, 10, 35, 60, 90, 120, 150],
    ("o3", "1h"): [0, 160, 200, 300, 400, 800, 1000, 1200],
    ("o3", "8h"): [0, 100, 160, 215, 265, 800],
    ("pm25", "24h"): [0, 35, 75, 115, 150, 250, 350, 500],
}
COLUMNS_2026 = {
    **COLUMNS_2012,
    ("pm10", "24h"): [0, 50, 120, 250, 350, 420, 500, 600],
    ("pm25", "24h"): [0, 35, 60, 115, 150, 250, 350, 500],
}


def _breakpoint_rows():
    for edition, columns in (("2012", COLUMNS_2012), ("2026", COLUMNS_2026)):
        for (pollutant, averaging), bps in columns.items():
            for bp, index in zip(bps, IAQI, strict=False):
                yield pytest.param(
                    edition, pollutant, averaging, bp, index, id=f"{edition}-{pollutant}_{averaging}-{bp}"
                )


@pytest.mark.parametrize(("edition", "pollutant", "averaging", "conc", "expected"), list(_breakpoint_rows()))
def test_every_breakpoint_gives_exactly_its_iaqi(edition, pollutant, averaging, conc, expected):
    assert iaqi(pollutant, averaging, conc, edition=edition) == expected


def _next_to_breakpoint_rows():
    # Next to a breakpoint the IAQI moves by slope·step and is rounded UP (进位取整):
    # above: ceil(IAQI_bp + slope_above·step); below: ceil(IAQI_bp − slope_below·step).
    # 2012 does not round concentrations, so a step of 0.01 already counts; 2026 rounds per
    # GB/T 8170 first, so the smallest step that survives is 1 µg/m³ (0.1 mg/m³ for CO).
    for edition, columns in (("2012", COLUMNS_2012), ("2026", COLUMNS_2026)):
        for (pollutant, averaging), bps in columns.items():
            if edition == "2012":
                step = Fraction(1, 100)
            else:
                step = Fraction(1, 10) if pollutant == "co" else Fraction(1)
            for i, bp in enumerate(bps):
                if i + 1 < len(bps):
                    slope = Fraction(IAQI[i + 1] - IAQI[i]) / (bps[i + 1] - bp)
                    yield pytest.param(
                        edition,
                        pollutant,
                        averaging,
                        float(bp + step),
                        math.ceil(IAQI[i] + slope * step),
                        id=f"{edition}-{pollutant}_{averaging}-{bp}+",
                    )
                if i > 0:
                    slope = Fraction(IAQI[i] - IAQI[i - 1]) / (bp - bps[i - 1])
                    yield pytest.param(
                        edition,
                        pollutant,
                        averaging,
                        float(bp - step),
                        math.ceil(IAQI[i] - slope * step),
                        id=f"{edition}-{pollutant}_{averaging}-{bp}-",
                    )


@pytest.mark.parametrize(("edition", "pollutant", "averaging", "conc", "expected"), list(_next_to_breakpoint_rows()))
def test_next_to_a_breakpoint_rounds_up(edition, pollutant, averaging, conc, expected):
    assert iaqi(pollutant, averaging, conc, edition=edition) == expected


def test_next_to_breakpoint_rows_cover_the_classic_cases():
    rows = {p.id: p.values[-1] for p in _next_to_breakpoint_rows()}
    assert rows["2012-pm25_24h-75+"] == 101  # 100 + 40/35·0.01 → 101
    assert rows["2012-pm25_24h-75-"] == 100  # 100 − 50/40·0.01 = 99.9875 → 100
    assert rows["2026-no2_24h-40+"] == 52  # 50 + 50/40·1 = 51.25 → 52
    assert rows["2026-pm25_24h-60-"] == 98  # 100 − 50/25·1 = 98


@pytest.mark.parametrize(
    ("edition", "pollutant", "averaging", "conc", "expected"),
    [
        # PM2.5 24 h at the grade-2 daily limit: 75 in 2012, 60 in 2026
        ("2012", "pm25", "24h", 75, 100),
        ("2026", "pm25", "24h", 60, 100),
        # 2026, 75: 100 + (150−100)/(115−60)·(75−60) = 113.64 → 114
        ("2026", "pm25", "24h", 75, 114),
        # 2012, 35.1: 50 + 50/40·0.1 = 50.125 → 51 (round up, never to nearest)
        ("2012", "pm25", "24h", 35.1, 51),
        # 2012, 74.9: 50 + 50/40·39.9 = 99.875 → 100
        ("2012", "pm25", "24h", 74.9, 100),
        # 2026, 59: 50 + 50/25·24 = 98 exactly → 98
        ("2026", "pm25", "24h", 59, 98),
        # 2012 PM10 100: 50 + 50/100·50 = 75; 2026: 50 + 50/70·50 = 85.71 → 86
        ("2012", "pm10", "24h", 100, 75),
        ("2026", "pm10", "24h", 100, 86),
        # SO2 24 h 100: 50 + 50/100·50 = 75 (the 1 h column would give 33.3 → 34)
        ("2026", "so2", "24h", 100, 75),
        # SO2 24 h 400: 100 + 50/325·250 = 138.46 → 139 (1 h column: below 500 → < 100)
        ("2012", "so2", "24h", 400, 139),
        # CO 1 h 7.5: 50 + 50/5·2.5 = 75; NO2 1 h 150: 50 + 50/100·50 = 75
        ("2026", "co", "1h", 7.5, 75),
        ("2026", "no2", "1h", 150, 75),
        # O3 8 h 130: 50 + 50/60·30 = 75; O3 1 h 250: 100 + 50/100·50 = 125
        ("2026", "o3", "8h", 130, 75),
        ("2026", "o3", "1h", 250, 125),
        # just below a breakpoint: NO2 24 h 79: 50 + 50/40·39 = 98.75 → 99
        ("2012", "no2", "24h", 79, 99),
        # 2026 PM 1 h is scored on the daily breakpoints (real-time report)
        ("2026", "pm25", "1h", 60, 100),
        ("2026", "pm10", "1h", 120, 100),
        # above the top breakpoint: 500
        ("2012", "pm25", "24h", 501, 500),
        ("2026", "pm25", "24h", 900, 500),
        ("2026", "co", "24h", 61, 500),
    ],
)
def test_hand_computed_iaqi(edition, pollutant, averaging, conc, expected):
    assert iaqi(pollutant, averaging, conc, edition=edition) == expected


@pytest.mark.parametrize(
    ("edition", "pollutant", "averaging", "conc", "expected"),
    [
        # 2026 rounds first (GB/T 8170): a bare half goes to the even integer.
        ("2026", "pm25", "24h", 35.4, 50),  # → 35
        ("2026", "pm25", "24h", 35.5, 52),  # → 36: 50 + 50/25·1 = 52
        ("2026", "pm25", "24h", 34.5, 49),  # → 34: 50/35·34 = 48.57 → 49
        ("2026", "pm25", "24h", 34.51, 50),  # → 35: a 5 followed by a digit rounds up
        ("2012", "pm25", "24h", 35.4, 51),  # 2012 does not round: 50 + 1.25·0.4 = 50.5 → 51
        ("2026", "co", "1h", 5.05, 50),  # → 5.0 (even)
        ("2026", "co", "1h", 5.15, 52),  # → 5.2: 50 + 10·0.2 = 52
        ("2026", "co", "1h", 5.051, 51),  # → 5.1
        ("2012", "co", "1h", 5.05, 51),  # 50 + 10·0.05 = 50.5 → 51
        ("2026", "so2", "1h", 800.4, 200),  # → 800, inside the table
    ],
)
def test_2026_rounds_concentrations_per_gbt8170(edition, pollutant, averaging, conc, expected):
    assert iaqi(pollutant, averaging, conc, edition=edition) == expected


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (34.5, 0, 34.0),
        (35.5, 0, 36.0),
        (34.50001, 0, 35.0),
        (34.49, 0, 34.0),
        (0.25, 1, 0.2),
        (0.35, 1, 0.4),
        (0.251, 1, 0.3),
        (2.675, 2, 2.68),
        (-2.5, 0, -2.0),
        (35.46, 0, 35.0),
    ],
)
def test_round_gbt8170(value, decimals, expected):
    assert round_gbt8170(value, decimals) == expected


@pytest.mark.parametrize(
    ("edition", "pollutant", "averaging", "conc", "expected"),
    [
        ("2012", "so2", "1h", 800, 200),
        ("2012", "so2", "1h", 801, None),  # no 1 h IAQI: report from the 24 h value
        ("2026", "so2", "1h", 801, 200),
        ("2026", "so2", "1h", 5000, 200),
        ("2012", "o3", "8h", 800, 300),
        ("2012", "o3", "8h", 801, None),  # no 8 h IAQI: report from the 1 h value
        ("2026", "o3", "8h", 801, 300),
    ],
)
def test_special_rules_above_800(edition, pollutant, averaging, conc, expected):
    assert iaqi(pollutant, averaging, conc, edition=edition) == expected


def test_iaqi_refuses_what_the_standard_does_not_define():
    with pytest.raises(ValueError, match="1 h PM"):
        iaqi("pm25", "1h", 50, edition="2012")
    with pytest.raises(ValueError, match="8h"):
        iaqi("so2", "8h", 50)
    with pytest.raises(ValueError, match="pollutant"):
        iaqi("nh3n", "24h", 1)
    with pytest.raises(ValueError):
        iaqi("pm25", "24h", -1)
    with pytest.raises(ValueError):
        iaqi("pm25", "24h", math.nan)
    with pytest.raises(ValueError, match="edition"):
        iaqi("pm25", "24h", 10, edition="2016")


def test_iaqi_never_decreases_with_concentration():
    for edition in ("2012", "2026"):
        prev = -1
        for tenth in range(0, 6000):
            now = iaqi("pm25", "24h", tenth / 10, edition=edition)
            assert now is not None and now >= prev
            prev = now


CLEAN = {"pm25": 10, "pm10": 20, "so2": 5, "no2": 15, "co": 0.3, "o3": 40}


def test_hourly_2026():
    r = aqi_hourly({**CLEAN, "pm25": 75})
    # PM2.5 1 h 75 on daily breakpoints → 114; the others are below 50
    assert (r.aqi, r.primary, r.level, r.category_zh, r.colour) == (114, ("pm25",), 3, "轻度污染", (255, 126, 0))
    assert r.iaqi["pm25"] == 114 and r.edition == "2026"


def test_hourly_2012_uses_pm_24h_sliding_means_and_optional_o3_8h():
    r = aqi_hourly({**CLEAN, "pm25": 75, "o3_8h": 170}, edition="2012")
    # PM2.5 (24 h sliding) 75 → 100; O3 8 h 170: 100 + 50/55·10 = 109.09 → 110
    assert (r.aqi, r.primary) == (110, ("o3",))
    assert r.iaqi["pm25"] == 100


def test_2012_so2_above_800_reports_from_24h_value():
    r = aqi_hourly({**CLEAN, "so2": 900, "so2_24h": 400}, edition="2012")
    assert (r.iaqi["so2"], r.aqi, r.primary) == (139, 139, ("so2",))
    # Without the 24 h value SO2 has no IAQI; the rest: PM2.5 10 → 50/35·10 = 14.29 → 15,
    # PM10 20 → 50/50·20 = 20, NO2 1 h 15 → 7.5 → 8, CO 1 h 0.3 → 3, O3 1 h 40 → 12.5 → 13.
    r = aqi_hourly({**CLEAN, "so2": 900}, edition="2012")
    assert r.iaqi == {"pm25": 15, "pm10": 20, "so2": None, "no2": 8, "co": 3, "o3": 13}
    assert (r.aqi, r.primary, r.category_zh) == (20, (), "优")


def test_2026_so2_above_800_is_200():
    r = aqi_hourly({**CLEAN, "so2": 900})
    assert (r.iaqi["so2"], r.aqi, r.level, r.category_zh) == (200, 200, 4, "中度污染")


def test_daily_2026_o3_8h_above_800_is_300():
    r = aqi_daily({**{k: v for k, v in CLEAN.items() if k != "o3"}, "o3_8h": 900})
    assert (r.aqi, r.primary, r.level) == (300, ("o3",), 5)


def test_daily_2012_has_seven_indicators_and_rule_c():
    daily = {"pm25": 20, "pm10": 40, "so2": 10, "no2": 30, "co": 0.5, "o3_8h": 900, "o3": 900}
    r = aqi_daily(daily, edition="2012")
    # O3 8 h > 800: no 8 h IAQI; O3 max 1 h 900: 300 + 100/200·100 = 350
    assert r.iaqi["o3_8h"] is None and r.iaqi["o3"] == 350
    assert (r.aqi, r.primary, r.level, r.category_zh) == (350, ("o3",), 6, "严重污染")


def test_daily_2012_vs_2026_at_pm25_grade2_limits():
    base = {"pm10": 40, "so2": 10, "no2": 30, "co": 0.5, "o3_8h": 90}
    assert aqi_daily({**base, "pm25": 75, "o3": 100}, edition="2012").aqi == 100
    assert aqi_daily({**base, "pm25": 75}, edition="2026").aqi == 114
    assert aqi_daily({**base, "pm25": 60}, edition="2026").aqi == 100


def test_missing_pollutant_2026_is_na_unless_others_exceed_100():
    partial = {k: v for k, v in CLEAN.items() if k != "co"}
    r = aqi_hourly({**partial, "pm25": 60})  # PM2.5 → exactly 100: not > 100
    assert (r.aqi, r.level, r.category_zh, r.colour, r.primary) == (None, 0, "NA", (), ())
    assert r.iaqi["co"] is None
    r = aqi_hourly({**partial, "pm25": 61})  # 100 + 50/55·1 = 100.9 → 101 > 100
    assert (r.aqi, r.primary) == (101, ("pm25",))
    assert aqi_hourly({**CLEAN, "co": None}).aqi is None
    assert aqi_hourly({**CLEAN, "co": math.nan}).aqi is None


def test_missing_pollutant_2012_takes_max_of_available():
    r = aqi_hourly({"pm25": 60}, edition="2012")
    # 50 + 50/40·25 = 81.25 → 82
    assert (r.aqi, r.primary) == (82, ("pm25",))
    assert aqi_hourly({}, edition="2012").aqi is None


def test_aqi_runs_from_1_in_2026_and_from_0_in_2012():
    zeros = dict.fromkeys(CLEAN, 0)
    assert aqi_hourly(zeros).aqi == 1
    assert aqi_hourly(zeros, edition="2012").aqi == 0
    assert aqi_hourly(zeros).primary == ()


def test_primary_only_above_50_and_ties_all_listed():
    at_50 = {**CLEAN, "pm25": 35, "pm10": 50}
    assert (aqi_hourly(at_50).aqi, aqi_hourly(at_50).primary) == (50, ())
    r = aqi_hourly({**CLEAN, "pm25": 60, "pm10": 120})
    assert (r.aqi, r.primary) == (100, ("pm25", "pm10"))
    r = aqi_daily({"pm25": 60, "pm10": 120, "so2": 150, "no2": 80, "co": 4, "o3_8h": 160})
    assert (r.aqi, r.primary) == (100, ("pm25", "pm10", "so2", "no2", "co", "o3"))


def test_report_keys_are_checked_per_edition():
    with pytest.raises(ValueError, match="o3_8h"):
        aqi_hourly({**CLEAN, "o3_8h": 100})  # 2026 real time: 1 h values only
    with pytest.raises(ValueError, match=r"pm2\.5"):
        aqi_hourly({"pm2.5": 10})
    with pytest.raises(ValueError, match="o3"):
        aqi_daily({**CLEAN})  # 2026 daily takes o3_8h, not o3


@pytest.mark.parametrize(
    ("aqi", "level", "name", "rgb"),
    [
        (0, 1, "优", (0, 228, 0)),
        (50, 1, "优", (0, 228, 0)),
        (51, 2, "良", (255, 255, 0)),
        (100, 2, "良", (255, 255, 0)),
        (101, 3, "轻度污染", (255, 126, 0)),
        (150, 3, "轻度污染", (255, 126, 0)),
        (151, 4, "中度污染", (255, 0, 0)),
        (200, 4, "中度污染", (255, 0, 0)),
        (201, 5, "重度污染", (153, 0, 76)),
        (300, 5, "重度污染", (153, 0, 76)),
        (301, 6, "严重污染", (126, 0, 35)),
        (500, 6, "严重污染", (126, 0, 35)),
    ],
)
@pytest.mark.parametrize("edition", ["2012", "2026"])
def test_categories(aqi, level, name, rgb, edition):
    cat = aqi_category(aqi, edition)
    assert (cat.level, cat.category_zh, cat.rgb) == (level, name, rgb)


def test_category_refuses_out_of_range():
    with pytest.raises(ValueError):
        aqi_category(501)
    with pytest.raises(ValueError):
        aqi_category(-1)


def test_result_is_frozen():
    r = aqi_hourly(CLEAN)
    assert isinstance(r, AQIResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.aqi = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("at", "edition"),
    [(date(2016, 1, 1), "2012"), (date(2026, 2, 28), "2012"), (date(2026, 3, 1), "2026"), (date(2030, 1, 1), "2026")],
)
def test_edition_for(at, edition):
    assert edition_for(at) == edition


def test_o3_8h_moving_average():
    hourly = [100.0] * 5 + [180.0] * 5
    out = o3_8h_moving_average(hourly)
    assert out[:5] == [None] * 5
    # hour 5: (5·100 + 180)/6 = 113.33; hour 7: (5·100 + 3·180)/8 = 130;
    # hour 9: (3·100 + 5·180)/8 = 150
    assert out[5] == pytest.approx(680 / 6)
    assert out[7] == pytest.approx(130.0)
    assert out[9] == pytest.approx(150.0)
    gappy = [100.0, None, None, None] + [100.0] * 6
    out = o3_8h_moving_average(gappy)
    assert out[7] is None and out[8] is None  # hours 0..7 and 1..8 hold 5 valid; 6 needed
    assert out[9] == pytest.approx(100.0)  # hours 2..9: 6 valid
    assert o3_8h_moving_average([50.0] * 3, min_valid=1) == [50.0, 50.0, 50.0]
