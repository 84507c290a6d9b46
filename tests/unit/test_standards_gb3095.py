"""GB 3095 air limits: both editions, both grades, 2026 transitional → final by date."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from analytics.standards.gb3095 import PERIODS, POLLUTANTS, edition_for, limits
from analytics.standards.hj633 import iaqi

# Hand copies of standards.md §3 (grade 1, grade 2); None = no limit for that period.
G2012 = {
    ("so2", "annual"): (20, 60),
    ("so2", "24h"): (50, 150),
    ("so2", "1h"): (150, 500),
    ("no2", "annual"): (40, 40),
    ("no2", "24h"): (80, 80),
    ("no2", "1h"): (200, 200),
    ("co", "24h"): (4, 4),
    ("co", "1h"): (10, 10),
    ("o3", "8h"): (100, 160),
    ("o3", "1h"): (160, 200),
    ("pm10", "annual"): (40, 70),
    ("pm10", "24h"): (50, 150),
    ("pm25", "annual"): (15, 35),
    ("pm25", "24h"): (35, 75),
}
G2026_TRANSITIONAL = {
    **G2012,
    ("pm10", "annual"): (40, 60),
    ("pm10", "24h"): (50, 120),
    ("pm25", "annual"): (15, 30),
    ("pm25", "24h"): (35, 60),
}
G2026_FINAL = {
    **G2026_TRANSITIONAL,
    ("so2", "annual"): (20, 20),
    ("so2", "24h"): (50, 50),
    ("so2", "1h"): (150, 150),
    ("no2", "annual"): (30, 30),
    ("no2", "24h"): (50, 50),
    ("pm10", "annual"): (20, 50),
    ("pm10", "24h"): (50, 100),
    ("pm25", "annual"): (10, 25),
    ("pm25", "24h"): (25, 50),
}


def _rows():
    cases = (
        ("2012", date(2020, 1, 1), G2012),
        ("2026", date(2026, 3, 1), G2026_TRANSITIONAL),
        ("2026", date(2031, 1, 1), G2026_FINAL),
    )
    for edition, at, table in cases:
        for grade in (1, 2):
            for pollutant in POLLUTANTS:
                for period in PERIODS:
                    pair = table.get((pollutant, period))
                    expected = None if pair is None else float(pair[grade - 1])
                    yield pytest.param(
                        edition,
                        at,
                        grade,
                        pollutant,
                        period,
                        expected,
                        id=f"{edition}-{at}-g{grade}-{pollutant}-{period}",
                    )


@pytest.mark.parametrize(("edition", "at", "grade", "pollutant", "period", "expected"), list(_rows()))
def test_every_limit(edition, at, grade, pollutant, period, expected):
    assert limits(edition, grade=grade, at=at).value(pollutant, period) == expected


@pytest.mark.parametrize(
    ("at", "stage", "pm25_24h"),
    [
        (date(2026, 3, 1), "transitional", 60.0),
        (date(2030, 12, 31), "transitional", 60.0),
        (date(2031, 1, 1), "final", 50.0),
        # 2030-12-31T16:00Z is already 2031-01-01 in China
        (datetime(2030, 12, 31, 15, 59, tzinfo=UTC), "transitional", 60.0),
        (datetime(2030, 12, 31, 16, 0, tzinfo=UTC), "final", 50.0),
    ],
)
def test_2026_stage_switches_on_2031_01_01_cst(at, stage, pm25_24h):
    lim = limits("2026", grade=2, at=at)
    assert (lim.stage, lim.value("pm25", "24h")) == (stage, pm25_24h)


def test_defaults_are_2026_grade_2_today():
    lim = limits()
    assert (lim.edition, lim.grade) == ("2026", 2)
    assert lim.stage in ("transitional", "final")


def test_2012_has_no_stage():
    assert limits("2012", grade=1).stage == ""


@pytest.mark.parametrize(("at", "edition"), [(date(2026, 2, 28), "2012"), (date(2026, 3, 1), "2026")])
def test_edition_for(at, edition):
    assert edition_for(at) == edition


def test_exceeded_by_is_strict_and_none_means_no_limit():
    lim = limits("2026", grade=2, at=date(2026, 7, 1))
    assert not lim.exceeded_by("pm25", "24h", 60.0)
    assert lim.exceeded_by("pm25", "24h", 60.1)
    assert not lim.exceeded_by("pm25", "1h", 1000.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="edition"):
        limits("2016")
    with pytest.raises(ValueError, match="grade"):
        limits(grade=3)
    with pytest.raises(ValueError, match="pollutant"):
        limits().value("pm2.5", "24h")
    with pytest.raises(ValueError):
        limits(at=datetime(2027, 1, 1))  # naive: ambiguous by 8 hours


@pytest.mark.parametrize(("edition", "at"), [("2012", date(2020, 1, 1)), ("2026", date(2026, 3, 1))])
@pytest.mark.parametrize(
    ("pollutant", "period", "averaging"),
    [
        ("so2", "24h", "24h"),
        ("so2", "1h", "1h"),
        ("no2", "24h", "24h"),
        ("no2", "1h", "1h"),
        ("co", "24h", "24h"),
        ("co", "1h", "1h"),
        ("o3", "8h", "8h"),
        ("o3", "1h", "1h"),
        ("pm10", "24h", "24h"),
        ("pm25", "24h", "24h"),
    ],
)
def test_grade_2_limit_is_iaqi_100_of_the_matching_hj633(edition, at, pollutant, period, averaging):
    # HJ 633 puts IAQI 100 at the grade-2 limit of the GB 3095 of the same edition (2026: the
    # transitional stage). A mismatch means one of the two tables is wrong.
    value = limits(edition, grade=2, at=at).value(pollutant, period)
    assert value is not None
    assert iaqi(pollutant, averaging, value, edition=edition) == 100
