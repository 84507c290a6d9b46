"""Physics of the simulator: ranges, daily cycles, weather, reproducibility."""

from __future__ import annotations

import hashlib
import itertools
from datetime import timedelta

import numpy as np
import pytest

from envmon.params import load_parameters
from envmon.stations import load_registry
from envmon.timeutil import parse_time
from firmware_sim import Scenario, generate, load_scenario
from firmware_sim.common import cst_hour, weekday


@pytest.fixture(scope="module")
def month():
    return generate(load_scenario("month"), load_registry())


def test_scenarios_load() -> None:
    for name in ("demo-night", "month", "stress"):
        sc = load_scenario(name)
        assert sc.start < sc.end and sc.start.tzinfo is not None
    assert load_scenario("month").hours == 30 * 24


def test_values_stay_in_instrument_ranges(month) -> None:
    table = load_parameters()
    for sid, d in month.data.items():
        for i, p in enumerate(d.params):
            v = d.values[i][d.present]
            assert np.isfinite(v).all(), (sid, p)
            assert v.min() >= table[p].range_min, (sid, p, v.min())
            assert v.max() <= table[p].range_max, (sid, p, v.max())


def test_readings_are_time_ordered_and_valid() -> None:
    sim = generate(load_scenario("demo-night"), load_registry())
    times = [r.time for r in sim.readings()]
    assert len(times) == sim.n_readings
    assert all(a <= b for a, b in itertools.pairwise(times))


