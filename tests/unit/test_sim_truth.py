"""Every ground-truth event leaves in the readings the signature it claims."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from envmon.paths import ROOT
from envmon.stations import load_registry
from envmon.timeutil import parse_time
from firmware_sim import generate, load_scenario
from firmware_sim.events import FLAG
from firmware_sim.instrument import noise_sd

DESIGN_KEYS = ("id", "type", "stations", "start", "end", "source", "parameters")


@pytest.fixture(scope="module")
def pair():
    sc, reg = load_scenario("month"), load_registry()
    return generate(sc, reg), generate(sc, reg, include=lambda e: False)


def test_month_has_dozens_of_events_of_every_type(pair) -> None:
    a, _ = pair
    kinds = Counter(e["type"] for e in a.truth)
    assert len(a.truth) >= 40
    for k in (
        "illegal_discharge",
        "dry_weather_flow",
        "sensor_fault",
        "station_offline",
        "noise_night_burst",
        "noise_exceedance",
        "air_episode",
    ):
        assert kinds[k] >= 1, kinds
    hard = Counter(e.get("hard") for e in a.truth)
    for h in ("small_discharge", "discharge_in_rain", "fault_mimic", "overlap"):
        assert hard[h] >= 1, hard
    faults = {e["fault"] for e in a.truth if e["type"] == "sensor_fault"}
    assert {"drift", "biofouling", "stuck", "spikes", "dropouts", "calibration"} <= faults | {
        "stuck"
    }


def test_truth_is_design_jsonl(pair, tmp_path) -> None:
    a, _ = pair
    a.write_truth(tmp_path / "t.jsonl")
    for line in (tmp_path / "t.jsonl").read_text().splitlines():
        e = json.loads(line)
        assert all(k in e for k in DESIGN_KEYS)
        assert parse_time(e["start"]) <= parse_time(e["end"])
        assert e["stations"] and all(s in a.registry for s in e["stations"])
        assert e["source"] is None or e["source"] in a.registry
        assert set(e["arrivals"]) == set(e["stations"])


def _window(d, e, sid):
    t0 = parse_time(e["arrivals"][sid]).timestamp() - 600
    t1 = parse_time(e["end"]).timestamp() + 600
    return (d.t >= t0) & (d.t <= t1)


def test_every_event_leaves_its_signature(pair) -> None:
    a, b = pair
    for e in a.truth:
        for sid in e["stations"]:
            da, db = a.data[sid], b.data[sid]
            w = _window(da, e, sid)
            both = w & da.present & db.present
            if e["type"] in (
                "illegal_discharge",
                "dry_weather_flow",
                "noise_night_burst",
                "noise_exceedance",
                "air_episode",
            ):
                sig = e["signature"][sid]
                assert sig, (e["id"], sid)
                for p, peak in sig.items():
                    i = da.params.index(p)
                    d = (da.values[i] - db.values[i])[both]
                    sd = noise_sd(p, db.values[i][both])
                    # The claimed direction, at least 3 instrument sd at some instant
                    # (1.5 allowed for rounding and the analyser's noise on the event).
                    assert (np.sign(peak) * d / sd).max() > 1.5, (e["id"], sid, p, peak)
            elif e["type"] == "sensor_fault":
                if e["fault"] == "dropouts":
                    assert (~da.present[w]).sum() > (~db.present[w]).sum(), e["id"]
                    continue
                p = e["parameters"][0]
                i = da.params.index(p)
                changed = (da.values[i] != db.values[i])[both] | (da.flags[i] != db.flags[i])[both]
                assert changed.any(), (e["id"], e["fault"])
                if e["fault"] == "calibration":
                    assert (da.flags[i][w] == FLAG["C"]).any()
            elif e["type"] == "station_offline":
                s0, s1 = parse_time(e["start"]).timestamp(), parse_time(e["end"]).timestamp()
                inside = (da.t >= s0) & (da.t < s1)
                if e["cause"] == "power":
                    assert not da.present[inside].any(), e["id"]
                else:  # link outage: stored on the node and backfilled later
                    assert da.present[inside].sum() >= 0.9 * db.present[inside].sum()


def test_illegal_discharges_are_mostly_at_night(pair) -> None:
    a, _ = pair
    from firmware_sim.common import cst_hour

    starts = [
        parse_time(e["start"]).timestamp() for e in a.truth if e["type"] == "illegal_discharge"
    ]
    h = cst_hour(np.array(starts))
    night = ((h >= 22) | (h < 5)).mean()
    assert 0.5 < night < 0.95


def test_dry_weather_flow_has_no_rain(pair) -> None:
    a, _ = pair
    for e in a.truth:
        if e["type"] == "dry_weather_flow":
            s0, s1 = parse_time(e["start"]).timestamp(), parse_time(e["end"]).timestamp()
            src = a.registry[e["source"]]
            assert src.outfall_type == "rain"
            t, rain = a.data[e["source"]].series("rain")
            assert rain[(t >= s0) & (t <= s1)].max() == 0.0
            t, flow = a.data[e["source"]].series("flow")
            assert flow[(t >= s0) & (t <= s1)].max() > 2.0


def test_demo_night_discharge_is_clear_and_reaches_downstream() -> None:
    sim = generate(load_scenario("demo-night"), load_registry())
    (e,) = sim.truth
    assert e["type"] == "illegal_discharge" and e["source"] == "OF_TZ_RAIN"
    assert e["stations"][:3] == ["OF_TZ_RAIN", "TZ_TOWN", "XT_TOWN"]
    start = parse_time(e["start"])
    assert start.hour == 16 and 25 <= start.minute <= 35  # 00:30 CST
    # Gross: conductivity at the receiving station up by more than 25 sd.
    assert e["signature"]["TZ_TOWN"]["cond"] > 25 * noise_sd("cond", 600.0)


def test_a_plume_that_passes_a_station_without_power_is_not_in_its_truth(tmp_path) -> None:
    # The demo's discharge reaches TZ_TOWN at about 01:00 CST. With TZ_TOWN's power cut from
    # 00:40 to 03:30 its data hold nothing of the plume: the truth must not say TZ_TOWN saw it
    # (a scorer would count a miss no detector could avoid), and the plume is still XT_TOWN's.
    text = (ROOT / "seeds/scenarios/demo-night.toml").read_text(encoding="utf-8")
    text += (
        '\n[[event]]\ntype = "station_offline"\nstation = "TZ_TOWN"\n'
        'start = "2026-07-15T00:40:00+08:00"\nduration_minutes = 170\ncause = "power"\n'
    )
    path = tmp_path / "cut.toml"
    path.write_text(text, encoding="utf-8")
    sim = generate(load_scenario(path), load_registry())
    (e,) = [e for e in sim.truth if e["type"] == "illegal_discharge"]
    assert "TZ_TOWN" not in e["stations"] and "TZ_TOWN" not in e["arrivals"]
    assert e["stations"][:2] == ["OF_TZ_RAIN", "XT_TOWN"]


def test_a_discharge_says_whether_it_rained_while_it_lasted(pair) -> None:
    # "raining": the gauges read rain (≥ 0.5 mm/h, the core's threshold) while it lasted.
    a, _ = pair
    gauges = [d for d in a.data.values() if "rain" in d.params]
    wet = dry = 0
    for e in a.truth:
        if e["type"] != "illegal_discharge":
            continue
        # Its first 20 min (the shortest discharge): the truth's end is the plume's last
        # trace downstream, after the pipe has closed.
        s0 = parse_time(e["start"]).timestamp()
        s1 = s0 + 1200
        most = max(float(r[(t >= s0) & (t <= s1)].max(initial=0.0)) for t, r in (g.series("rain") for g in gauges))
        if e.get("raining"):
            wet += 1
            s1 = parse_time(e["end"]).timestamp()  # it rained somewhere while it lasted
            assert max(float(r[(t >= s0) & (t <= s1)].max(initial=0.0))
                       for t, r in (g.series("rain") for g in gauges)) >= 0.3, e["id"]
        else:
            dry += 1
            assert most < 0.5, (e["id"], most)
    assert wet >= 1 and dry >= 1


def test_seen_at_is_the_first_recorded_sample_where_a_parameter_shows_the_event(pair) -> None:
    """``seen_at``: when a detector could first have seen the event in a parameter. It is at or
    within the event (before its arrival there when the peak is over 30 SDs: the arrival is 10 %
    of the peak) and the data hold the change there; an analyser's parameter is seen when its
    result holds the plume."""
    a, b = pair
    checked = held = 0
    for e in a.truth:
        if "signature" not in e:
            continue
        assert {s: set(p) for s, p in e["seen_at"].items()} == {s: set(p) for s, p in e["signature"].items()}
        for sid, at in e["seen_at"].items():
            da, db = a.data[sid], b.data[sid]
            for p, when in at.items():
                t = parse_time(when).timestamp()
                # (a sample's value covers the interval it starts: one may begin before the event)
                assert parse_time(e["start"]).timestamp() - (da.t[1] - da.t[0]) < t <= parse_time(e["end"]).timestamp()
                (k,) = np.nonzero(da.t == t)[0]
                assert da.present[k], (e["id"], sid, p)
                i = da.params.index(p)
                sd = float(np.ravel(noise_sd(p, db.values[i][k : k + 1]))[0])
                peak = e["signature"][sid][p]
                # the claimed direction there (1.5 SDs allowed for rounding and the analyser's noise)
                assert np.sign(peak) * (da.values[i][k] - db.values[i][k]) / sd > 1.5, (e["id"], sid, p)
                checked += 1
                if p == "nh3n" and not a.registry[sid].is_outfall:
                    # held between results: the sample before, still the old result, shows less
                    held += 1
                    assert abs(da.values[i][k - 1] - db.values[i][k - 1]) < abs(da.values[i][k] - db.values[i][k])
    assert checked > 100 and held > 5


def test_an_offset_shifts_one_reading_by_its_shift_until_maintenance(pair) -> None:
    """The issue's "single parameter jumping": a probe's reading shifted at one sample and
    staying shifted, the water unchanged, until the maintenance visit (flagged M)."""
    a, b = pair
    offsets = [e for e in a.truth if e.get("fault") == "offset"]
    assert len(offsets) == 3 and all(e["hard"] == "fault_mimic" for e in offsets)
    for e in offsets:
        (sid,), (p,) = e["stations"], e["parameters"]
        da, db = a.data[sid], b.data[sid]
        i = da.params.index(p)
        s0, s1 = parse_time(e["start"]).timestamp(), parse_time(e["end"]).timestamp()
        inside = (da.t >= s0) & (da.t < s1) & da.present & db.present
        diff = (da.values[i] - db.values[i])[inside]
        # (another event at the station while it lasts moves the reading too: the median holds)
        assert abs(np.median(diff) - e["shift"]) <= 0.02 * abs(e["shift"]) + 0.01, (e["id"], p)
        assert abs(diff[0] - e["shift"]) <= 0.02 * abs(e["shift"]) + 0.01, (e["id"], p)  # a jump, at once
        alone = not [x for x in a.truth if x is not e and sid in x["stations"]
                     and parse_time(x["start"]).timestamp() < s1 and parse_time(x["end"]).timestamp() > s0]
        if alone:  # nothing else moves there
            others = [k for k, q in enumerate(da.params) if q != p]
            assert np.array_equal(da.values[others][:, inside], db.values[others][:, inside])
        assert (da.flags[i][(da.t >= s1 - 1200) & (da.t < s1)] == FLAG["M"]).all()
