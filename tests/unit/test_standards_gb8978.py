"""GB 8978-1996 integrated wastewater discharge limits (grades 1, 2, 3)."""

from __future__ import annotations

import pytest

from analytics.standards import gb8978

# (item, grade 1, 2, 3), None = no limit (standards.md §5)
TABLE = [
    ("cod", 100, 150, 500),
    ("bod5", 20, 30, 300),
    ("ss", 70, 150, 400),
    ("nh3n", 15, 25, None),
    ("phosphate", 0.5, 1.0, None),
]


@pytest.mark.parametrize(("item", "g1", "g2", "g3"), TABLE)
def test_limits_at_every_grade(item, g1, g2, g3):
    for grade, expected in zip((1, "2", " 3 "), (g1, g2, g3), strict=True):
        lim = gb8978.limit(item, grade)
        assert (None if lim is None else lim.upper) == expected
        if lim is not None:
            assert lim.met_by(expected) and not lim.met_by(expected * 1.001)


def test_ph_range_at_every_grade():
    assert {(gb8978.limit("ph", g).lower, gb8978.limit("ph", g).upper) for g in gb8978.GRADES} == {(6.0, 9.0)}


def test_a_bad_grade_or_item_is_refused_with_what_is_allowed():
    with pytest.raises(ValueError, match="grade must be one of"):
        gb8978.limit("cod", "1A")
    with pytest.raises(ValueError, match="tabled here for"):
        gb8978.limit("cond", 1)


def test_every_grade_has_the_name_the_standard_gives_it():
    assert gb8978.GRADE_NAMES == {"1": "一级", "2": "二级", "3": "三级"}
    assert set(gb8978.GRADE_NAMES) == set(gb8978.GRADES)


@pytest.mark.parametrize(("cls", "grade"), [("I", "1"), ("II", "1"), ("III", "1"), ("Ⅲ类", "1"), ("IV", "2"),
                                            ("V", "2"), ("劣V", "2"), (None, "1")])
def test_the_receiving_waters_class_sets_the_grade(cls, grade):
    assert gb8978.grade_for_water(cls) == grade


def test_a_class_that_is_none_of_gb3838s_is_refused():
    with pytest.raises(ValueError, match="GB 3838 class"):
        gb8978.grade_for_water("VI")


@pytest.mark.parametrize(("values", "grade", "broken"), [
    ({"cod": 100.0, "nh3n": 15.0, "ph": 6.0}, "1", set()),  # at the limits: complies
    ({"cod": 100.01, "nh3n": 15.0, "ph": 9.0}, "1", {"cod"}),
    ({"cod": 100.01, "nh3n": 15.01, "ph": 9.01}, "2", {"ph"}),
    ({"ph": 5.99, "nh3n": 400.0}, "3", {"ph"}),  # grade 3 sets no NH3-N limit
    ({"cod": None, "tp": 5.0, "cond": 3000.0, "flow": 40.0}, "1", set()),  # none tabled or judged
])
def test_a_days_means_are_judged_item_by_item(values, grade, broken):
    assert set(gb8978.exceeds(values, grade)) == broken


def test_a_value_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError, match="cod"):
        gb8978.exceeds({"cod": float("nan")}, "1")
