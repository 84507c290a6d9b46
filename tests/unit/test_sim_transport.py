"""A release travels down the registry: order, lags, dilution, dispersion, lakes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from envmon.stations import load_registry
from envmon.timeutil import parse_time
from firmware_sim import EventSpec, Scenario, generate

START = parse_time("2026-07-14T20:00:00+08:00")
RELEASE = parse_time("2026-07-14T23:00:00+08:00")
STEP = 300


@pytest.fixture(scope="module")
def runs():
    reg = load_registry()
    from datetime import timedelta

    sc = Scenario(
        name="transport",
        seed=5,
        start=START,
        end=START + timedelta(hours=20),
        rain_per_day=0.0,
        scripted=(
            EventSpec(
                "illegal_discharge",
                "OF_LX_IND",
                RELEASE,
                60,
                {"signature": "industrial", "flow_l_s": 120.0},
            ),
        ),
    )
    with_ev = generate(sc, reg)
    without = generate(sc, reg, include=lambda e: False)
    return reg, with_ev, without


def _delta(a, b, sid: str, param: str) -> tuple[np.ndarray, np.ndarray]:
    da, db = a.data[sid], b.data[sid]
    i = da.params.index(param)
    both = da.present & db.present
    return da.t[both], (da.values[i] - db.values[i])[both]


def _centroid(t: np.ndarray, d: np.ndarray) -> float:
    w = np.clip(d, 0, None)
    return float((t * w).sum() / w.sum())


def test_release_reaches_downstream_in_registry_order_with_registry_lags(runs) -> None:
    reg, a, b = runs
    chain = [s.id for s in reg.downstream_chain("OF_LX_IND")]
    assert chain == ["LXT_TAOZHUANG", "TZ_TOWN", "XT_TOWN", "HQT_HENGGANG"]
    release_centre = RELEASE.timestamp() + 30 * 60
    centres, peaks = [], []
    for sid in chain:
        t, d = _delta(a, b, sid, "cond")
        centres.append(_centroid(t, d))
        peaks.append(d.max())
        lag = reg.travel_minutes_between("OF_LX_IND", sid) * 60
        # Arrival (centre of mass of the plume) after the registry's travel time, ±1 interval.
        assert abs(centres[-1] - release_centre - lag) <= STEP, (
            sid,
            (centres[-1] - release_centre) / 60,
        )
    assert centres == sorted(centres)
    # Smaller and broader with distance.
    assert all(p1 > p2 for p1, p2 in itertools.pairwise(peaks)), peaks
    widths = []
    for sid in chain:
        t, d = _delta(a, b, sid, "cond")
        widths.append((d > 0.5 * d.max()).sum())
    assert widths[-1] > widths[0]


def test_truth_names_the_stations_in_flow_order_with_arrivals(runs) -> None:
    _reg, a, _ = runs
    (ev,) = a.truth
    assert ev["source"] == "OF_LX_IND"
    assert ev["stations"][:3] == ["OF_LX_IND", "LXT_TAOZHUANG", "TZ_TOWN"]
    arr = [parse_time(ev["arrivals"][s]) for s in ev["stations"]]
    assert arr == sorted(arr)
    for key in ("id", "type", "stations", "start", "end", "source", "parameters"):
        assert key in ev


def test_signature_of_industrial_discharge_downstream(runs) -> None:
    _, a, b = runs
    for p, sign in (("cond", 1), ("codmn", 1), ("turb", 1), ("nh3n", 1), ("do", -1)):
        _t, d = _delta(a, b, "LXT_TAOZHUANG", p)
        assert (sign * d).max() > 3 * np.std(d[: len(d) // 10] + 1e-9) and (sign * d).max() > 0, p


def test_lake_damps_and_delays() -> None:
    from datetime import timedelta

    reg = load_registry()
    # A hidden discharge on the reach YD_LAKE → DSH_LAKE (travel 360 min) ends in a lake.
    sc = Scenario(
        name="lake",
        seed=3,
        start=START,
        end=START + timedelta(hours=40),
        rain_per_day=0.0,
        scripted=(
            EventSpec(
                "illegal_discharge",
                "YD_LAKE",
                RELEASE,
                60,
                {"signature": "industrial", "flow_l_s": 400.0, "fraction": 0.5},
            ),
        ),
    )
    a = generate(sc, reg, stations=["DSH_LAKE"])
    b = generate(sc, reg, stations=["DSH_LAKE"], include=lambda e: False)
    t, d = _delta(a, b, "DSH_LAKE", "cond")
    river_like = RELEASE.timestamp() + 30 * 60 + 180 * 60
    assert d.max() > 0
    assert _centroid(t, d) > river_like + 3 * 3600  # delayed by mixing in the lake
    # Damped: the lake's peak is well below what the same mixing ratio gives in a river.
    assert d.max() < 0.4 * 400 / (400 + 60000) * 5000
