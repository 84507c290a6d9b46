"""GB 3838-2002 single-factor classes: every class limit, just inside and just outside it.

Expected values are written out by hand from standards.md §1, not derived from the TOML table,
so a wrong number in seeds/standards/gb3838-2002.toml makes these tests fail.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib

import pytest

from analytics.standards import _tables, gb3838
from analytics.standards.gb3838 import (
    WaterClass,
    class_label,
    classed_parameters,
    label_zh,
    limit,
    meets_target,
    parse_class,
    section_class,
    single_factor_class,
)
from envmon.paths import STANDARDS_DIR

# (parameter, waterbody, value, expected class); 6 = 劣V. Limits belong to the better class.
MAX_ROWS = [
    # NH3-N 0.15 / 0.5 / 1.0 / 1.5 / 2.0
    ("nh3n", "river", 0.0, 1),
    ("nh3n", "river", 0.15, 1),
    ("nh3n", "river", 0.1501, 2),
    ("nh3n", "river", 0.5, 2),
    ("nh3n", "river", 0.5001, 3),
    ("nh3n", "river", 0.9999, 3),
    ("nh3n", "river", 1.0, 3),
    ("nh3n", "river", 1.0001, 4),
    ("nh3n", "river", 1.5, 4),
    ("nh3n", "river", 1.5001, 5),
    ("nh3n", "river", 2.0, 5),
    ("nh3n", "river", 2.0001, 6),
    ("nh3n", "lake", 1.0001, 4),
    # CODMn 2 / 4 / 6 / 10 / 15
    ("codmn", "river", 2.0, 1),
    ("codmn", "river", 2.01, 2),
    ("codmn", "river", 4.0, 2),
    ("codmn", "river", 4.01, 3),
    ("codmn", "river", 6.0, 3),
    ("codmn", "river", 6.01, 4),
    ("codmn", "river", 10.0, 4),
    ("codmn", "river", 10.01, 5),
    ("codmn", "river", 15.0, 5),
    ("codmn", "river", 15.01, 6),
    # COD 15 / 15 / 20 / 30 / 40: I and II share 15, so 15 is class I and 15.01 is III
    ("cod", "river", 15.0, 1),
    ("cod", "river", 15.01, 3),
    ("cod", "river", 20.0, 3),
    ("cod", "river", 20.01, 4),
    ("cod", "river", 30.0, 4),
    ("cod", "river", 30.01, 5),
    ("cod", "river", 40.0, 5),
    ("cod", "river", 40.01, 6),
    # BOD5 3 / 3 / 4 / 6 / 10
    ("bod5", "river", 3.0, 1),
    ("bod5", "river", 3.01, 3),
    ("bod5", "river", 4.0, 3),
    ("bod5", "river", 4.01, 4),
    ("bod5", "river", 6.0, 4),
    ("bod5", "river", 6.01, 5),
    ("bod5", "river", 10.0, 5),
    ("bod5", "river", 10.01, 6),
    # TP river 0.02 / 0.1 / 0.2 / 0.3 / 0.4
    ("tp", "river", 0.02, 1),
    ("tp", "river", 0.0201, 2),
    ("tp", "river", 0.1, 2),
    ("tp", "river", 0.1001, 3),
    ("tp", "river", 0.2, 3),
    ("tp", "river", 0.2001, 4),
    ("tp", "river", 0.3, 4),
    ("tp", "river", 0.3001, 5),
    ("tp", "river", 0.4, 5),
    ("tp", "river", 0.4001, 6),
    # TP lake 0.01 / 0.025 / 0.05 / 0.1 / 0.2
    ("tp", "lake", 0.01, 1),
    ("tp", "lake", 0.0101, 2),
    ("tp", "lake", 0.025, 2),
    ("tp", "lake", 0.0251, 3),
    ("tp", "lake", 0.05, 3),
    ("tp", "lake", 0.0501, 4),
    ("tp", "lake", 0.1, 4),
    ("tp", "lake", 0.1001, 5),
    ("tp", "lake", 0.2, 5),
    ("tp", "lake", 0.2001, 6),
    # the same TP is class III in a river and 劣V in a lake
    ("tp", "river", 0.15, 3),
    ("tp", "lake", 0.25, 6),
    # TN lake 0.2 / 0.5 / 1.0 / 1.5 / 2.0 (class IV is 1.5, not the "105" typo of one source)
    ("tn", "lake", 0.2, 1),
    ("tn", "lake", 0.2001, 2),
    ("tn", "lake", 0.5, 2),
    ("tn", "lake", 0.5001, 3),
    ("tn", "lake", 1.0, 3),
    ("tn", "lake", 1.0001, 4),
    ("tn", "lake", 1.5, 4),
    ("tn", "lake", 1.5001, 5),
    ("tn", "lake", 2.0, 5),
    ("tn", "lake", 2.0001, 6),
    ("tn", "lake", 50.0, 6),
]

# DO is a lower bound: 7.5 / 6 / 5 / 3 / 2 mg/L.
DO_ROWS = [
    ("do", "river", 12.0, 1),
    ("do", "river", 7.5, 1),
    ("do", "river", 7.49, 2),
    ("do", "river", 6.0, 2),
    ("do", "river", 5.99, 3),
    ("do", "river", 5.0, 3),
    ("do", "river", 4.99, 4),
    ("do", "river", 3.0, 4),
    ("do", "river", 2.99, 5),
    ("do", "river", 2.0, 5),
    ("do", "river", 1.99, 6),
    ("do", "river", 0.0, 6),
    ("do", "lake", 4.99, 4),
]

# pH 6–9 for every class; outside is 劣V.
PH_ROWS = [
    ("ph", "river", 6.0, 1),
    ("ph", "river", 5.99, 6),
    ("ph", "river", 7.4, 1),
    ("ph", "river", 9.0, 1),
    ("ph", "river", 9.01, 6),
    ("ph", "lake", 9.01, 6),
]


@pytest.mark.parametrize(("parameter", "waterbody", "value", "expected"), MAX_ROWS + DO_ROWS + PH_ROWS)
def test_single_factor_class_at_and_around_every_limit(parameter, waterbody, value, expected):
    assert single_factor_class(parameter, value, waterbody) == expected


@pytest.mark.parametrize("parameter", ["cond", "turb", "temp", "flow", "level", "laeq", "pm25"])
@pytest.mark.parametrize("waterbody", ["river", "lake"])
def test_parameters_the_standard_does_not_class_give_none(parameter, waterbody):
    assert single_factor_class(parameter, 1e6, waterbody) is None


def test_tn_is_not_classed_for_rivers():
    assert single_factor_class("tn", 10.0, "river") is None
    assert "tn" not in classed_parameters("river")
    assert "tn" in classed_parameters("lake")


def test_tn_does_not_push_a_river_section_to_worse_than_v():
    wc = section_class({"do": 7.8, "nh3n": 0.1, "tp": 0.015, "tn": 12.0}, waterbody="river")
    assert (wc.cls, wc.label, wc.worst) == (1, "I", ("do", "nh3n", "tp"))
    assert "tn" not in wc.classes


def test_the_same_tn_makes_a_lake_worse_than_v():
    wc = section_class({"do": 7.8, "nh3n": 0.1, "tp": 0.005, "tn": 12.0}, waterbody="lake")
    assert (wc.cls, wc.label, wc.label_zh, wc.worst) == (6, "劣V", "重度污染", ("tn",))


def test_section_takes_the_worst_class_and_lists_ties():
    values = {"temp": 24.0, "cond": 610.0, "ph": 7.2, "do": 6.2, "codmn": 8.0, "nh3n": 1.2}
    wc = section_class(values, waterbody="river")
    assert wc.cls == 4
    assert wc.worst == ("codmn", "nh3n")
    assert wc.classes == {"ph": 1, "do": 2, "codmn": 4, "nh3n": 4}
    assert wc.worse_than("III") == ("codmn", "nh3n")
    assert wc.worse_than("IV") == ()


def test_section_class_skips_missing_values_and_refuses_nothing_to_class():
    assert section_class({"nh3n": None, "do": 4.0}).label == "IV"
    with pytest.raises(ValueError, match="no GB 3838 parameter"):
        section_class({"cond": 500.0, "tn": 3.0}, waterbody="river")


def test_ph_outside_range_makes_a_section_worse_than_v():
    wc = section_class({"ph": 9.5, "do": 8.0})
    assert (wc.label, wc.worst) == ("劣V", ("ph",))


@pytest.mark.parametrize(
    ("cls", "label", "zh"),
    [
        (1, "I", "优"),
        (2, "II", "优"),
        (3, "III", "良好"),
        (4, "IV", "轻度污染"),
        (5, "V", "中度污染"),
        (6, "劣V", "重度污染"),
    ],
)
def test_labels(cls, label, zh):
    assert class_label(cls) == label
    assert label_zh(cls) == zh
    assert parse_class(label) == cls
    assert WaterClass(cls=cls, worst=("do",), classes={"do": cls}).label_zh == zh


@pytest.mark.parametrize(
    ("text", "cls"),
    [("III", 3), ("iii", 3), ("Ⅲ", 3), ("Ⅲ类", 3), (" IV ", 4), ("劣V", 6), ("劣Ⅴ类", 6)],
)
def test_parse_class_accepts_report_spellings(text, cls):
    assert parse_class(text) == cls


@pytest.mark.parametrize("bad", ["VI", "0", "", "III+", "劣IV"])
def test_parse_class_refuses_other_text(bad):
    with pytest.raises(ValueError):
        parse_class(bad)


@pytest.mark.parametrize("bad", [0, 7, -1, True, 3.0])
def test_class_label_refuses_non_classes(bad):
    with pytest.raises(ValueError):
        class_label(bad)


@pytest.mark.parametrize(
    ("cls", "target", "ok"),
    [
        (1, "III", True),
        (3, "III", True),
        (4, "III", False),
        (5, "V", True),
        (6, "V", False),
        (2, "II", True),
        (3, "II", False),
    ],
)
def test_meets_target(cls, target, ok):
    assert meets_target(cls, target) is ok


@pytest.mark.parametrize(
    ("parameter", "cls", "waterbody", "text"),
    [
        ("nh3n", 3, "river", "≤ 1 mg/L"),
        ("nh3n", "IV", "river", "≤ 1.5 mg/L"),
        ("do", 3, "river", "≥ 5 mg/L"),
        ("do", 1, "lake", "≥ 7.5 mg/L"),
        ("tp", 3, "river", "≤ 0.2 mg/L"),
        ("tp", 3, "lake", "≤ 0.05 mg/L"),
        ("tn", 2, "lake", "≤ 0.5 mg/L"),
        ("ph", 5, "river", "6–9"),
    ],
)
def test_limit_for_messages(parameter, cls, waterbody, text):
    assert str(limit(parameter, cls, waterbody)) == text


def test_limit_refuses_what_has_no_limit():
    with pytest.raises(ValueError, match="劣V"):
        limit("nh3n", 6)
    with pytest.raises(ValueError, match="river"):
        limit("tn", 3, "river")
    with pytest.raises(ValueError, match="cond"):
        limit("cond", 3)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="waterbody"):
        single_factor_class("nh3n", 1.0, "sea")
    with pytest.raises(ValueError, match="finite"):
        single_factor_class("nh3n", math.nan)


def test_water_class_is_frozen():
    wc = section_class({"nh3n": 0.3})
    with pytest.raises(dataclasses.FrozenInstanceError):
        wc.cls = 1  # type: ignore[misc]


@pytest.fixture
def clean_caches():
    _tables.load_table.cache_clear()
    gb3838._rules.cache_clear()
    yield
    _tables.load_table.cache_clear()
    gb3838._rules.cache_clear()


def test_loader_rejects_a_non_monotonic_table(tmp_path, monkeypatch, clean_caches):
    # The "105" typo for TN class IV from one of the sources must not load silently.
    text = (STANDARDS_DIR / "gb3838-2002.toml").read_text(encoding="utf-8")
    bad = text.replace(
        "limits = { lake = [0.2, 0.5, 1.0, 1.5, 2.0] }", "limits = { lake = [0.2, 0.5, 1.0, 105.0, 2.0] }"
    )
    assert bad != text
    (tmp_path / "gb3838-2002.toml").write_text(bad, encoding="utf-8")
    monkeypatch.setattr(_tables, "STANDARDS_DIR", tmp_path)
    with pytest.raises(_tables.StandardsTableError, match="monotonic"):
        single_factor_class("tn", 1.0, "lake")


def test_loader_names_a_missing_key(tmp_path, monkeypatch, clean_caches):
    (tmp_path / "gb3838-2002.toml").write_text('source = "x"\nedition = "2002"\n')
    monkeypatch.setattr(_tables, "STANDARDS_DIR", tmp_path)
    with pytest.raises(_tables.StandardsTableError, match="in_force_from"):
        single_factor_class("tn", 1.0, "lake")


@pytest.mark.parametrize("path", sorted(STANDARDS_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_every_table_names_its_source_and_marks_verification(path):
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert {"source", "edition", "in_force_from"} <= set(data)
    assert data["edition"] in path.stem
    assert "[S]" in text  # which values were checked against a source
