"""Discharge permits: the file is checked against the registry and the parameter table."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from analytics.permits import PermitsError, load_permits, parse_permits
from envmon.paths import ROOT
from envmon.stations import load_registry

REG = load_registry()
GOOD = {"outfall": "OF_YZ_IND", "number": "P-1", "valid_from": date(2026, 1, 1), "limits": {"cod": 80}}


def test_the_sample_file_loads_against_the_zones_registry() -> None:
    permits = load_permits(ROOT / "seeds" / "permits.sample.toml", REG)
    assert len(permits) == 2
    p = permits.in_force("OF_XT_WWTP", date(2030, 6, 1))  # no valid_to: in force until replaced
    assert p is not None and str(p.limits["tp"]) == "≤ 0.3 mg/L"
    assert permits.in_force("OF_YZ_IND", date(2029, 1, 1)) is None  # after its valid_to
    assert permits.in_force("OF_LX_IND", date(2026, 7, 1)) is None  # an outfall without one


def test_a_renewed_permit_takes_over_on_its_first_day() -> None:
    old = {**GOOD, "valid_to": date(2026, 6, 30)}
    new = {**GOOD, "number": "P-2", "valid_from": date(2026, 7, 1), "limits": {"cod": 60}}
    permits = parse_permits([new, old], REG, "permits.toml")
    assert permits.in_force("OF_YZ_IND", date(2026, 6, 30)).number == "P-1"
    assert permits.in_force("OF_YZ_IND", date(2026, 7, 1)).number == "P-2"


@pytest.mark.parametrize(("change", "message"), [
    ({"outfall": "OF_NOWHERE"}, "outfall 'OF_NOWHERE' is not a station of the registry"),
    ({"outfall": "TZ_TOWN"}, "TZ_TOWN is a river_section, not an outfall"),
    ({"outfall": "OF_JZ_RAIN"}, "OF_JZ_RAIN is a rain outfall, which takes no discharge permit"),
    ({"limits": {"codd": 50}}, "limits.codd: not a parameter of the parameter table"),
    ({"limits": {"pm25": 50}}, "limits.pm25: not a water parameter"),
    ({"limits": {"cod": -5}}, "limits.cod: expected a number > 0"),
    ({"limits": {"cod": True}}, "limits.cod: expected a number > 0"),
    ({"limits": {"ph": [9, 6]}}, "limits.ph: expected a number > 0 (an upper limit) or [lower, upper]"),
    ({"limits": {}}, "'limits' must be a table with at least one parameter"),
    ({"valid_from": "2026-01-01"}, "'valid_from' must be a TOML date"),
    ({"valid_to": date(2025, 1, 1)}, "valid_to 2025-01-01 is before valid_from 2026-01-01"),
    ({"number": " "}, "'number' must be a non-empty string"),
    ({"licence": "x"}, "unknown key(s) licence"),
    ({"number": None}, "'number' is required"),  # None: the key left out
])
def test_a_bad_permit_is_refused_with_the_reason(change: dict, message: str) -> None:
    entry = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(PermitsError) as err:
        parse_permits([entry], REG, "permits.toml")
    assert message in str(err.value) and str(err.value).startswith("permits.toml: permit 1")


def test_two_permits_of_one_outfall_in_force_on_one_day_are_refused() -> None:
    other = {**GOOD, "number": "P-2", "valid_from": date(2026, 6, 1)}
    with pytest.raises(PermitsError, match="permit 2 \\(P-2\\) and P-1 are both in force for OF_YZ_IND"):
        parse_permits([GOOD, other], REG, "permits.toml")


def test_a_file_that_is_no_permits_file_says_so(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text("[permit]\noutfall = 'OF_YZ_IND'\n", encoding="utf-8")
    with pytest.raises(PermitsError, match="write \\[\\[permit\\]\\]"):
        load_permits(f, REG)
    f.write_text("[[permits]]\n", encoding="utf-8")
    with pytest.raises(PermitsError, match="unknown table\\(s\\) permits"):
        load_permits(f, REG)
    with pytest.raises(PermitsError, match="permits file not found"):
        load_permits(tmp_path / "none.toml", REG)


def test_the_permits_command_lists_what_is_in_force_and_refuses_a_bad_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from envmon.cli import main

    sample = str(ROOT / "seeds" / "permits.sample.toml")
    assert main(["permits", sample, "--on", "2029-01-01"]) == 0
    out = capsys.readouterr().out
    assert "2 permit(s), checked against the registry; in force on 2029-01-01" in out
    assert "OF_YZ_IND 姚庄工业园区企业排口: none, judged by GB 8978-1996" in out  # its permit ended 2028-12-31
    assert "OF_XT_WWTP 西塘污水处理厂排口: EXAMPLE-330421-0002 (from 2025-01-01) cod ≤ 30 mg/L" in out
    assert main(["permits", sample, "--on", "14/07/2026"]) == 2
    assert "expected a day such as 2026-07-14" in capsys.readouterr().err
    bad = tmp_path / "p.toml"
    bad.write_text('[[permit]]\noutfall = "OF_JZ_RAIN"\nnumber = "x"\nvalid_from = 2026-01-01\n[permit.limits]\ncod = 50\n',
                   encoding="utf-8")
    assert main(["permits", str(bad)]) == 2
    assert "OF_JZ_RAIN is a rain outfall" in capsys.readouterr().err
