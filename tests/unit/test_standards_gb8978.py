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
