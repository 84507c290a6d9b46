"""GB 18918-2002 municipal wastewater-plant discharge limits."""

from __future__ import annotations

import pytest

from analytics.standards.gb18918 import exceeds, limit

# (parameter, 1A, 1B, 2, 3), None = no limit (standards.md §5)
TABLE = [
    ("cod", 50, 60, 100, 120),
    ("bod5", 10, 20, 30, 60),
    ("ss", 10, 20, 30, 50),
    ("tn", 15, 20, None, None),
    ("nh3n", 5, 8, 25, None),
    ("tp", 0.5, 1, 3, 5),
    ("fecal_coliform", 1000, 10000, 10000, None),
]


@pytest.mark.parametrize(("parameter", "g1a", "g1b", "g2", "g3"), TABLE)
def test_limits(parameter, g1a, g1b, g2, g3):
    for grade, expected in zip(("1A", "1B", "2", "3"), (g1a, g1b, g2, g3), strict=True):
        lim = limit(parameter, grade)
        assert (None if lim is None else lim.upper) == expected
        if lim is not None:
            assert lim.met_by(expected) and not lim.met_by(expected * 1.001)


@pytest.mark.parametrize(
    ("temp", "g1a", "g1b", "g2"), [(None, 5, 8, 25), (12.1, 5, 8, 25), (12.0, 8, 15, 30), (5.0, 8, 15, 30)]
)
def test_nh3n_cold_water_limits(temp, g1a, g1b, g2):
    assert [limit("nh3n", g, water_temp=temp).upper for g in ("1A", "1B", "2")] == [g1a, g1b, g2]


def test_tp_for_plants_built_before_2006():
    assert limit("tp", "1A", plant_built_before_2006=True).upper == 1.0
    assert limit("tp", "1B", plant_built_before_2006=True).upper == 1.5


def test_ph_range_every_grade():
    for grade in ("1A", "1B", "2", "3"):
        lim = limit("ph", grade)
        assert (lim.lower, lim.upper) == (6.0, 9.0)


def test_exceeds():
    values = {"cod": 50.0, "nh3n": 5.01, "tp": 0.5, "ph": 5.9, "flow": 300.0, "tn": None}
    assert sorted(exceeds(values, "1A")) == ["nh3n", "ph"]
    assert exceeds({**values, "temp": 10.0, "ph": 7.0}, "1A") == {}
    assert exceeds({"cod": 60.0}, "1b") == {}


def test_bad_grade_and_parameter():
    with pytest.raises(ValueError, match="grade"):
        limit("cod", "1C")
    with pytest.raises(ValueError, match="does not limit"):
        limit("cond", "1A")