def _hourly_mean(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    h = cst_hour(t).astype(int)
    return np.array([v[h == k].mean() for k in range(24)])


def test_do_and_ph_follow_photosynthesis(month) -> None:
    # Afternoon high, pre-dawn low — at rivers and (more strongly) lakes.
    for sid in ("TZ_TOWN", "FH_LAKE", "TP_DONGCAI"):
        for p in ("do", "ph"):
            t, v = month.data[sid].series(p)
            hm = _hourly_mean(t, v)
            assert 13 <= int(np.argmax(hm)) <= 18, (sid, p, hm.round(2))
            assert int(np.argmin(hm)) in (2, 3, 4, 5, 6, 7), (sid, p, hm.round(2))
    lake = np.ptp(_hourly_mean(*month.data["FH_LAKE"].series("do")))
    river = np.ptp(_hourly_mean(*month.data["TZ_TOWN"].series("do")))
    assert lake > river


def test_water_levels_are_plausible_for_classes(month) -> None:
    _, nh3n = month.data["TP_DONGCAI"].series("nh3n")  # class II boundary section
    assert 0.15 < np.median(nh3n) < 0.5
    _, tp = month.data["TZ_TOWN"].series("tp")  # class III river
    assert 0.08 < np.median(tp) < 0.2
    _, cond = month.data["TZ_TOWN"].series("cond")
    assert 300 < np.median(cond) < 700
    _t, temp = month.data["TZ_TOWN"].series("temp")
    assert 24 < np.median(temp) < 32  # July


def test_rain_raises_flow_and_turbidity_and_dilutes_conductivity(month) -> None:
    wx = month.weather
    d = month.data["HQT_HENGGANG"]
    t, flow = d.series("flow")
    _, turb = d.series("turb")
    _, cond = d.series("cond")
    wet = wx.sample("river", t) > 1.4
    dry = wx.sample("river", t) < 1.05
    assert wet.sum() > 20 and dry.sum() > 1000
    assert flow[wet].mean() > 1.2 * flow[dry].mean()
    assert turb[wet].mean() > 1.3 * turb[dry].mean()
    assert cond[wet].mean() < 0.95 * cond[dry].mean()


def test_first_flush_at_rain_outfall(month) -> None:
    d = month.data["OF_XT_RAIN"]
    _t, flow = d.series("flow")
    _, cod = d.series("cod")
    running = flow > 50
    assert running.any()
    # Storm starts carry more COD than later in the same storm.
    starts = np.nonzero(running[1:] & ~running[:-1])[0] + 1
    early, late = [], []
    for s in starts:
        run = np.nonzero(~running[s:])[0]
        n = int(run[0]) if len(run) else len(running) - s
        if n >= 8:
            early.append(cod[s : s + 3].max())
            late.append(cod[s + n - 3 : s + n].mean())
    assert early and np.mean(early) > 1.5 * np.mean(late)


def test_noise_day_night_and_weekend(month) -> None:
    t, leq = month.data["NZ_JS_G320"].series("laeq")
    h = cst_hour(t)
    energy = lambda x: 10 * np.log10(np.mean(10 ** (x / 10)))  # noqa: E731
    ld = energy(leq[(h >= 6) & (h < 22)])
    ln = energy(leq[(h >= 22) | (h < 6)])
    assert 62 < ld < 72 and ld - ln > 5
    _, lmax = month.data["NZ_JS_G320"].series("lmax")
    assert (lmax >= leq).all()
    wd = weekday(t)
    rush = (h >= 7) & (h < 9)
    assert energy(leq[rush & (wd < 5)]) > energy(leq[rush & (wd >= 5)]) + 0.5


def test_air_rush_hours_and_ozone_afternoon(month) -> None:
    t, o3 = month.data["AQ_JS_CENTER"].series("o3")
    assert 12 <= int(np.argmax(_hourly_mean(t, o3))) <= 17
    t, no2 = month.data["AQ_JS_CENTER"].series("no2")
    hm = _hourly_mean(t, no2)
    assert hm[8] > hm[14] and hm[19] > hm[14]
    # Regional air mass: stations are correlated.
    a = month.data["AQ_JS_CENTER"].series("pm25")[1]
    b = month.data["AQ_WJ_FENHU"].series("pm25")[1]
    n = min(len(a), len(b))
    assert np.corrcoef(a[:n], b[:n])[0, 1] > 0.5


def _digest(sim) -> str:
    h = hashlib.sha256()
    for lines in sim.csv_lines():
        h.update("".join(lines).encode())
    for e in sim.truth:
        h.update(repr(sorted(e.items())).encode())
    return h.hexdigest()


def test_same_seed_same_output_other_seed_other_output(tmp_path) -> None:
    sc = load_scenario("month")
    start = parse_time("2026-07-09T00:00:00+08:00")
    short = Scenario(
        **{
            **{f: getattr(sc, f) for f in sc.__dataclass_fields__},
            "start": start,
            "end": start + timedelta(days=2),
        }
    )
    reg = load_registry()
    a, b = generate(short, reg), generate(short, reg)
    assert _digest(a) == _digest(b)
    assert _digest(generate(short, reg, seed=99)) != _digest(a)
    a.write_csv(tmp_path / "a.csv")
    b.write_csv(tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_a_station_s_own_flow_sets_its_river_and_how_much_a_pipe_is_diluted() -> None:
    # tests/data/networks/canal_hills.toml gives each river station its flow (flow_m3s): a
    # hill creek of 0.7 m³/s and a canal of 30 m³/s. The same 50 L/s of sewage is 7 % of
    # the creek and 0.2 % of the canal; the simulated river must carry the registry's flow.
    from envmon.paths import ROOT
    from firmware_sim.physics import water_profile
    from firmware_sim.scenario import for_network

    reg = load_registry(ROOT / "tests/data/networks/canal_hills.toml")
    assert water_profile(reg["QX1"]).flow_l_s == 700.0
    assert water_profile(reg["YH1"]).flow_l_s == 30_000.0
    sc, _ = for_network(load_scenario("demo-night"), reg)  # its one event is not here
    sim = generate(sc, reg)
    for sid, q in (("QX1", 700.0), ("YH1", 30_000.0)):
        _, flow = sim.data[sid].series("flow")
        assert 0.7 * q < float(np.median(flow)) < 1.3 * q, sid
