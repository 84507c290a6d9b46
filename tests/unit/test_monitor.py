"""The pure core on hand-made streams: a discharge is caught, localised and corroborated
downstream; a lone jumping parameter is a sensor fault; runoff is not a discharge."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from analytics.monitor import Monitor, MonitorConfig
from analytics.permits import Permits, parse_permits
from analytics.standards import hj633
from envmon.alerts import Event
from envmon.reading import Reading
from envmon.stations import load_registry
from envmon.timeutil import CST, parse_time

REG = load_registry()
T0 = parse_time("2026-07-13T18:00:00+08:00")
STEP = timedelta(minutes=5)
BASE = {"cond": 520.0, "nh3n": 0.45, "cod": 16.0, "codmn": 4.2, "tp": 0.12, "turb": 18.0, "do": 6.5,
        "ph": 7.6, "temp": 27.0}


HOURLY = ("codmn", "nh3n", "tp")  # analysers: one result an hour, held in between
REPORT = timedelta(minutes=25)  # each hour's result comes 25 min past T0's hour


def stream(stations: list[str], hours: float, effects, seed: int = 1, hourly: tuple[str, ...] = (),
           base: dict[str, float] = BASE) -> list[Reading]:
    """Readings every 5 min for ``stations``; ``effects(sid, t) -> dict`` adds to the ``base``.
    The parameters in ``hourly`` are analysers: a new result at ``REPORT`` past each hour,
    held until the next one."""
    g = np.random.default_rng(seed)
    out = []
    held: dict[tuple[str, str], float] = {}
    n = int(hours * 12)
    for i in range(n):
        t = T0 + i * STEP
        new_result = (t - T0) % timedelta(hours=1) == REPORT
        for sid in stations:
            add = effects(sid, t)
            for p, v in base.items():
                x = round(max(0.0, v + g.normal(0, 0.01 * v) + add.get(p, 0.0)), 3)
                if p in hourly:
                    x = held[sid, p] = x if new_result or (sid, p) not in held else held[sid, p]
                out.append(Reading(sid, t, p, x))
    return out


def run(readings: list[Reading]) -> tuple[Monitor, list[Event]]:
    m = Monitor(REG)
    events = m.process_many(readings) + m.flush()
    return m, events


def between(t: datetime, a: datetime, minutes: float) -> bool:
    return a <= t < a + timedelta(minutes=minutes)


PLUME = {"cond": 300.0, "nh3n": 3.0, "cod": 12.0, "turb": 20.0, "do": -1.5}
T1 = T0 + timedelta(hours=6)


def discharge(sid: str, t: datetime) -> dict:
    if sid == "LXT_TAOZHUANG" and between(t, T1, 45):
        return PLUME
    if sid == "TZ_TOWN" and between(t, T1 + timedelta(minutes=60), 60):
        return {p: v * 0.5 for p, v in PLUME.items()}
    return {}


def test_discharge_alert_localised_and_corroborated_downstream() -> None:
    _, events = run(stream(["LXT_LUXU", "LXT_TAOZHUANG", "TZ_TOWN"], 9, discharge))
    raised = [e.alert for e in events if e.type == "raised" and e.alert.kind == "illegal_discharge"]
    assert [a.station for a in raised] == ["LXT_TAOZHUANG"]
    a = raised[0]
    assert a.suspected_source == "OF_LX_IND"
    assert a.start == T1
    assert {"cond", "nh3n"} <= set(a.parameters)
    # Read by officials and field teams: the markers and the source by their Chinese names.
    assert "电导率↑" in a.message and "氨氮↑" in a.message and "芦墟印染企业排口" in a.message
    assert "cond" not in a.message and "OF_LX_IND" not in a.message
    upd = [e.alert for e in events if e.type == "updated" and e.alert.id == a.id]
    assert upd and "TZ_TOWN" in upd[-1].details["seen_at"]
    assert upd[-1].confidence > a.confidence
    assert "下游 陶庄镇河 于" in upd[-1].message and "印证" in upd[-1].message
    # nothing else pretends to be pollution
    assert not [e for e in events if e.type == "raised" and e.alert.kind in ("sensor_fault", "anomaly")]


def test_upstream_station_quiet_gives_segment_or_outfall_source() -> None:
    def at_xt(sid: str, t: datetime) -> dict:
        return PLUME if sid == "XT_TOWN" and between(t, T1, 40) else {}

    _, events = run(stream(["TZ_TOWN", "XT_TOWN"], 8, at_xt))
    (a,) = [e.alert for e in events if e.type == "raised" and e.alert.kind == "illegal_discharge"]
    assert a.station == "XT_TOWN" and a.suspected_source == "OF_XT_RAIN"
    assert 0 < a.confidence <= 1


def test_an_outfall_whose_own_station_saw_nothing_is_not_named_for_the_river_below() -> None:
    # OF_XT_RAIN is the only outfall into the reach above XT_TOWN. Its station reported all
    # along and its water stayed as it was while the plume came by XT_TOWN: a pipe straight
    # into the river, not the outfall. The segment is named, and the message says the
    # outfall was clean, so that the field team walks the bank instead of opening the outfall.
    def at_xt(sid: str, t: datetime) -> dict:
        return PLUME if sid == "XT_TOWN" and between(t, T1, 40) else {}

    _, events = run(stream(["TZ_TOWN", "XT_TOWN", "OF_XT_RAIN"], 8, at_xt))
    (a,) = [e.alert for e in events if e.type == "raised" and e.alert.kind == "illegal_discharge"]
    assert a.station == "XT_TOWN" and a.suspected_source == "TZ_TOWN..XT_TOWN"
    assert "段内排口 西塘老镇雨水排口 在线监测未见异常" in a.message

    # Silent for an hour before the plume: it cannot vouch for that hour, and stays the suspect.
    def outage(r: Reading) -> bool:
        return r.station == "OF_XT_RAIN" and T1 - timedelta(hours=2) <= r.time < T1 - timedelta(hours=1)

    _, events = run([r for r in stream(["TZ_TOWN", "XT_TOWN", "OF_XT_RAIN"], 8, at_xt) if not outage(r)])
    (a,) = [e.alert for e in events if e.type == "raised" and e.alert.kind == "illegal_discharge"]
    assert a.suspected_source == "OF_XT_RAIN" and "未见异常" not in a.message


def test_a_reach_with_no_outfall_station_is_named_as_the_reach_above_the_station() -> None:
    # LXT_LUXU has no station above it in the registry and no outfall into it: the source is
    # the reach above it ("..LXT_LUXU", DESIGN.md's segment), which the message words.
    def at_luxu(sid: str, t: datetime) -> dict:
        return PLUME if sid == "LXT_LUXU" and between(t, T1, 40) else {}

    _, events = run(stream(["LXT_LUXU"], 8, at_luxu))
    (a,) = [e.alert for e in events if e.type == "raised" and e.alert.kind == "illegal_discharge"]
    assert a.suspected_source == "..LXT_LUXU"
    assert "疑似来源 芦墟塘芦墟以上河段" in a.message and ".." not in a.message


def test_lone_jump_is_a_sensor_fault_not_pollution() -> None:
    def jump(sid: str, t: datetime) -> dict:
        return {"nh3n": 6.0} if sid == "XT_TOWN" and t >= T1 else {}

    _, events = run(stream(["XT_TOWN"], 8, jump))
    kinds = {e.alert.kind for e in events if e.type == "raised"}
    assert "sensor_fault" in kinds
    assert "illegal_discharge" not in kinds


def test_a_marker_far_out_alone_for_an_hour_is_no_discharge_when_another_wanders_beside_it() -> None:
    # An NH3-N electrode offset by 6 mg/L at a river station, alone: a fault. Two hours on, DO
    # dips for 20 min as it does on its own at night (z about -3 against its spread). Before 2026-12-07 the offset
    # led that dip into a discharge signature (13 % of the simulator's probe offsets were
    # reported as pollution); an hour alone makes NH3-N the instrument's, not the water's.
    def offset_then_dip(sid: str, t: datetime) -> dict:
        if sid != "XT_TOWN" or t < T1:
            return {}
        return {"nh3n": 6.0, "do": -0.6} if between(t, T1 + timedelta(hours=2), 20) else {"nh3n": 6.0}

    _, events = run(stream(["XT_TOWN"], 10, offset_then_dip))
    assert not _raised(events)
    (a,) = _raised(events, "sensor_fault")
    assert a.parameters == ("nh3n",)
    # The same dip beside the offset in its first hour is still read as a discharge: a plume's
    # company comes within the hour, and the rule must not wait longer than that.
    m = Monitor(REG, MonitorConfig(fault_hold_s=4 * 3600.0))
    assert _raised(m.process_many(stream(["XT_TOWN"], 10, offset_then_dip)) + m.flush())


def test_a_discharge_beside_a_faulty_marker_is_raised_by_the_others() -> None:
    # The NH3-N electrode offset for two hours; then a plume whose salts, COD, particles and
    # oxygen demand show it: raised, on the other instruments, without the faulty one.
    def offset_then_plume(sid: str, t: datetime) -> dict:
        if sid != "XT_TOWN" or t < T1:
            return {}
        if between(t, T1 + timedelta(hours=2), 45):
            return {**{p: v for p, v in PLUME.items() if p != "nh3n"}, "nh3n": 6.0}
        return {"nh3n": 6.0}

    _, events = run(stream(["XT_TOWN"], 10, offset_then_plume))
    (a,) = _raised(events)
    assert "nh3n" not in a.parameters and {"cond", "cod"} <= set(a.parameters)
    assert T1 + timedelta(hours=2) <= a.start <= T1 + timedelta(hours=2, minutes=15)


@pytest.mark.parametrize("sid, param, shift", [
    ("OF_DZ_WWTP", "nh3n", 2.0), ("OF_YZ_IND", "nh3n", 2.0), ("OF_TZ_RAIN", "nh3n", 2.0),
    ("XT_TOWN", "ph", 0.8), ("OF_DZ_WWTP", "ph", 0.8)])
def test_a_probe_jumping_alone_is_a_fault_at_its_onset_not_a_discharge(sid: str, param: str, shift: float) -> None:
    # A reading shifted and staying there, nothing else moving: an NH3-N electrode by 2 mg/L at
    # a plant, a factory and a rain outfall in dry weather (before 2026-12-05 an outfall had no
    # lone-jump rule, and such an offset raised nothing at all); a pH electrode by 0.8 (a fouled
    # junction, a wrong buffer at calibration) at a river and an outfall. pH is a logarithm: its
    # spread is not 2 % of its value (0.15 at pH 7.6, which made this jump z 5 and left it to the
    # maintenance visit a day or three later).
    def offset(s: str, t: datetime) -> dict:
        return {param: shift} if s == sid and t >= T1 else {}

    _, events = run(stream([sid], 10, offset))
    assert not _raised(events)
    (a,) = _raised(events, "sensor_fault")
    assert a.station == sid and a.parameters == (param,) and "单参数突变" in a.message
    assert a.start <= T1 + timedelta(minutes=15)


@pytest.mark.parametrize("param, shift", [("ph", 0.8), ("cond", 150.0)])
def test_a_probe_put_right_at_the_maintenance_visit_is_not_a_new_fault(param: str, shift: float) -> None:
    # A probe reads high for 10 h: a fault at its onset, and after ``protect_max_s`` its
    # baseline learns the shifted level. Then the technician recalibrates it: 20 min flagged
    # M, then right again. The serviced probe's readings are the new reference: the jump back
    # is the repair, not another fault (before, it was raised as one, hours after the visit).
    visit = T1 + timedelta(hours=10)

    def offset(s: str, t: datetime) -> dict:
        return {param: shift} if s == "XT_TOWN" and T1 <= t < visit else {}

    readings = [Reading(r.station, r.time, r.parameter, r.value, "M")
                if r.parameter == param and between(r.time, visit, 20) else r
                for r in stream(["XT_TOWN"], 20, offset)]
    _, events = run(readings)
    assert not _raised(events)
    jumps = [e.alert for e in events if e.alert.kind == "sensor_fault" and "单参数突变" in e.alert.message]
    assert jumps and min(a.start for a in jumps) <= T1 + timedelta(minutes=15)
    assert all(a.start < visit for a in jumps)
    assert all((a.last_seen or a.start) < visit for a in jumps)


def test_ph_falling_with_an_acid_effluents_salts_is_a_discharge_not_a_fault() -> None:
    # The same pH jump with the effluent's salts and NH3-N beside it: the water changed.
    def acid(s: str, t: datetime) -> dict:
        return {"ph": -0.8, "cond": 300.0, "nh3n": 3.0, "do": -1.5} if s == "XT_TOWN" and between(t, T1, 90) else {}

    _, events = run(stream(["XT_TOWN"], 9, acid))
    (a,) = _raised(events)
    assert a.station == "XT_TOWN" and {"cond", "nh3n"} <= set(a.parameters)
    assert not _raised(events, "sensor_fault")


def front(t: datetime, minutes: float = 90) -> dict:
    """An industrial plume's front at XT_TOWN from T1: conductivity climbing 25 µS/cm a
    sample for half an hour, DO sagging beside it, then both holding."""
    if not between(t, T1, minutes):
        return {}
    k = min(6, int((t - T1) / STEP) + 1)
    return {"cond": 25.0 * k, "do": -0.05 * k}


def test_an_effluent_front_climbing_in_the_conductivity_is_a_discharge_before_the_analysers_report() -> None:
    # Salty effluent with little NH3-N reaches a river station: only its conductivity probe
    # sees it before the next hourly CODMn result. It climbs over six samples, as a plume
    # spread by its travel does; a probe does not.
    _, events = run(stream(["XT_TOWN"], 9, lambda sid, t: front(t) if sid == "XT_TOWN" else {}))
    (a,) = _raised(events)
    assert a.station == "XT_TOWN" and a.parameters[0] == "cond"
    assert a.last_seen <= T1 + timedelta(minutes=30)
    assert not _raised(events, "sensor_fault")


@pytest.mark.parametrize("seed", [2, 3, 4, 5])
def test_a_front_climbing_to_under_z_rise_is_a_discharge_within_half_an_hour(seed: int) -> None:
    # A smaller plume's front: conductivity climbs 6.5 µS/cm a sample for half an hour to
    # +39 (z about 3.7 of its baseline, under ``z_rise``) and holds there; nothing else
    # moves before the hourly analysers report. The climb itself is the evidence that a
    # probe's jump or drift lacks (LXT_TAOZHUANG, 20281589: conductivity z 2.4, 3.5, 3.8,
    # 3.1, 4.9 from 15 min after the plume arrived, raised at 60 min with the analysers).
    def small_front(sid: str, t: datetime) -> dict:
        if sid != "XT_TOWN" or not between(t, T1, 90):
            return {}
        return {"cond": 6.5 * min(6, int((t - T1) / STEP) + 1)}

    events = run(stream(["XT_TOWN"], 9, small_front, seed=seed))[1]
    (a,) = _raised(events)
    assert a.parameters[0] == "cond" and a.last_seen <= T1 + timedelta(minutes=30)
    assert not _raised(events, "sensor_fault")


def test_a_front_coming_in_over_two_samples_is_a_discharge_within_half_an_hour() -> None:
    # A pipe just above the station: its plume's front comes in over two samples, +22 then
    # +50 µS/cm (z about 4.8), and holds; nothing else moves before the hourly analysers
    # report (NZ2, 20291576: 575, 592, 612 µS/cm, a 43 L/s industrial pipe, never raised
    # while the rule asked every step to be at most half of the climb: 7 of these 24
    # months then, where the probe's noise happened to spread the climb over three
    # samples). A probe's jump comes in at one sample. With the noise, the smaller step is
    # sometimes under two of the probe's sample SDs, or the larger more than twice it.
    def two_step(sid: str, t: datetime) -> dict:
        if sid != "XT_TOWN" or not between(t, T1, 90):
            return {}
        return {"cond": 22.0 if t < T1 + STEP else 50.0}

    caught = 0
    for seed in range(1, 25):
        events = run(stream(["XT_TOWN"], 9, two_step, seed=seed))[1]
        assert not _raised(events, "sensor_fault")
        raised = _raised(events)
        caught += len(raised) == 1 and raised[0].parameters[0] == "cond" \
            and raised[0].last_seen <= T1 + timedelta(minutes=30)
    assert caught >= 18


def test_a_conductivity_probe_drifting_as_far_is_no_front() -> None:
    # The same +39 µS/cm over four hours (a fouling probe): no climb within half an hour.
    def drift(sid: str, t: datetime) -> dict:
        return {"cond": 39.0 * min(1.0, max(0.0, (t - T1) / timedelta(hours=4)))} if sid == "XT_TOWN" else {}

    assert not _raised(run(stream(["XT_TOWN"], 12, drift))[1])


def test_a_conductivity_probe_jumping_to_the_same_level_is_a_fault_not_a_front() -> None:
    # The same +150 µS/cm from one sample to the next, DO unchanged (an offset, fouling
    # wiped off): the sensor-fault pattern.
    def jump(sid: str, t: datetime) -> dict:
        return {"cond": 150.0} if sid == "XT_TOWN" and between(t, T1, 90) else {}

    _, events = run(stream(["XT_TOWN"], 9, jump))
    assert not _raised(events)
    assert _raised(events, "sensor_fault")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_an_effluent_front_with_do_steady_within_its_noise_is_still_a_front(seed: int) -> None:
    # DO a little above its baseline median (0.1 mg/L, under two standard deviations of its
    # noise; at night it often is, the river's DO recovering): no evidence of oxygen-rich
    # water, so it does not stop the front rule. Only DO up as far as ``z_support`` does.
    def level_do(sid: str, t: datetime) -> dict:
        d = front(t)
        return {**d, "do": 0.1} if sid == "XT_TOWN" and d else {}

    (a,) = _raised(run(stream(["XT_TOWN"], 9, level_do, seed=seed))[1])
    assert a.station == "XT_TOWN" and a.parameters[0] == "cond"
    assert a.last_seen <= T1 + timedelta(minutes=30)


def test_conductivity_climbing_with_do_rising_is_no_wastewater_front() -> None:
    # Wastewater takes oxygen; water coming in with more of it (a sluice opened onto another
    # river) is not a plume, however its salts climb.
    def other_water(sid: str, t: datetime) -> dict:
        d = front(t)
        return {**d, "do": -4 * d["do"]} if sid == "XT_TOWN" and d else {}

    assert not _raised(run(stream(["XT_TOWN"], 9, other_water))[1])


def test_runoff_turbidity_with_rain_is_not_a_discharge() -> None:
    def storm(sid: str, t: datetime) -> dict:
        if between(t, T1, 120):
            return {"turb": 60.0, "cod": 8.0, "cond": -80.0}
        return {}

    readings = stream(["XT_TOWN"], 9, storm)
    rain = [Reading("AQ_XT", T1 + i * STEP, "rain", 6.0) for i in range(24)]
    readings = sorted(readings + rain, key=lambda r: r.time)
    _, events = run(readings)
    assert not [e for e in events if e.type == "raised" and e.alert.kind == "illegal_discharge"]


@pytest.mark.parametrize("minutes_silent", [10, 15, 20, 40])
def test_station_offline_raised_then_closed_by_backfill(minutes_silent: int) -> None:
    # Sampled every 5 min: three missed samples (15 min) are an outage, two are not (the
    # dropouts' count). The replay's clock is the data's, so the third missed sample is
    # known missed only when the next instant's data come in; it must still be raised.
    gap = (T1, T1 + timedelta(minutes=minutes_silent))

    def reading_ok(r: Reading) -> bool:
        return not (r.station == "XT_TOWN" and gap[0] <= r.time < gap[1])

    readings = [r for r in stream(["XT_TOWN", "TZ_TOWN"], 8, lambda s, t: {}) if reading_ok(r)]
    _, events = run(readings)
    off = [e for e in events if e.alert.kind == "station_offline" and e.alert.station == "XT_TOWN"]
    if minutes_silent >= 15:
        assert [e.type for e in off] == ["raised", "cleared"]
    else:
        assert off == []


def test_single_sample_spikes_again_and_again_are_a_fault_of_that_sensor() -> None:
    # The turbidity probe at XT_TOWN reads five times the river for one sample, then comes
    # straight back, every 25 min: an optical or electrical fault, not the river. Two such
    # within 2 h make the fault.
    def spikes(sid: str, t: datetime) -> dict:
        k = (t - T1).total_seconds() / 300
        return {"turb": 4 * BASE["turb"]} if sid == "XT_TOWN" and 0 <= k < 36 and k % 5 == 0 else {}

    _, events = run(stream(["XT_TOWN", "TZ_TOWN"], 10, spikes))
    (a,) = [e.alert for e in events if e.type == "raised" and e.alert.kind == "sensor_fault"]
    assert a.station == "XT_TOWN" and a.parameters == ("turb",)
    assert a.details["patterns"] == ["spikes"]
    assert not [e for e in events if e.alert.kind == "illegal_discharge"]


def test_one_spike_is_no_fault() -> None:
    # A bubble past the optics once: not worth a maintenance visit.
    def once(sid: str, t: datetime) -> dict:
        return {"turb": 4 * BASE["turb"]} if sid == "XT_TOWN" and t == T1 else {}

    _, events = run(stream(["XT_TOWN", "TZ_TOWN"], 10, once))
    assert not [e for e in events if e.type == "raised" and e.alert.kind == "sensor_fault"]


def _faults(events: list[Event]) -> list:
    return [e.alert for e in events if e.type == "raised" and e.alert.kind == "sensor_fault"]


def _every_25_min(t: datetime) -> bool:
    k = (t - T1).total_seconds() / 300
    return 0 <= k < 36 and k % 5 == 0


def _outfall_stream(sid: str, hours: float, level: dict[str, float], jitter: float, effect,
                    flow: float = 0.5) -> list[Reading]:
    g = np.random.default_rng(5)
    out = []
    for i in range(int(hours * 12)):
        t = T0 + i * STEP
        for p, v in {**level, **effect(t)}.items():
            out.append(Reading(sid, t, p, round(max(0.0, v * (1 + g.normal(0, jitter))), 3)))
        out.append(Reading(sid, t, "flow", flow))
    return out


def test_an_outfall_probes_spikes_are_a_fault_of_that_sensor() -> None:
    # The NH3-N probe of a rain outfall in dry weather reads five times its water for one
    # sample, again and again: at an outfall as in a river, for maintenance.
    def spikes(t: datetime) -> dict:
        return {"nh3n": 5 * OUTFALL["nh3n"]} if _every_25_min(t) else {}

    _, events = run(_outfall_stream("OF_TZ_RAIN", 10, OUTFALL, 0.01, spikes))
    (a,) = _faults(events)
    assert a.station == "OF_TZ_RAIN" and a.parameters == ("nh3n",) and a.details["patterns"] == ["spikes"]
    assert not [e for e in events if e.alert.kind == "illegal_discharge"]


def _jittery(sid: str, effect) -> list[Reading]:
    """10 h at a rain outfall: its dry-weather water (1 % noise) until the ``effect`` sets
    other levels, which jitter by 15 %; 3 L/s flowing with it."""
    g = np.random.default_rng(7)
    out = []
    for i in range(120):
        t = T0 + i * STEP
        add = effect(t)
        for p, v in OUTFALL.items():
            x = add.get(p, v)
            out.append(Reading(sid, t, p, round(x * (1 + g.normal(0, 0.15 if p in add else 0.01)), 3)))
        out.append(Reading(sid, t, "flow", 3.0 if add else 0.5))
    return out


def test_sewage_jittering_out_of_a_rain_outfall_is_a_discharge_not_spikes() -> None:
    # Sewage let out in dry weather: NH3-N about 12 mg/L, jittering by 15 % from sample to
    # sample (a sewer's flow comes in slugs). Against the outfall's dry-weather baseline
    # (kept: wastewater is never its normal), even at 2 % of the sewage's level, many a
    # wobble is eight of its scales; against the sewage's own jitter none is a spike.
    def sewage(t: datetime) -> dict:
        return {"nh3n": 12.0, "cod": 110.0, "cond": 900.0} if t >= T1 else {}

    _, events = run(_jittery("OF_YZ_RAIN", sewage))
    assert [a.station for a in _raised(events)] == ["OF_YZ_RAIN"]
    assert not _faults(events)



def test_a_z_is_judged_against_the_baseline_as_it_stands_after_every_move_of_its_window() -> None:
    # The z's centre and scale are kept with the baseline's statistics (``RollingStats.memo``,
    # read for every sample) and must go when they do: a value outliving its window would
    # judge new water against old. A river's salts climbing 1 µS/cm a sample for 10 h (the
    # window moves every ``baseline_every`` samples); at every sample the z must be the one
    # computed afresh from the baseline's statistics (no rhythm is known within a day).
    from analytics.monitor import MIN_SCALE

    m = Monitor(REG, MonitorConfig())
    checked = 0
    for i in range(120):
        m.process(Reading("TP_FENHU", T0 + i * STEP, "cond", 480.0 + i))
        st = m._st["TP_FENHU"]
        b = st.baselines.get("cond")
        if b is None or b.n < m.config.min_history:
            continue
        med, mad = b.stats()
        scale = max(mad, MIN_SCALE["cond"], 0.02 * abs(med))
        assert m._z(st, "cond", 600.0) == pytest.approx((600.0 - med) / scale, rel=1e-12)
        checked += 1
    assert checked > 90


AIR = {"pm25": 30.0, "pm10": 55.0, "so2": 8.0, "no2": 25.0, "o3": 70.0, "co": 0.6}


def _air_samples(effect, seed: int = 2) -> list[Event]:
    g = np.random.default_rng(seed)
    readings = []
    for i in range(10 * 12):
        t = T0 + i * STEP
        add = effect(t)
        for p, v in AIR.items():
            readings.append(Reading("AQ_XT", t, p, round(max(0.0, v * (1 + g.normal(0, 0.05))) * add.get(p, 1.0), 2)))
    return run(readings)[1]


def test_an_air_monitors_spikes_are_a_fault_a_puff_through_both_pm_channels_is_not() -> None:
    # PM10 alone at four times the air for one 5-min sample, again and again: the monitor's.
    (a,) = _faults(_air_samples(lambda t: {"pm10": 4.0} if _every_25_min(t) else {}))
    assert a.station == "AQ_XT" and a.parameters == ("pm10",) and a.details["patterns"] == ["spikes"]
    # A puff of smoke past the inlet lifts PM2.5 and PM10 together: the air's.
    assert not _faults(_air_samples(lambda t: {"pm10": 4.0, "pm25": 4.0} if _every_25_min(t) else {}))


def _noise_minutes(laeq_at) -> list[Event]:
    t0 = parse_time("2026-07-14T09:00:00+08:00")
    readings = []
    for i in range(180):
        t = t0 + timedelta(minutes=i)
        laeq = laeq_at(i)
        readings.append(Reading("NZ_JS_WEITANG", t, "laeq", laeq))
        readings.append(Reading("NZ_JS_WEITANG", t, "lmax", max(laeq, 60.0 + (i % 7))))
    return run(readings)[1]


def test_a_sound_level_meter_at_the_top_of_its_range_for_a_minute_again_and_again_is_a_fault() -> None:
    # 130 dB(A), the meter's range (seeds/parameters.toml), for one minute, then 52 again.
    events = _noise_minutes(lambda i: 130.0 if i in (90, 120) else 52.0 + (i % 5))
    (a,) = _faults(events)
    assert a.station == "NZ_JS_WEITANG" and a.parameters == ("laeq",) and a.details["patterns"] == ["spikes"]
    assert "量程上限" in a.message
    # Those minutes are no measurement of the street: the hours' Leq (about 54 dB(A)) stay
    # under the zone's 55 by day; with them, an hour would read 112.
    assert not [e for e in events if e.type == "raised" and e.alert.kind == "exceedance"]
    # A horn or a motorcycle lifts a minute by 30 dB and is gone: the street's, not the meter's.
    assert not _faults(_noise_minutes(lambda i: 85.0 if i in (90, 120) else 52.0 + (i % 5)))


def _losing(missing) -> list[Event]:
    """Events of an 8-h stream where XT_TOWN's sampling instant number ``i`` (5 min apart,
    from T1) is lost when ``missing(i)``; TZ_TOWN reports throughout."""
    def ok(r: Reading) -> bool:
        i = int((r.time - T1).total_seconds() // 300)
        return not (r.station == "XT_TOWN" and r.time >= T1 and missing(i))

    return run([r for r in stream(["XT_TOWN", "TZ_TOWN"], 8, lambda s, t: {}) if ok(r)])[1]


def test_records_lost_here_and_there_are_a_fault_for_maintenance() -> None:
    # From T1 one record in three is lost: a loose connector, a logger resetting. No gap is
    # long enough for station_offline, but an hour keeps 40 min of data, too few for an
    # hourly value.
    events = _losing(lambda i: i % 3 == 1)
    (a,) = [e.alert for e in events if e.type == "raised" and e.alert.kind == "sensor_fault"]
    assert a.station == "XT_TOWN" and a.details["patterns"] == ["dropouts"]
    assert "数据间断" in a.message
    assert T1 <= a.last_seen <= T1 + timedelta(minutes=60)
    assert not [e for e in events if e.alert.kind in ("station_offline", "illegal_discharge")]


@pytest.mark.parametrize("pattern", ["one_an_hour", "an_outage"])
def test_a_rare_lost_record_or_an_outage_is_no_dropout_fault(pattern: str) -> None:
    # One record lost an hour is within what an hourly value allows; a 30-min outage is a
    # station_offline of its own, not records lost here and there.
    missing = (lambda i: i % 12 == 5) if pattern == "one_an_hour" else (lambda i: 12 <= i < 18)
    events = _losing(missing)
    assert not [e for e in events if e.type == "raised" and e.alert.kind == "sensor_fault"]
    offline = [e for e in events if e.type == "raised" and e.alert.kind == "station_offline"]
    assert len(offline) == (1 if pattern == "an_outage" else 0)


@pytest.mark.parametrize("run_lost", [3, 6])
def test_a_station_losing_records_is_offline_only_after_twice_the_silence(run_lost: int) -> None:
    # One record in three lost in the hour from T1 (the dropouts fault), then ``run_lost`` in
    # a row: three more lost are more of the same, six are an outage.
    def missing(i: int) -> bool:
        return (i < 12 and i % 3 == 1) or 12 <= i < 12 + run_lost

    events = _losing(missing)
    offline = [e for e in events if e.type == "raised" and e.alert.kind == "station_offline"]
    assert len(offline) == (1 if run_lost == 6 else 0)


def _driver_monitor() -> Monitor:
    return Monitor(REG, MonitorConfig(offline_clock="driver"))


def test_backfill_arriving_live_is_not_silence() -> None:
    """Live, a node back from an outage sends hours of stored readings at once. Their times lag
    the driver's clock by hours, but the station is talking: no offline alert may flap."""
    m = _driver_monitor()
    now = T0 + timedelta(hours=10)
    events: list[Event] = []
    for i, r in enumerate(stream(["XT_TOWN", "TZ_TOWN"], 6, lambda s, t: {})):
        events += m.process(r, received=now)
        if i % 9 == 0:
            now += timedelta(seconds=30)
            events += m.tick(now)
    assert [e for e in events if e.alert.kind == "station_offline"] == []


def test_live_silence_raised_on_the_driver_clock_then_closed_by_backfill() -> None:
    m = _driver_monitor()
    readings = stream(["XT_TOWN"], 4, lambda s, t: {})
    before = [r for r in readings if r.time < T0 + timedelta(hours=2)]
    after = [r for r in readings if r.time >= T0 + timedelta(hours=2)]
    events: list[Event] = []
    for r in before:  # arriving as sampled
        events += m.process(r, received=r.time) + m.tick(r.time)
    last = before[-1].time
    events += m.tick(last + timedelta(minutes=10))
    assert [e for e in events if e.alert.kind == "station_offline"] == []
    events += m.tick(last + timedelta(minutes=16))
    off = [e for e in events if e.alert.kind == "station_offline"]
    assert [e.type for e in off] == ["raised"]
    back = last + timedelta(hours=2)
    for r in after:  # the node's store-and-forward batch
        events += m.process(r, received=back) + m.tick(back)
    assert [e.type for e in events if e.alert.kind == "station_offline"] == ["raised", "cleared"]


@pytest.mark.parametrize("behind", [True, False])
def test_a_queue_being_read_is_not_silence(behind: bool) -> None:
    """Live, the driver falls 30 min behind (a restart's backlog, or a core that could not
    keep pace) and then reads the queue in the broker's order. Told it is reading a queue,
    the core judges silence no further than the newest reading read: none of the three
    stations is silent. On the bare clock, every station whose turn has not come looks
    silent for 30 min (what the demo showed at 180x, its 1-min noise stations raised)."""
    m = _driver_monitor()
    readings = stream(["XT_TOWN", "TZ_TOWN", "DZG_DINGZHA"], 3, lambda s, t: {})
    cut = T0 + timedelta(hours=2)
    events: list[Event] = []
    for r in readings:
        if r.time < cut:  # arriving as sampled
            events += m.process(r, received=r.time) + m.tick(r.time)
    now = cut + timedelta(minutes=30)  # the clock ran on while the queue filled
    for r in readings:
        if r.time >= cut:
            events += m.process(r, received=now) + m.tick(now, behind=behind)
    offline = [e.alert.station for e in events if e.type == "raised" and e.alert.kind == "station_offline"]
    assert offline == ([] if behind else ["TZ_TOWN", "DZG_DINGZHA"])


def test_dry_weather_flow_at_rain_outfall() -> None:
    readings = [Reading("OF_TZ_RAIN", T0 + i * STEP, "flow", 0.0 if i < 40 else 12.0) for i in range(60)]
    _, events = run(readings)
    (a,) = [e.alert for e in events if e.type == "raised"]
    assert a.kind == "dry_weather_flow" and a.station == "OF_TZ_RAIN"


def test_a_flow_meters_noise_about_zero_is_no_dry_weather_flow() -> None:
    # Nothing flows out of OF_TZ_RAIN in dry weather; its meter reads 0–0.9 L/s and, now and
    # then, a run over the 1 L/s bar (as at 20281776's OF_TZ_RAIN: 1.1, 1.1, 1.4, then 0.6).
    # The core before raised dry-weather flow on three such samples; a field team went out
    # to a dry pipe. A misconnection's 3 L/s a day later is raised.
    g = np.random.default_rng(5)
    noise = [round(float(max(0.0, g.normal(0.3, 0.3))), 1) for _ in range(288)]
    noise[100:104] = [1.1, 1.1, 1.4, 0.6]
    noise[200:205] = [1.3, 1.2, 1.5, 1.2, 0.4]
    flows = noise + [round(float(g.normal(3.0, 0.3)), 1) for _ in range(24)]
    _, events = run([Reading("OF_TZ_RAIN", T0 + i * STEP, "flow", q) for i, q in enumerate(flows)])
    (a,) = _raised(events, "dry_weather_flow")
    assert a.start >= T0 + 288 * STEP


def test_drizzle_running_off_a_rain_outfall_is_no_dry_weather_flow() -> None:
    # An hour of drizzle at 0.2–0.4 mm/h, under the 0.5 mm/h that counts as rain for the
    # wet-weather rules, but measurable rain (0.1 mm and more): its runoff, 12 L/s, is no
    # dry-weather flow (20301411: four rain outfalls at once, all raised by the core before).
    t_rain = T0 + timedelta(hours=4)
    readings = [Reading("OF_TZ_RAIN", T0 + i * STEP, "flow", 0.0 if i < 50 else 12.0) for i in range(70)]
    readings += [Reading("OF_TZ_RAIN", t_rain + i * STEP, "rain", 0.2 + 0.02 * i) for i in range(12)]
    _, events = run(sorted(readings, key=lambda r: r.time))
    assert not _raised(events, "dry_weather_flow")


def test_hourly_class_below_target_is_an_exceedance_with_derived_series() -> None:
    def bad_nh3n(sid: str, t: datetime) -> dict:
        return {"nh3n": 1.2}  # 1.65 mg/L: class V, target III

    m, events = run(stream(["XT_TOWN"], 3, bad_nh3n))
    ex = [e.alert for e in events if e.type == "raised" and e.alert.kind == "exceedance"]
    assert ex and ex[0].parameters == ("nh3n",)
    derived = [d for d in m.drain_derived() if d.measurement == "water_class"]
    assert derived and all(d.fields["class"] == 5 and d.fields["meets"] == 0 for d in derived)


def test_noise_night_burst_and_hourly_exceedance() -> None:
    t = parse_time("2026-07-14T23:00:00+08:00")
    readings = []
    for i in range(120):
        ti = t + timedelta(minutes=i)
        readings.append(Reading("NZ_JS_WEITANG", ti, "laeq", 49.0))  # zone 1 night limit 45
        # one loud pass at 23:10 is not a burst; construction at 23:30-23:34 is
        readings.append(Reading("NZ_JS_WEITANG", ti, "lmax", 75.0 if i == 10 or 30 <= i < 35 else 55.0))
    m, events = run(readings)
    kinds = [e.alert.kind for e in events if e.type == "raised"]
    assert kinds.count("noise_night_burst") == 1 and "exceedance" in kinds
    (burst,) = [e.alert for e in events if e.type == "raised" and e.alert.kind == "noise_night_burst"]
    assert burst.start == t + timedelta(minutes=30)
    # the message names the loudest burst, not whatever the last reading was
    assert "最高 75.0 dB(A)" in burst.message and burst.details["lmax"] == 75.0
    hourly = [d for d in m.drain_derived() if d.measurement == "noise_leq" and d.tags["period"] == "hour"]
    assert hourly and hourly[0].fields["limit"] == 45 and hourly[0].fields["exceed"] == 1


# -- a small plume: moderate rises that add up --------------------------------------------
# Scales at these baselines are the instruments' floors (MIN_SCALE): NH3-N 0.05 mg/L, TP
# 0.01 mg/L, turbidity 2 NTU. NH3-N +0.17 is z 3.4, TP +0.055 is z 5.5: the pair does not
# clear the "two markers at z 4" rule, yet carries more evidence than two at z 4 (8.9 > 8).
SMALL = {"nh3n": 0.17, "tp": 0.055}


def _raised(events: list[Event], kind: str = "illegal_discharge") -> list:
    return [e.alert for e in events if e.type == "raised" and e.alert.kind == kind]


def test_small_plume_of_moderate_rises_is_a_discharge() -> None:
    def small(sid: str, t: datetime) -> dict:
        return SMALL if sid == "XT_TOWN" and between(t, T1, 60) else {}

    _, events = run(stream(["XT_TOWN"], 9, small))
    (a,) = _raised(events)
    assert a.station == "XT_TOWN" and set(a.parameters) == {"nh3n", "tp"}
    assert a.start == T1
    assert not _raised(events, "sensor_fault")


def _probe_then_analysers(seed: int, probe: dict, lab: dict) -> list:
    """A plume reaching XT_TOWN at T1: the probes' rise ``probe`` from then on, the hourly
    analysers' rise ``lab`` from their next result (``REPORT`` later). The alerts raised."""
    def plume(t: datetime) -> dict:
        if t < T1:
            return {}
        return {**probe, **(lab if t >= T1 + REPORT else {})}

    return _raised(run(stream(["XT_TOWN"], 9, lambda sid, t: plume(t), seed=seed, hourly=HOURLY))[1])


def _raised_at_the_result(seed: int, probe: dict, lab: dict) -> None:
    """One discharge alert, raised at the analysers' result, naming every marker that rose."""
    (a,) = _probe_then_analysers(seed, probe, lab)
    assert {*probe, *lab} <= set(a.parameters)
    assert a.last_seen == T1 + REPORT


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_analysers_result_completing_a_plume_the_probes_already_show_raises_at_once(seed: int) -> None:
    # An effluent plume reaches XT_TOWN at T1: its conductivity up 32 µS/cm (about three of
    # its spreads: one moderate marker, no discharge on its own), nothing else until the
    # hourly analysers report 25 min later: CODMn +2.5 and TP +0.03 mg/L, little NH3-N.
    # With that result three markers show it, and the probe's part has held since before
    # it: the evidence of two samples is in. No need to wait five minutes more for the same
    # held result.
    _raised_at_the_result(seed, {"cond": 32.0}, {"codmn": 2.5, "tp": 0.03})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_analysers_results_with_no_probe_raise_at_once(seed: int) -> None:
    # A sewage plume too weak in salts for the conductivity probe, seen only when the hourly
    # analysers report: NH3-N +0.3, CODMn +2.5 and TP +0.05 mg/L. The next sample would judge
    # the same held results again; waiting for it adds nothing but five minutes.
    _raised_at_the_result(seed, {}, {"nh3n": 0.3, "codmn": 2.5, "tp": 0.05})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_instruments_each_moderately_up_with_both_dissolved_markers_are_a_discharge(seed: int) -> None:
    # A pipe of effluent above TZ_TOWN (20281558): conductivity climbs about three of its
    # spreads, and the analysers' next result has CODMn and NH3-N each about three of theirs
    # up. No marker reaches ``z_rise``, so the weighed rule had no lead, and it was raised
    # only when CODMn's next result came, 35 min after the plume arrived. Three instruments,
    # the salts and NH3-N among them, each moving as far at once: no fault and no noise does
    # that.
    _raised_at_the_result(seed, {"cond": 32.0}, {"codmn": 1.0, "nh3n": 0.14})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_analysers_moderately_up_without_the_salts_are_not_a_discharge(seed: int) -> None:
    # NH3-N, TP and CODMn each about three of their spreads up at one result, conductivity
    # flat: the hourly analysers of a slow canal move together on their own, and runoff
    # brings all three. Without the salts and without a marker clearly out, no discharge.
    assert not _probe_then_analysers(seed, {}, {"codmn": 1.0, "nh3n": 0.14, "tp": 0.03})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_clear_rise_names_its_moderate_company_and_raises_with_three_instruments_at_once(seed: int) -> None:
    # BH2 (20291322): conductivity climbs past z_rise and holds; the analysers' next result
    # has CODMn far out and NH3-N about two and a half of its spreads up. The clear rule
    # (CODMn, conductivity) named two markers, so the alert waited a sample more for the
    # same held result; NH3-N beside them makes three instruments, held since before.
    _raised_at_the_result(seed, {"cond": 48.0}, {"codmn": 2.5, "nh3n": 0.13})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_probes_alone_show_a_sewage_pipe_before_the_analysers_next_result(seed: int) -> None:
    # QX2 (20301493): a sewage pipe just above the station, its plume in at T1, the hourly
    # analysers' next result 25 min on. The probes see it first: conductivity +30 µS/cm,
    # turbidity +6 NTU, DO -0.6 mg/L (each two to three of their scales). Raised at the
    # plume's second sample, the alert at the third (the policy's two evaluations), 15 min
    # before the analysers' result.
    (a,) = _probe_then_analysers(seed, {"cond": 30.0, "turb": 6.0, "do": -0.6}, {})
    assert {"cond", "turb", "do"} <= set(a.parameters)
    assert a.last_seen == T1 + 2 * STEP < T1 + REPORT


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("probe", [
    {"turb": 6.0, "do": -0.6},  # a stirred bed, an algal night: no salts
    {"cond": 30.0, "turb": 6.0},  # salts and particles with the oxygen as it was
])
def test_two_of_the_three_probes_are_not_a_discharge(seed: int, probe: dict) -> None:
    # (The salts stepping up with DO falling, in clear water, are a wastewater front:
    # :meth:`Monitor._salt_front`, raised later, as before.)
    assert not _probe_then_analysers(seed, probe, {})


def test_the_probes_alone_for_one_sample_are_not_a_discharge() -> None:
    # The same three probes for one sample only (a gust, a boat, a pump's surge): not raised.
    one = {"cond": 30.0, "turb": 6.0, "do": -0.6}
    readings = stream(["XT_TOWN"], 9, lambda sid, t: one if t == T1 else {}, hourly=HOURLY)
    assert not _raised(run(readings)[1])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_probes_one_sample_blip_beside_an_analysers_result_is_not_raised_at_once(seed: int) -> None:
    # The same hourly result, but conductivity is up only at that one sample: the probe's
    # part has not held, and at the next sample it is gone. No discharge.
    report = T1 + REPORT

    def blip(t: datetime) -> dict:
        if t < report:
            return {}
        return {"codmn": 2.5, "tp": 0.03, **({"cond": 32.0} if t == report else {})}

    assert not _raised(run(stream(["XT_TOWN"], 9, lambda sid, t: blip(t), seed=seed, hourly=HOURLY))[1])


# A short plume past XT_TOWN: conductivity climbs for 20 min, stands ``z_rise`` out for one
# sample (the front rule sees it come in) and is gone 10 min later, before the hourly analysers
# report the water they drew while it passed.
SHORT_FRONT = {1: 10.0, 2: 20.0, 3: 30.0, 4: 46.0, 5: 15.0}


def short_front(t: datetime) -> dict:
    k = int((t - T1) / STEP) + 1 if t >= T1 else 0
    return {"cond": SHORT_FRONT[k]} if k in SHORT_FRONT else {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_front_gone_before_the_analysers_report_is_a_discharge_with_their_result(seed: int) -> None:
    # Their next result (25 min past the hour) shows the plume: CODMn +1.8 and TP +0.035
    # mg/L. The probe is back at its baseline by then, so no snapshot has a dissolved marker
    # beside them; the front it saw is that evidence. Without that result the front alone
    # names only the probe's conductivity (it raises when two samples stand ``z_front`` out).
    def plume(sid: str, t: datetime) -> dict:
        lab = {"codmn": 1.8, "tp": 0.035} if between(t, T1 + REPORT, 60) else {}
        return {**short_front(t), **lab}

    alone = _raised(run(stream(["XT_TOWN"], 9, lambda sid, t: short_front(t), seed=seed, hourly=HOURLY))[1])
    assert all(set(a.parameters) <= {"cond", "do"} for a in alone)
    events = [e for e in run(stream(["XT_TOWN"], 9, plume, seed=seed, hourly=HOURLY))[1]
              if e.alert.kind == "illegal_discharge"]
    assert len(_raised(events)) == 1
    named = next(e.alert for e in events if {"codmn", "cond"} <= set(e.alert.parameters))
    assert named.last_seen <= T1 + REPORT + STEP


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_front_is_no_evidence_for_an_analysers_result_two_cycles_later(seed: int) -> None:
    # The next result shows nothing; the one after it rises (CODMn for a reason of its
    # own). It was drawn more than an hour after the front had passed: not its water. (The
    # front itself may raise an alert on conductivity; the late result never joins it.)
    def later(sid: str, t: datetime) -> dict:
        lab = {"codmn": 1.8, "tp": 0.035} if between(t, T1 + REPORT + timedelta(hours=2), 60) else {}
        return {**short_front(t), **lab}

    events = run(stream(["XT_TOWN"], 10, later, seed=seed, hourly=HOURLY))[1]
    assert all(set(e.alert.parameters) <= {"cond", "do"} for e in events if e.alert.kind == "illegal_discharge")


@pytest.mark.parametrize("do_drop", [0.8, 0.0])
def test_conductivity_up_with_do_down_is_a_discharge_conductivity_alone_is_not(do_drop: float) -> None:
    # Between two results of the hourly analysers only the probes see a plume: conductivity
    # +70 µS/cm (about 7 times its spread) and DO down 0.8 mg/L (about 3 times its). DO falling
    # beside the salts is evidence of wastewater; conductivity alone is not enough.
    def plume(sid: str, t: datetime) -> dict:
        return {"cond": 70.0, "do": -do_drop} if sid == "XT_TOWN" and between(t, T1, 90) else {}

    raised = _raised(run(stream(["XT_TOWN"], 9, plume))[1])
    if do_drop:
        (a,) = raised
        assert {"cond", "do"} <= set(a.parameters) and a.start <= T1 + timedelta(minutes=10)
    else:
        assert raised == []


WITH_TN = {**BASE, "tn": 1.8}  # a national station's "9+X" set, total nitrogen among it


def _nitrogen(add: dict) -> list:
    def plume(sid: str, t: datetime) -> dict:
        return add if sid == "XT_TOWN" and between(t, T1, 120) else {}

    return _raised(run(stream(["XT_TOWN"], 10, plume, hourly=("nh3n", "tp", "tn"), base=WITH_TN))[1])


def test_total_nitrogen_beside_nh3n_and_tp_completes_a_small_sewage_plume() -> None:
    # A sewage pipe diluted in a river: the hourly analysers' next result has NH3-N +0.21
    # (z about 4), TP +0.03 (about 3) and TN +0.3 mg/L (about 3). NH3-N and TP alone weigh
    # 7 of the 8 a weighed signature needs; the TN analyser, an instrument of its own, makes
    # up the rest.
    (a,) = _nitrogen({"nh3n": 0.21, "tp": 0.03, "tn": 0.3})
    assert {"nh3n", "tp", "tn"} <= set(a.parameters)
    assert T1 + REPORT <= a.last_seen <= T1 + REPORT + 2 * STEP


def test_total_nitrogen_never_leads_a_signature() -> None:
    # Nitrate drained from fields lifts TN far (z about 6.5) with NH3-N barely moving (about
    # 2.2): together they weigh 8, but TN only ever keeps company.
    assert _nitrogen({"nh3n": 0.11, "tn": 0.7}) == []


def test_nh3n_and_total_nitrogen_up_together_are_one_marker_not_a_discharge() -> None:
    # Both clearly up (z about 5): most of the nitrogen is NH3-N, measured twice. A lake's or
    # a slow canal's analysers move the two together on their own.
    assert _nitrogen({"nh3n": 0.25, "tn": 0.5}) == []


def test_same_chemistry_with_turbidity_is_particles_not_a_discharge() -> None:
    # Stirred sediment carries TP with it: with turbidity up, TP is no evidence of sewage.
    def stirred(sid: str, t: datetime) -> dict:
        return {**SMALL, "turb": 20.0} if sid == "XT_TOWN" and between(t, T1, 60) else {}

    _, events = run(stream(["XT_TOWN"], 9, stirred))
    assert not _raised(events)


def test_a_stirred_bed_lifting_turbidity_and_nh3n_alone_is_not_a_discharge() -> None:
    # A barge's wash at night: turbidity 18 -> 38 NTU and the pore water's NH3-N +0.25 mg/L
    # (both far past z_rise), the salts, CODMn, TP and DO where they were. Two instruments,
    # but the particles are no wastewater marker of their own.
    def stirred(sid: str, t: datetime) -> dict:
        return {"turb": 20.0, "nh3n": 0.25} if sid == "XT_TOWN" and between(t, T1, 60) else {}

    _, events = run(stream(["XT_TOWN"], 9, stirred))
    assert not _raised(events)


def test_a_plume_with_its_particles_and_a_third_marker_beside_them_is_a_discharge() -> None:
    # The same turbidity and NH3-N with the salts up moderately beside them (+35 uS/cm: z
    # about 3.4 of a scale of 2 % of 520, over z_support and under z_rise). A stirred bed
    # does not move the salts; wastewater does.
    def plume(sid: str, t: datetime) -> dict:
        return {"turb": 20.0, "nh3n": 0.25, "cond": 35.0} if sid == "XT_TOWN" and between(t, T1, 60) else {}

    _, events = run(stream(["XT_TOWN"], 9, plume))
    (a,) = _raised(events)
    assert a.station == "XT_TOWN" and {"turb", "nh3n", "cond"} <= set(a.parameters)
    assert a.start <= T1 + STEP


def test_same_chemistry_in_rain_is_runoff_not_a_discharge() -> None:
    def small(sid: str, t: datetime) -> dict:
        return SMALL if sid == "XT_TOWN" and between(t, T1, 60) else {}

    readings = stream(["XT_TOWN"], 9, small)
    rain = [Reading("AQ_XT", T1 - timedelta(minutes=30) + i * STEP, "rain", 4.0) for i in range(24)]
    _, events = run(sorted(readings + rain, key=lambda r: r.time))
    assert not _raised(events)


def _river_in_rain(add: dict) -> list:
    def pulse(sid: str, t: datetime) -> dict:
        return add if sid == "XT_TOWN" and between(t, T1, 90) else {}

    readings = stream(["XT_TOWN"], 9, pulse)
    rain = [Reading("AQ_XT", T1 - timedelta(minutes=30) + i * STEP, "rain", 6.0) for i in range(24)]
    _, events = run(sorted(readings + rain, key=lambda r: r.time))
    return _raised(events)


def test_runoff_nutrients_in_rain_without_salt_are_not_a_discharge() -> None:
    # Runoff washes NH3-N, TP and organics into a river, each clearly up (z > 4), and
    # dilutes its salts: no pipe.
    assert _river_in_rain({"nh3n": 0.6, "tp": 0.1, "codmn": 2.0, "cond": -40.0}) == []


def test_sewage_in_rain_raises_conductivity_and_is_caught() -> None:
    (a,) = _river_in_rain({"nh3n": 0.6, "tp": 0.1, "codmn": 2.0, "cond": 120.0})
    assert a.station == "XT_TOWN" and "cond" in a.parameters


def test_industrial_effluent_in_rain_with_its_salts_only_moderately_up_is_caught() -> None:
    # A pipe of effluent in rain (BH4, 20291308): CODMn clearly up, NH3-N and conductivity
    # moderately (about 3 of their scales), turbidity flat. Rain had diluted the river's salts,
    # so conductivity back over its dry-weather baseline is the salts' evidence. Failed while
    # only the clear rule held in rain (two markers at z_rise, conductivity one of them).
    (a,) = _river_in_rain({"codmn": 2.0, "nh3n": 0.15, "cond": 30.0})
    assert a.station == "XT_TOWN" and {"codmn", "cond"} <= set(a.parameters)
    assert T1 <= a.start <= T1 + timedelta(minutes=15)


def test_sewage_in_rain_with_nutrients_far_out_and_salts_moderately_up_is_caught() -> None:
    # NH3-N and TP far out and conductivity about two and a half of its spreads up, in
    # rain: the weighed rule holds (conductivity at z_support among the markers). The clear
    # rule, which holds first, named NH3-N and TP only, so the rain's demand for the salts
    # turned it down before the weighed rule was asked.
    (a,) = _river_in_rain({"nh3n": 0.6, "tp": 0.1, "cond": 25.0})
    assert a.station == "XT_TOWN" and {"nh3n", "tp", "cond"} <= set(a.parameters)


def test_runoff_nutrients_in_rain_with_salts_within_their_noise_are_not_a_discharge() -> None:
    assert _river_in_rain({"nh3n": 0.6, "tp": 0.1, "codmn": 2.0, "cond": 10.0}) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_step_at_a_plant_whose_nh3n_wanders_is_judged_when_its_cod_is_clearly_out(seed: int) -> None:
    # A plant's effluent NH3-N wanders ±0.2 mg/L over three hours, so its 6-h baseline is
    # wide. Sewage bypassed into the outfall steps NH3-N up 0.25 mg/L with COD +6 (z 6) and
    # TP: the step stands out of the hour before it, but NH3-N is not z_support over the wide
    # baseline, and the step rule was only looked at when a dissolved marker was
    # (OF_YH2_WWTP, 20301209: COD z 4.7 first, raised 55 min after arrival). Never raised.
    def bypass(sid: str, t: datetime) -> dict:
        if sid != "OF_XT_WWTP":
            return {}
        add = {"nh3n": 0.2 * math.sin(2 * math.pi * (t - T0).total_seconds() / (3 * 3600))}
        if between(t, T1, 60):
            add = {"nh3n": add["nh3n"] + 0.25, "cod": 6.0, "tp": 0.03}
        return add

    (a,) = _raised(run(stream(["OF_XT_WWTP"], 9, bypass, seed=seed))[1])
    assert "nh3n" in a.parameters and a.start <= T1 + timedelta(minutes=15)


def wandering_effluent(minutes: int, seed: int, bypass_at: float | None = None, hours: float = 48.0) -> list[Reading]:
    """OF_YZ_IND's effluent sampled every ``minutes``: COD, NH3-N and TP wandering ±10 %
    together over an 8-h process cycle, 2 % noise. ``bypass_at``: from that hour on, for an
    hour, raw wastewater let in (COD +15, NH3-N +0.5, TP +0.06 mg/L, salts +150 µS/cm)."""
    g = np.random.default_rng(seed)
    effluent = {"cond": 3000.0, "nh3n": 2.0, "cod": 42.0, "tp": 0.27, "turb": 6.0, "ph": 7.7, "temp": 32.5,
                "flow": 37.0}
    bypass = {"cod": 15.0, "nh3n": 0.5, "tp": 0.06, "cond": 150.0}
    phase = g.uniform(0, 2 * math.pi)
    out = []
    for i in range(int(hours * 60 / minutes)):
        t = T0 + i * timedelta(minutes=minutes)
        h = (t - T0).total_seconds() / 3600
        cycle = 0.1 * math.sin(2 * math.pi * h / 8 + phase)
        for p, v in effluent.items():
            x = v * (1 + cycle) if p in ("cod", "nh3n", "tp") else v
            if bypass_at is not None and bypass_at <= h < bypass_at + 1:
                x += bypass.get(p, 0.0)
            noise = 0.0 if p in ("ph", "temp") else 0.02
            out.append(Reading("OF_YZ_IND", t, p, round(x * (1 + g.normal(0, noise)), 3)))
    return out


def test_an_effluent_wandering_over_hours_raises_no_more_at_10_min_than_at_5() -> None:
    # The step rule compared the median of its last 6 samples with that of the 12 before:
    # at 10 min the last hour against the two before it, and a process cycle's flank is a
    # step there. A fourth network's 10-min months (lake_delta.toml) had four times the false
    # alerts of their 5-min months, nearly all at its factories and plants. Here: 11 alerts
    # at 10 min in ten 48-h runs against 3 at 5 min, before the windows kept their span.
    at = {m: sum(len(_raised(run(wandering_effluent(m, seed))[1])) for seed in range(1, 11)) for m in (5, 10)}
    assert at[10] <= at[5] + 1, at


def test_a_bypass_into_a_wandering_effluent_sampled_every_10_min_is_caught() -> None:
    # The control: the shorter windows at 10 min still see the step of a bypass, sooner than
    # the long ones did (5 of 10 within 30 min).
    t_in = T0 + timedelta(hours=30)
    caught = sum(any(t_in - timedelta(minutes=10) <= a.start <= t_in + timedelta(minutes=30)
                     for a in _raised(run(wandering_effluent(10, seed, bypass_at=30.0))[1]))
                 for seed in range(1, 11))
    assert caught >= 6


def test_a_step_of_one_marker_far_out_with_weak_company_is_not_a_discharge() -> None:
    # At a plant's outfall NH3-N steps up by 0.5 mg/L, some 15 of its step units, and COD by
    # 1.3 mg/L, about 2: weighed as the correlated rise weighs, one marker far out with only
    # weak company is the fault pattern, in steps as in levels.
    def fault(sid: str, t: datetime) -> dict:
        return {"nh3n": 0.5, "cod": 1.3} if sid == "OF_XT_WWTP" and t >= T1 else {}

    assert not _raised(run(stream(["OF_XT_WWTP"], 9, fault))[1])


@pytest.mark.parametrize("sid, markers, raised", [
    ("OF_XT_WWTP", ("cod", "nh3n", "cond", "tp"), True), ("OF_XT_WWTP", ("cod", "nh3n", "tp"), False),
    ("XT_TOWN", ("codmn", "nh3n", "cond", "tp"), True), ("XT_TOWN", ("codmn", "nh3n", "tp"), False)])
def test_a_discharge_seen_at_one_sample_by_four_instruments_is_raised_at_once(sid: str, markers: tuple,
                                                                               raised: bool) -> None:
    # OF_XT_WWTP (20281615): a 20-min industrial discharge fell into the outfall's dropouts,
    # and its one sample showed COD z 61, NH3-N 27, conductivity 20 and TP 17.5. The policy
    # waited for a second sample, which had none of it: never raised. Four instruments far
    # out at once, both dissolved markers among them, is no instrument's blip, at an outfall
    # or in a river. Three at one sample wait for the next sample as before.
    jump = {"cod": 100.0, "codmn": 3.0, "nh3n": 1.5, "cond": 400.0, "tp": 0.2}

    def one_sample(s: str, t: datetime) -> dict:
        return {p: jump[p] for p in markers} if s == sid and t == T1 else {}

    gap = (T1 + STEP, T1 + 5 * STEP)  # the records after it lost, as at the plant
    readings = [r for r in stream([sid], 8, one_sample) if not gap[0] <= r.time < gap[1]]
    found = _raised(run(readings)[1])
    if raised:
        (a,) = found
        assert a.station == sid and set(markers) <= set(a.parameters) and a.last_seen == T1
    else:
        assert not found


def test_one_marker_far_out_with_weak_company_stays_a_fault() -> None:
    # NH3-N z 20 with TP z 2.2 beside it: the fault pattern, not a plume.
    def jump(sid: str, t: datetime) -> dict:
        return {"nh3n": 1.0, "tp": 0.022} if sid == "XT_TOWN" and t >= T1 else {}

    _, events = run(stream(["XT_TOWN"], 8, jump))
    assert not _raised(events)
    assert _raised(events, "sensor_fault")


# -- rain outfalls in a storm ----------------------------------------------------------------
OUTFALL = {"cond": 420.0, "nh3n": 1.2, "cod": 30.0, "turb": 20.0}
RAIN_OUTFALLS = ["OF_TZ_RAIN", "OF_XT_RAIN", "OF_YZ_RAIN", "OF_JZ_RAIN"]


def storm_readings(sewage, hours: float = 14, storm_at: float = 6.0, seed: int = 3,
                   runoff_after: float = 0.0, flush_nh3n: float = 1.5, flush_salt: float = 0.0,
                   recession_min: float = 240.0, rain_hours: float = 3.0) -> list[Reading]:
    """Every rain outfall, 5-min data; rain from ``storm_at`` h for ``rain_hours``, the outfalls' runoff from
    ``runoff_after`` minutes later: first flush (COD, turbidity up, NH3-N ``flush_nh3n`` mg/L, salts
    washed off the pipes ``flush_salt`` µS/cm, for 20 min), then a recession (flow falling with
    time constant ``recession_min``) with conductivity falling steadily. ``sewage(sid, t) ->
    dict`` adds a discharge."""
    g = np.random.default_rng(seed)
    t_rain = T0 + timedelta(hours=storm_at)
    t_storm = t_rain + timedelta(minutes=runoff_after)
    out = []
    for i in range(int(hours * 12)):
        t = T0 + i * STEP
        wet_min = (t - t_storm).total_seconds() / 60
        rain_min = (t - t_rain).total_seconds() / 60
        for sid in RAIN_OUTFALLS:
            v = dict(OUTFALL)
            flow = 0.0
            if wet_min >= 0:
                flow = storm_flow(wet_min, recession_min)
                flush = 1.0 if wet_min < 20 else np.exp(-(wet_min - 20) / 40)
                v["cod"] += 60 * flush
                v["turb"] += 80 * flush
                v["nh3n"] += flush_nh3n * flush
                v["cond"] = 420 - 250 * (1 - np.exp(-wet_min / 60)) + flush_salt * flush
            for p, x in sewage(sid, t).items():
                if p != "flow":  # the flow has its reading below, noise-free
                    v[p] = v.get(p, 0.0) + x
            for p, x in v.items():
                out.append(Reading(sid, t, p, round(max(0.0, x + g.normal(0, 0.01 * x)), 3)))
            out.append(Reading(sid, t, "flow", round(flow + sewage(sid, t).get("flow", 0.0), 1)))
        if 0 <= rain_min < 60 * rain_hours:
            out.append(Reading("OF_TZ_RAIN", t, "rain", 8.0))
    return out


def storm_flow(wet_min: float, recession_min: float = 240.0) -> float:
    return float(150.0 * np.exp(-wet_min / recession_min))


@pytest.mark.parametrize("recession_min", [240.0, 40.0])
def test_first_flush_at_every_rain_outfall_is_not_a_discharge(recession_min: float) -> None:
    _, events = run(storm_readings(lambda sid, t: {}, recession_min=recession_min))
    assert not _raised(events)


def test_sewage_into_a_receding_storm_flow_is_caught_as_the_flow_falls() -> None:
    # A strong first flush and a storm that ends quickly (flow falls by half in 30 min).
    # Half an hour in, while the storm's course is still being learnt, a pipe lets 6 L/s of
    # sewage (NH3-N 30 mg/L, 1000 µS/cm, COD 300 mg/L) into the outfall: mixed into the
    # runoff it adds little at first, then more and more as the runoff dries up. Runoff's
    # concentrations do not rise while its flow falls.
    t_rain = T0 + timedelta(hours=6)
    t_open = t_rain + timedelta(minutes=30)

    def sewage(s: str, t: datetime) -> dict:
        if s != "OF_XT_RAIN" or not between(t, t_open, 120):
            return {}
        q = storm_flow((t - t_rain).total_seconds() / 60, 40.0)
        share = 6.0 / (q + 6.0)
        return {"nh3n": 30.0 * share, "cond": 600.0 * share, "cod": 270.0 * share, "flow": 6.0}

    readings = storm_readings(sewage, recession_min=40.0, flush_nh3n=3.0, flush_salt=300)
    (a,) = _raised(run(readings)[1])
    assert a.station == "OF_XT_RAIN" and "nh3n" in a.parameters
    assert a.start <= t_open + timedelta(minutes=15)


def test_sewage_into_a_first_flush_before_the_outfall_has_a_baseline_is_caught() -> None:
    # The data begin half an hour before a storm (a new station; a month's first hour:
    # OF_NZ2_RAIN, 20291329), so no outfall has a dry-weather baseline yet. Twenty minutes
    # into the flush a pipe lets sewage in: NH3-N 4 → 16 mg/L, at raw sewage's level, and
    # conductivity up a third while turbidity holds. Never raised while salts without
    # particles asked NH3-N to stand out of a baseline the outfall did not have.
    t_rain = T0 + timedelta(minutes=30)
    t_open = t_rain + timedelta(minutes=20)

    def sewage(s: str, t: datetime) -> dict:
        return {"nh3n": 12.0, "cond": 150.0, "flow": 20.0} if s == "OF_XT_RAIN" and between(t, t_open, 60) else {}

    readings = storm_readings(sewage, hours=6, storm_at=0.5, flush_nh3n=3.0)
    (a,) = _raised(run(readings)[1])
    assert a.station == "OF_XT_RAIN" and {"nh3n", "cond"} <= set(a.parameters)
    assert a.start <= t_open + STEP
    assert not _raised(run(storm_readings(lambda sid, t: {}, hours=6, storm_at=0.5, flush_nh3n=3.0))[1])


def test_a_first_flush_arriving_after_the_rain_began_is_not_a_discharge() -> None:
    # The gauge sees rain half an hour before the outfalls' runoff comes, and that flush
    # is strong: NH3-N +3 mg/L, salts off the pipes (+300 µS/cm). Against the dry water
    # still standing in the outfalls when the rain began, it would look like a step.
    readings = storm_readings(lambda sid, t: {}, runoff_after=30, flush_nh3n=3.0, flush_salt=300)
    assert not _raised(run(readings)[1])


def test_a_flush_after_an_earlier_shower_of_the_same_storm_is_not_a_discharge() -> None:
    # The storm's first shower only pushes the dry water standing in OF_JZ_RAIN out (5 L/s
    # for 35 min); the runoff and its first flush, salty, COD up, come an hour after the rain
    # began. The shower's samples are no reference for that flush's salts. (NH3-N stays
    # below the gate of the NH3-N storm rules; their course has the same weakness, left
    # alone: a discharge that makes a still outfall flow in rain is judged against it.)
    t_rain = T0 + timedelta(hours=6)

    def shower(sid: str, t: datetime) -> dict:
        return {"flow": 5.0} if sid == "OF_JZ_RAIN" and between(t, t_rain + STEP, 35) else {}

    readings = storm_readings(shower, runoff_after=60, flush_salt=300)
    assert not _raised(run(readings)[1])


def test_sewage_flowing_for_hours_in_dry_weather_never_becomes_a_rain_outfalls_normal() -> None:
    # A cross-connection sends sewage out of OF_XT_RAIN for twelve hours in dry weather, stops
    # for an hour, then starts again. Learnt as the outfall's normal after the first hours,
    # the sewage would hide the second discharge.
    g = np.random.default_rng(5)
    t1, t2 = T0 + timedelta(hours=8), T0 + timedelta(hours=21)
    sewage = {"cond": 350.0, "nh3n": 15.0, "cod": 170.0, "turb": 65.0}
    readings = []
    for i in range(23 * 12):
        t = T0 + i * STEP
        on = between(t, t1, 12 * 60) or between(t, t2, 45)
        for p, v in OUTFALL.items():
            x = v + (sewage[p] if on else 0.0)
            readings.append(Reading("OF_XT_RAIN", t, p, round(x + g.normal(0, 0.01 * x), 3)))
        readings.append(Reading("OF_XT_RAIN", t, "flow", 5.0 if on else 0.0))
    events = run(readings)[1]
    seen = [e.alert.last_seen for e in events if e.alert.kind == "illegal_discharge"]
    assert seen and max(seen) >= t2


def storm_alert(sid: str, t_open: datetime, minutes: float, add: dict):
    """The one discharge alert raised when ``add`` flows out of ``sid`` from ``t_open``."""
    def sewage(s: str, t: datetime) -> dict:
        return add if s == sid and between(t, t_open, minutes) else {}

    _, events = run(storm_readings(sewage))
    (a,) = _raised(events)
    assert a.station == sid
    return a


def test_sewage_opened_in_a_storm_recession_is_caught_against_the_storm_course() -> None:
    t_open = T0 + timedelta(hours=8)  # two hours into the storm, conductivity still falling
    a = storm_alert("OF_XT_RAIN", t_open, 40, {"nh3n": 4.0, "cond": 120.0, "cod": 40.0})
    assert {"nh3n", "cond"} <= set(a.parameters)
    assert t_open <= a.last_seen <= t_open + timedelta(minutes=10)


def test_sewage_in_a_storm_is_caught_by_nh3n_with_weaker_company() -> None:
    # Sewage let into a storm flow two hours in: NH3-N jumps by 3.5 mg/L (many times the
    # storm's swings), while the runoff already there dilutes its salts to +28 µS/cm, under
    # a clear jump in the storm's own units. Weighed together, as in dry weather, the two
    # are a pipe.
    t_open = T0 + timedelta(hours=8)
    a = storm_alert("OF_XT_RAIN", t_open, 40, {"nh3n": 3.5, "cond": 28.0, "cod": 3.0})
    assert a.parameters[0] == "nh3n" and "cond" in a.parameters
    assert t_open <= a.last_seen <= t_open + timedelta(minutes=10)


def test_a_small_sewage_pipe_in_a_storm_below_the_nh3n_gate_is_caught_by_its_load() -> None:
    # Two hours into the storm 4 L/s of sewage joins some 90 L/s of storm water: NH3-N
    # +1.0 mg/L, salts +33 µS/cm, COD +11 mg/L. NH3-N stays under the outfall's dry-weather
    # level plus the 2 mg/L gate, so only the outfall's NH3-N load (flow × concentration)
    # tells a pipe: up by half with the flow about steady, which runoff never does.
    t_open = T0 + timedelta(hours=8)
    a = storm_alert("OF_YZ_RAIN", t_open, 40, {"nh3n": 1.0, "cond": 33.0, "cod": 11.0, "flow": 4.0})
    assert a.parameters[0] == "nh3n" and len(a.parameters) >= 2
    assert t_open <= a.last_seen <= t_open + timedelta(minutes=10)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_outfalls_own_water_coming_back_as_a_quick_storm_dies_away_is_not_a_discharge(seed: int) -> None:
    # Runoff with little NH3-N (0.3 mg/L) that stops an hour into the storm: from then on
    # its flow halves every sample. Each outfall's own water (NH3-N 1.2 mg/L, 420 µS/cm)
    # makes up more and more of what still flows, so NH3-N and salts climb by half a sample
    # and jump out of the storm's course; but the loads fall with the flow, as in any
    # recession.
    t_rain = T0 + timedelta(hours=6)

    def own_water(sid: str, t: datetime) -> dict:
        wet = (t - t_rain).total_seconds() / 60
        if wet < 0:
            return {}
        flush = 1.0 if wet < 20 else np.exp(-(wet - 20) / 40)
        storm_n, storm_c = 1.2 + 0.3 * flush, 420 - 250 * (1 - np.exp(-wet / 60))
        runoff_n = storm_n - 0.9
        if wet < 60:
            return {"nh3n": runoff_n - storm_n}
        q = storm_flow(60) * 0.5 ** ((wet - 60) / 5)
        own = 5.0 / (q + 5.0)
        return {"nh3n": runoff_n * (1 - own) + 1.2 * own - storm_n, "cond": (420 - storm_c) * own,
                "flow": q - storm_flow(wet)}

    assert not _raised(run(storm_readings(own_water, hours=10, seed=seed, flush_nh3n=0.3))[1])


def test_wastewater_standing_out_of_a_first_flush_at_one_sample_is_raised_at_once() -> None:
    # Effluent let in as the storm's runoff arrives is swamped by it after one sample: there,
    # conductivity three times the outfall's dry-weather level and NH3-N 4 mg/L over it, in
    # rain that dilutes salts. That is wastewater measured, not a trend to wait for.
    t_open = T0 + timedelta(hours=6, minutes=5)

    def effluent(sid: str, t: datetime) -> dict:
        return {"cond": 900.0, "nh3n": 4.0, "cod": 200.0} if sid == "OF_YZ_RAIN" and between(t, t_open, 5) else {}

    (a,) = _raised(run(storm_readings(effluent))[1])
    assert a.station == "OF_YZ_RAIN" and {"nh3n", "cond"} <= set(a.parameters)
    assert a.last_seen == t_open


def test_raw_sewage_in_a_storm_is_raised_at_once_by_an_nh3n_analyser_just_back() -> None:
    # The NH3-N analyser at OF_YZ_RAIN is back from calibration 40 min before the rain (its
    # baseline starts again, and has too few samples to be used); 10 min into the storm a
    # sewer lets raw sewage in: NH3-N 20 mg/L over the outfall's water, conductivity up
    # 600 µS/cm. NH3-N at raw sewage's level is sewage without a baseline of its own; the
    # core before waited for the storm's course, which the sewage was part of, and raised none.
    t_back = T0 + timedelta(hours=6) - timedelta(minutes=40)
    t_open = T0 + timedelta(hours=6, minutes=10)

    def sewage(sid: str, t: datetime) -> dict:
        return {"nh3n": 20.0, "cond": 600.0, "cod": 200.0} if sid == "OF_YZ_RAIN" and between(t, t_open, 40) else {}

    readings = [r for r in storm_readings(sewage)
                if not (r.station == "OF_YZ_RAIN" and r.parameter == "nh3n" and r.time < t_back)]
    (a,) = _raised(run(readings)[1])
    assert a.station == "OF_YZ_RAIN" and {"nh3n", "cond"} <= set(a.parameters)
    assert a.last_seen == t_open


def minute_storm(seed: int, sewage: dict | None = None, hours: float = 8.0) -> list[Reading]:
    """OF_YZ_RAIN sampled every minute through a storm 4 h in: the rain first dilutes the
    pipe's standing water (salts down 40 %, NH3-N 30 %, for about five minutes), then the
    catchment's first flush comes in over six minutes (turbidity 18 → 218 NTU, COD 33 → 213
    mg/L, NH3-N up 1.6 mg/L, salts back up) and ebbs. ``sewage``: added for 40 min from an
    hour after the flush (5 h in)."""
    g = np.random.default_rng(seed)
    t_rain = T0 + timedelta(hours=4)
    out = []
    for i in range(int(hours * 60)):
        t = T0 + timedelta(minutes=i)
        m = (t - t_rain).total_seconds() / 60
        v = {"cond": 425.0, "nh3n": 1.2, "cod": 33.0, "turb": 18.0, "flow": float(g.uniform(0.0, 0.6))}
        if 0 <= m < 180:
            out.append(Reading("OF_YZ_RAIN", t, "rain", round(float(g.uniform(2.0, 5.0)), 1)))
            rainwater = min(1.0, (m + 1) / 5) * (1 - min(1.0, max(0.0, (m - 5) / 5)))
            flush = min(1.0, max(0.0, (m - 5) / 6)) * math.exp(-max(0.0, m - 25) / 125)
            v = {"flow": 30.0 * min(1.0, (m + 1) / 15), "turb": 18 + 200 * flush, "cod": 33 + 180 * flush,
                 "nh3n": 1.2 * (1 - 0.3 * rainwater) + 1.6 * flush,
                 "cond": 425 * (1 - 0.4 * rainwater) + 60 * flush - 200 * (1 - math.exp(-max(0.0, m - 25) / 60))}
            if sewage and 60 <= m < 100:
                v = {p: x + sewage.get(p, 0.0) for p, x in v.items()}
        for p, x in v.items():
            noise = 0.0 if p == "flow" else (0.03 if p in ("cond", "nh3n") else 0.02)
            out.append(Reading("OF_YZ_RAIN", t, p, round(max(0.0, x * (1 + g.normal(0, noise))), 3)))
    return out


def test_a_first_flush_in_minute_data_is_no_discharge() -> None:
    # Counted in samples, the storm rules took the flush to be over after six samples of
    # flowing, six minutes at this cadence, still in its climb: against the storm's course
    # the rest of the climb read as a jump (10 false alerts in these 10 storms). The fourth
    # network's 1-min months had 45 false alerts at rain outfalls so (lake_delta.toml).
    assert [seed for seed in range(1, 11) if _raised(run(minute_storm(seed))[1])] == []


def test_sewage_let_into_a_storm_in_minute_data_is_caught() -> None:
    # The control: sewage an hour after the flush, NH3-N +2.5 mg/L with its salts and COD,
    # is raised within 30 min in each storm (none before: the flush's false alert was open).
    t_open = T0 + timedelta(hours=5)
    sewage = {"nh3n": 2.5, "cond": 60.0, "cod": 15.0}
    caught = sum(any(t_open <= a.start <= t_open + timedelta(minutes=30)
                     for a in _raised(run(minute_storm(seed, sewage))[1])) for seed in range(1, 11))
    assert caught == 10


def test_nh3n_alone_jumping_in_a_storm_is_not_a_discharge() -> None:
    # The same NH3-N jump with nothing beside it: one marker, no pipe.
    def alone(sid: str, t: datetime) -> dict:
        return {"nh3n": 3.5} if sid == "OF_XT_RAIN" and between(t, T0 + timedelta(hours=8), 40) else {}

    assert not _raised(run(storm_readings(alone))[1])


def steep_storm(add, seed: int, hours: float = 8.0, storm_at: float = 4.0, second_burst: bool = False,
                diluted: float = 60.0) -> list[Reading]:
    """OF_YZ_RAIN in a storm whose first flush climbs over four samples, as urban outfalls
    do (turbidity 18 → 190 NTU, COD 33 → 190 mg/L, NH3-N 1.2 → 2.6 mg/L), then ebbs by a
    few per cent a sample; conductivity falls as rain water dilutes the outfall's own.
    The flush's climb is in the storm's own course, so a sample-to-sample step there is
    large. ``second_burst``: a new burst of rain an hour in washes a second flush off the
    catchment (turbidity, COD, NH3-N and the salts on its surfaces up together).
    ``diluted``: µS/cm the rain water takes off the outfall's 425 as the storm goes on.
    ``add(k) -> dict`` adds to flowing sample ``k`` (``flow`` in L/s)."""
    g = np.random.default_rng(seed)
    t_rain = T0 + timedelta(hours=storm_at)
    out = []
    for i in range(int(hours * 12)):
        t = T0 + i * STEP
        k = int((t - t_rain) / STEP)
        v = {"cond": 425.0, "nh3n": 1.2, "cod": 33.0, "turb": 18.0, "flow": float(g.uniform(0.0, 0.6))}
        if 0 <= k < 36:
            out.append(Reading("OF_YZ_RAIN", t, "rain", round(float(g.uniform(2.0, 5.0)), 1)))
            flush = min(1.0, (k + 1) / 4) * float(np.exp(-max(0, k - 5) / 25))
            if second_burst and k >= 12:
                flush += min(1.0, (k - 11) / 3) * 0.5 * float(np.exp(-max(0, k - 15) / 25))
            v = {"flow": 60.0 * min(1.0, (k + 1) / 4) * (1 + (0.6 if second_burst and k >= 12 else 0.0)),
                 "turb": 18.0 + 175.0 * flush, "cod": 33.0 + 160.0 * flush, "nh3n": 1.2 + 1.4 * flush,
                 "cond": 425.0 - diluted * (1 - float(np.exp(-k / 8))) + 40.0 * max(0.0, flush - 0.6)}
        for p, x in add(k).items():
            v[p] = v.get(p, 0.0) + x
        for p, x in v.items():
            noise = 0.0 if p == "flow" else (0.03 if p in ("cond", "nh3n") else 0.02)
            out.append(Reading("OF_YZ_RAIN", t, p, round(max(0.0, x * (1 + g.normal(0, noise))), 3)))
    return out


def bursty_storm(seed: int, hours: float = 10.0, storm_at: float = 4.0) -> list[Reading]:
    """OF_TZ_RAIN in a storm of bursts, 5-min data: rain of 2–12 mm/h drawn afresh at every
    sample for three hours, the runoff's flow following it; every burst washes particles
    off the catchment (turbidity, COD, some NH3-N with them, each ±20 % on its own), less as
    the catchment is washed clean, while the salts are diluted by the share of rain water in
    the flow (±10 % a sample). Then the outfall's own water returns within the hour."""
    g = np.random.default_rng(seed)
    t_rain = T0 + timedelta(hours=storm_at)
    out = []
    washed = 0.0
    for i in range(int(hours * 12)):
        t = T0 + i * STEP
        wet_min = (t - t_rain).total_seconds() / 60
        v = dict(OUTFALL)
        flow = float(g.uniform(0.0, 0.6))
        if 0 <= wet_min < 180:
            rain = float(g.uniform(2.0, 12.0))
            out.append(Reading("OF_TZ_RAIN", t, "rain", round(rain, 1)))
            flow = 25.0 * rain * min(1.0, (wet_min + 5) / 20)
            wash = rain * float(np.exp(-washed / 60.0))
            washed += rain
            runoff = flow / (flow + 2.0)
            v["turb"] = 20.0 + 30.0 * wash * float(g.uniform(0.8, 1.2))
            v["cod"] = 30.0 + 20.0 * wash * float(g.uniform(0.8, 1.2))
            v["nh3n"] = 1.2 + 0.25 * wash * float(g.uniform(0.8, 1.2))
            v["cond"] = 420.0 * (1 - 0.5 * runoff) * float(g.uniform(0.9, 1.1)) + 8.0 * wash
        elif wet_min >= 180:
            back = min(1.0, (wet_min - 180) / 60)
            flow = 40.0 * (1 - back)
            v["cond"] = 420.0 - 150.0 * (1 - back)
            v["turb"] = 20.0 + 30.0 * (1 - back)
        for p, x in v.items():
            out.append(Reading("OF_TZ_RAIN", t, p, round(max(0.0, x * (1 + g.normal(0, 0.01))), 3)))
        out.append(Reading("OF_TZ_RAIN", t, "flow", round(flow, 1)))
    return out


@pytest.mark.parametrize("seed", range(1, 9))
def test_a_storm_of_bursts_is_no_discharge(seed: int) -> None:
    # Salts and NH3-N swing up between a lull and the next burst; the particles swing more.
    # Weighed against different samples (the salts against the lull, the particles against
    # the burst before it) one storm in 20 of these raised a discharge.
    assert not _raised(run(bursty_storm(seed))[1])


SEWAGE_IN = {"nh3n": 2.0, "cond": 70.0, "cod": 8.0, "turb": 2.0, "flow": 8.0}


def test_sewage_let_into_a_first_flush_shows_in_salts_without_particles() -> None:
    # At the flush's peak (its fifth sample) 8 L/s of sewage join 60 L/s of storm water for
    # 40 min: NH3-N +2 mg/L, conductivity +70 µS/cm (a sixth more), turbidity and COD hardly.
    # The storm rules that measure against the storm's course have none yet (it needs six
    # flowing samples), and by then the sewage is in it: the core before raised none of the
    # ten storms below. What tells it is salts and NH3-N rising with no particles rising with
    # them; the storms' noise (3 % on NH3-N and conductivity) hides it in two of ten.
    k_open = 4
    t_open = T0 + timedelta(hours=4) + k_open * STEP
    caught = 0
    for seed in range(1, 11):
        found = _raised(run(steep_storm(lambda k: SEWAGE_IN if k_open <= k < k_open + 8 else {}, seed))[1])
        assert all(a.station == "OF_YZ_RAIN" and {"nh3n", "cond"} <= set(a.parameters) for a in found)
        caught += any(a.last_seen <= t_open + timedelta(minutes=10) for a in found)
    assert caught >= 8


def test_sewage_let_into_a_storm_that_washed_the_salts_out_is_caught_by_its_salts_share() -> None:
    # A heavy storm is washing the outfall's 425 µS/cm down toward 170, still 6 µS/cm a
    # sample when, 70 min in, sewage is let in for 40 min: NH3-N +1.8 mg/L, the salts
    # +30 µS/cm (+14 %), the particles diluted. The salts' rise clears the rule's 10 % but
    # not four times the probe's floor (MIN_SCALE 8 µS/cm: 32), which the core before also
    # asked for: at a heavy storm's low salts that bar stood for a rise of 15–20 %. It caught
    # 5 of these 20 within 30 min, the falling salts eating the rise at the first sample
    # (OF_CH1_RAIN_B, 20301276: NH3-N 1.2 → 2.3 mg/L, salts 163 → 179 → 183 µS/cm with
    # turbidity falling, never raised). With the absolute bar at twice the floor, 12.
    k_open = 14
    t_open = T0 + timedelta(hours=4) + k_open * STEP
    add = {"nh3n": 1.8, "cond": 30.0, "turb": -10.0, "cod": -8.0}
    caught = 0
    for seed in range(1, 21):
        found = _raised(run(steep_storm(lambda k: add if k_open <= k < k_open + 8 else {}, seed, diluted=255.0))[1])
        assert all(a.station == "OF_YZ_RAIN" and "nh3n" in a.parameters for a in found)
        caught += any(t_open <= a.last_seen <= t_open + timedelta(minutes=30) for a in found)
    assert caught >= 10


def test_an_nh3n_offset_in_a_storm_that_washed_the_salts_out_is_rarely_a_discharge() -> None:
    # The price of the bar above: at 170 µS/cm the storm's own 3 % noise moves the salts by
    # 5 µS/cm a sample, so the 10 % (17 µS/cm) beside an NH3-N analyser reading 2 mg/L high
    # is a three-sigma swing, and the sample after it must hold half of it again.
    raised = [(k0, seed) for k0 in (12, 18, 24) for seed in range(1, 41)
              if _raised(run(steep_storm(lambda k, k0=k0: {"nh3n": 2.0} if k >= k0 else {}, seed,
                                         diluted=255.0))[1])]
    assert len(raised) <= 6


def diluting_storm(add, seed: int, hours: float = 8.0) -> list[Reading]:
    """OF_YZ_RAIN in a long, steady storm (150 L/s ±10 % for three hours, 4 h in) whose rain
    water dilutes the outfall's own (425 µS/cm, NH3-N 1.2 mg/L) to 140 µS/cm and NH3-N
    0.7 mg/L, under the dry-weather level, with a little washoff (turbidity 33 NTU, COD
    45 mg/L). ``add(k) -> dict`` adds to flowing sample ``k``."""
    g = np.random.default_rng(seed)
    t_rain = T0 + timedelta(hours=4)
    dry = {"cond": 425.0, "nh3n": 1.2, "cod": 33.0, "turb": 18.0}
    storm = {"cond": 140.0, "nh3n": 0.7, "cod": 45.0, "turb": 33.0}
    out = []
    for i in range(int(hours * 12)):
        t = T0 + i * STEP
        k = int((t - t_rain) / STEP)
        v = {**dry, "flow": float(g.uniform(0.0, 0.6))}
        if 0 <= k < 36:
            out.append(Reading("OF_YZ_RAIN", t, "rain", round(float(g.uniform(4.0, 9.0)), 1)))
            wet = min(1.0, (k + 1) / 4)
            v = {p: dry[p] + wet * (storm[p] - dry[p]) for p in dry}
            v["flow"] = 150.0 * wet * float(g.uniform(0.9, 1.1))
        for p, x in add(k).items():
            v[p] = v.get(p, 0.0) + x
        for p, x in v.items():
            noise = 0.0 if p == "flow" else 0.02
            out.append(Reading("OF_YZ_RAIN", t, p, round(max(0.0, x * (1 + g.normal(0, noise))), 3)))
    return out


def test_sewage_in_a_storm_that_diluted_nh3n_under_dry_weather_is_caught_by_salts_without_particles() -> None:
    # XT's rain outfall, 20281760: a storm of 150 L/s had diluted its NH3-N from 1.1 to
    # 0.7 mg/L when 10.6 L/s of sewage came in: NH3-N 0.71 → 1.26 mg/L, salts 136 → 160
    # µS/cm, turbidity flat. Salts and NH3-N rising without particles, but the rule also
    # asked for NH3-N three scales over the dry-weather level (the outfall's own water
    # coming back as a storm ends lifts salts without particles too): raised at 85 min,
    # when the storm ebbed. Its own water coming back moves both toward their dry-weather
    # levels by one share; NH3-N past that share came from elsewhere. Here a heavier
    # spell of rain lifts the flow as the pipe opens (XT: 149 → 181 L/s), so the load rule
    # waits; the core before raised 6 of these twenty within 10 min (15 within 30).
    k_open = 14
    t_open = T0 + timedelta(hours=4) + k_open * STEP
    add = {"nh3n": 0.55, "cond": 24.0, "cod": 5.0, "flow": 35.0}
    caught = 0
    for seed in range(1, 21):
        found = _raised(run(diluting_storm(lambda k: add if k_open <= k < k_open + 10 else {}, seed))[1])
        assert all(a.station == "OF_YZ_RAIN" and "nh3n" in a.parameters for a in found)
        caught += any(t_open <= a.last_seen <= t_open + timedelta(minutes=10) for a in found)
    assert caught >= 16


@pytest.mark.parametrize("seed", range(1, 7))
@pytest.mark.parametrize("what", ["storm", "second burst", "nh3n offset"])
def test_a_storm_its_second_flush_or_an_nh3n_offset_in_it_is_no_discharge(what: str, seed: int) -> None:
    # The same storm alone; with a new burst of rain washing a second flush (salts and
    # NH3-N up, but with the particles); with the NH3-N analyser reading 2 mg/L high from
    # the same sample as the sewage above (one instrument: conductivity does not move).
    add = (lambda k: {"nh3n": 2.0} if k >= 4 else {}) if what == "nh3n offset" else (lambda k: {})
    assert not _raised(run(steep_storm(add, seed, second_burst=what == "second burst"))[1])


def test_a_second_flush_is_no_discharge_in_forty_storms() -> None:
    # A new burst of rain an hour in washes NH3-N and COD off the catchment again, with the
    # particles they are bound to. Against the storm's course NH3-N and COD jump together,
    # which the course rule took for a pipe in 2 of these 40 storms while it counted COD as
    # company whatever turbidity did.
    raised = [seed for seed in range(1, 41)
              if _raised(run(steep_storm(lambda k: {}, seed, second_burst=True))[1])]
    assert raised == []


def test_sewage_let_in_as_heavier_rain_dilutes_the_storm_is_caught_by_its_nh3n_load() -> None:
    # An hour into the storm, as the rain grows heavier (flow +12 L/s, turbidity and COD
    # diluted), a sewer cross-connection lets sewage in for 40 min: NH3-N +1.8 mg/L (most of
    # what the storm water carries again), salts +35 µS/cm, a tenth, which the storm's own
    # swings (3 % a sample) half hide. Against the storm's course the salts are no clear
    # company, and the load rule wants the flow not to grow; the core before caught 11 of
    # these 20 storms within 30 min. NH3-N and its load up by more than half with the
    # particles falling, the salts up beside it, is sewage (17 of the 20; 18 before the
    # company's bar took in the storm's own swing).
    t_open = T0 + timedelta(hours=4) + 14 * STEP
    add = {"nh3n": 1.8, "cond": 35.0, "flow": 12.0, "turb": -10.0, "cod": -8.0}
    caught = 0
    for seed in range(1, 21):
        found = _raised(run(steep_storm(lambda k: add if 14 <= k < 22 else {}, seed))[1])
        assert all(a.station == "OF_YZ_RAIN" and "nh3n" in a.parameters for a in found)
        caught += any(t_open <= a.last_seen <= t_open + timedelta(minutes=30) for a in found)
    assert caught >= 16


def test_an_nh3n_offset_beginning_after_the_flush_is_rarely_a_discharge() -> None:
    # The price of the rule above: an NH3-N analyser reading 2 mg/L high from one, one and a
    # half or two hours into the storm is one instrument, but the storm's own 3 % noise on
    # conductivity can clear the weaker bar of its company, at the offset's sample and the
    # next. With the bar at a twentieth of the reference alone, 3, 8 and 12 of these 40
    # storms raised; with the storm's own sample-to-sample swing in it, 1, 4 and 5. More
    # would mean the company no longer guards it.
    raised = [(k0, seed) for k0 in (12, 18, 24) for seed in range(1, 41)
              if _raised(run(steep_storm(lambda k, k0=k0: {"nh3n": 2.0} if k >= k0 else {}, seed))[1])]
    assert len(raised) <= 12


def test_industrial_effluent_in_a_flowing_storm_is_caught_by_its_salts() -> None:
    # Two hours into the storm a factory lets 15 L/s of effluent into the rain outfall:
    # salts and COD, little NH3-N (+0.3 mg/L), so the NH3-N gate of the sewage rules does
    # not open. Runoff only dilutes salts; conductivity up by half with the flow steady is
    # something other than rain.
    t_open = T0 + timedelta(hours=8)
    a = storm_alert("OF_JZ_RAIN", t_open, 60, {"cond": 250.0, "cod": 80.0, "nh3n": 0.3, "flow": 15.0})
    assert {"cond", "cod"} <= set(a.parameters)
    assert t_open <= a.last_seen <= t_open + timedelta(minutes=10)


def test_industrial_effluent_in_a_receding_storm_is_caught_by_its_salt_load() -> None:
    # A quick storm: its flow halves every half hour. An hour in, with the flow falling by a
    # tenth a sample, a factory lets effluent in (salts +250 µS/cm, COD +80 mg/L). The flow
    # falls through it, so "conductivity up with the flow steady" never holds; but the
    # salts the outfall carries (flow × conductivity) grow, which a recession never does.
    t_open = T0 + timedelta(hours=7)

    def effluent(sid: str, t: datetime) -> dict:
        return {"cond": 250.0, "cod": 80.0, "nh3n": 0.3, "flow": 4.0} \
            if sid == "OF_JZ_RAIN" and between(t, t_open, 40) else {}

    (a,) = _raised(run(storm_readings(effluent, recession_min=40.0))[1])
    assert a.station == "OF_JZ_RAIN" and {"cond", "cod"} <= set(a.parameters)
    assert t_open <= a.last_seen <= t_open + timedelta(minutes=10)


WANDER = {"cond": 0.05, "nh3n": 0.03, "cod": 0.06, "turb": 0.05}


def receding_storm(sewage_l_s: float, sewage: dict, seed: int) -> tuple[list[Reading], datetime]:
    """OF_XT_RAIN: six dry hours (its own water: 420 µS/cm, NH3-N 0.8, COD 35 mg/L), then
    a storm of 400 L/s whose first flush is over in 20 min (runoff: 130 µS/cm, NH3-N 0.6,
    COD 35 mg/L, turbidity 30 NTU), an hour later receding by an eighth a sample. Ten
    minutes into the recession a pipe's valve, opened over 20 min, lets ``sewage_l_s`` of
    ``sewage`` mix in (with no flow, ``sewage`` is an offset added to the readings).
    Returns the readings and when the pipe opens."""
    g = np.random.default_rng(seed)
    t_rain = T0 + timedelta(hours=6)
    t_open = t_rain + timedelta(minutes=70)
    own = {"cond": 420.0, "nh3n": 0.8, "cod": 35.0, "turb": 15.0}
    runoff = {"cond": 130.0, "nh3n": 0.6, "cod": 35.0, "turb": 30.0}
    out = []
    for i in range(9 * 12):
        t = T0 + i * STEP
        wet = (t - t_rain).total_seconds() / 60
        if wet < 0:
            q, v = 0.3, dict(own)
        else:
            q = 400.0 * (0.875 ** max(0.0, (wet - 60) / 5))
            flush = 3.0 if wet < 20 else 1.0
            # Bursts of rain wash more or less off the streets: the runoff's COD, salts and
            # particles wander by several per cent from one sample to the next.
            v = {p: x * (flush if p in ("cod", "turb", "nh3n") else 1.0) * (1 + float(g.normal(0, WANDER[p])))
                 for p, x in runoff.items()}
            out.append(Reading("OF_TZ_RAIN", t, "rain", 8.0 if wet < 60 else 0.0))
        if t >= t_open:
            if sewage_l_s:
                qs = sewage_l_s * min(1.0, ((t - t_open) / STEP + 1) / 4)  # a valve opened over 20 min
                v = {p: (q * x + qs * sewage.get(p, x)) / (q + qs) for p, x in v.items()}
                q += qs
            else:
                v = {p: x + sewage.get(p, 0.0) for p, x in v.items()}
        for p, x in v.items():
            out.append(Reading("OF_XT_RAIN", t, p, round(x * (1 + g.normal(0, 0.01)), 3)))
        out.append(Reading("OF_XT_RAIN", t, "flow", round(q, 1)))
    return out, t_open


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sewage_let_into_a_receding_storm_is_caught_by_its_loads(seed: int) -> None:
    # 15 L/s of raw sewage (NH3-N 30, COD 300 mg/L, 1000 µS/cm) into 230 L/s of receding
    # runoff: NH3-N 0.6 → 2.4 mg/L, under the 2 mg/L over dry weather that the NH3-N storm
    # rules ask for, and the salts only stop falling. The NH3-N and COD loads grow while the
    # flow recedes, which runoff's never do, and the returning dry-weather water lifts
    # concentrations, not loads. (Raised 50 min or more later before the change.)
    readings, t_open = receding_storm(15.0, {"nh3n": 30.0, "cod": 300.0, "cond": 1000.0, "turb": 100.0}, seed)
    (a,) = _raised(run(readings)[1])
    assert a.station == "OF_XT_RAIN" and "nh3n" in a.parameters
    assert a.start <= t_open + timedelta(minutes=10)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_nh3n_offset_in_a_receding_storm_is_not_a_discharge(seed: int) -> None:
    # The same moment, an NH3-N analyser reading 1.8 mg/L high: its "load" grows with it,
    # but no other instrument's does.
    readings, _ = receding_storm(0.0, {"nh3n": 1.8}, seed)
    assert not _raised(run(readings)[1])


def test_the_outfalls_own_water_returning_as_a_storm_ends_is_not_a_discharge() -> None:
    # A short storm: the runoff is gone in three hours, and each outfall's own dry-weather
    # water, salty (420 µS/cm against the storm's 170), seeps back over the next hours.
    # Eight hours in, a trickle just over the meter's 1 L/s starts: against the storm's
    # last samples, hours old, its conductivity stands a third higher, and NH3-N, which the
    # runoff had diluted too, by nearly half. Neither is above the outfall's dry-weather level.
    def own_water(sid: str, t: datetime) -> dict:
        wet_min = (t - (T0 + timedelta(hours=6))).total_seconds() / 60
        if wet_min < 0:
            return {}
        seep = {"cond": 250.0 * (1 - np.exp(-wet_min / 300)), "nh3n": -0.8 * np.exp(-wet_min / 300)}
        return {**seep, "flow": 1.3} if wet_min >= 470 else seep

    assert not _raised(run(storm_readings(own_water, hours=16, recession_min=30.0))[1])


def outfall_from_its_first_sample(nh3n: float, minutes: float = 40, cod: float = 380.0) -> list[Reading]:
    """A rain outfall whose data begin (a new station) with ``minutes`` of 25 L/s flowing
    in dry weather, NH3-N ``nh3n`` and COD ``cod``, then three hours of its standing water."""
    g = np.random.default_rng(5)
    out = []
    for i in range(36):
        t = T0 + i * STEP
        flowing = i * 5 < minutes
        v = {"cond": 1150.0 if flowing else 420.0, "nh3n": nh3n if flowing else 1.2,
             "cod": cod if flowing else 30.0, "turb": 20.0}
        for p, x in v.items():
            out.append(Reading("OF_JZ_RAIN", t, p, round(x * (1 + g.normal(0, 0.01)), 3)))
        out.append(Reading("OF_JZ_RAIN", t, "flow", 25.0 if flowing else 0.0))
    return out


def test_raw_sewage_from_a_new_rain_outfall_is_caught_before_it_has_a_baseline() -> None:
    # The first hour of a station has no baseline to rise against: raw sewage (NH3-N 30 mg/L)
    # flowing out of a rain outfall in dry weather is wastewater by its level alone.
    (a,) = _raised(run(outfall_from_its_first_sample(30.0))[1])
    assert a.station == "OF_JZ_RAIN" and a.parameters[0] == "nh3n"
    assert "晴天出流为污水" in a.message and "达生活污水水平 ≥ 10 mg/L" in a.message
    assert a.last_seen <= T0 + timedelta(minutes=10)


def test_industrial_effluent_from_a_new_rain_outfall_is_caught_by_its_cod() -> None:
    # The same flow carrying NH3-N 4 mg/L and COD 380 mg/L: little ammonia (industrial
    # effluent), but COD far over GB 8978-1996's grade-1 limit (100 mg/L), which even a
    # permitted direct discharge must meet.
    (a,) = _raised(run(outfall_from_its_first_sample(4.0))[1])
    assert a.station == "OF_JZ_RAIN" and a.parameters[0] == "cod"
    assert "晴天出流为污水" in a.message and "超 GB 8978-1996 一级标准 100 mg/L" in a.message
    assert a.last_seen <= T0 + timedelta(minutes=10)


@pytest.mark.parametrize("grade", ["2", " 2 ", "3"])
def test_the_cod_level_of_wastewater_is_read_from_the_gb8978_grade_chosen(grade: str) -> None:
    # COD 380 mg/L is over grades 1 and 2 (100, 150) and under grade 3 (500, into a sewer).
    m = Monitor(load_registry(), MonitorConfig(wastewater_grade=grade))
    raised = _raised([e for r in outfall_from_its_first_sample(4.0) for e in m.process(r)])
    assert bool(raised) is (grade.strip() == "2")
    assert all("二级标准 150 mg/L" in a.message for a in raised)


def test_a_grade_gb8978_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="GB 8978 grade"):
        MonitorConfig(wastewater_grade="1A")


def test_dry_weather_flow_of_weak_water_from_a_new_rain_outfall_is_not_called_sewage() -> None:
    # The same flow carrying NH3-N 4 mg/L and COD 90 mg/L, under GB 8978's grade-1 limit:
    # dry-weather flow (its own alert), but with no baseline nothing says wastewater.
    _, events = run(outfall_from_its_first_sample(4.0, cod=90.0))
    assert not _raised(events)
    assert _raised(events, "dry_weather_flow")


def test_discharge_begun_before_the_rain_goes_on_being_seen() -> None:
    t_open = T0 + timedelta(hours=6) - timedelta(minutes=5)  # one sample before the storm
    a = storm_alert("OF_TZ_RAIN", t_open, 60, {"nh3n": 40.0, "cond": 900.0, "cod": 500.0, "flow": 20.0})
    assert a.last_seen <= t_open + timedelta(minutes=10)


def test_raw_sewage_in_the_first_minutes_of_a_storm_is_caught() -> None:
    # Opened with the rain: the storm's own course is not known yet, but NH3-N at sewage
    # level (25 mg/L) with conductivity up is sewage whatever the storm does.
    t_open = T0 + timedelta(hours=6)
    a = storm_alert("OF_YZ_RAIN", t_open, 30, {"nh3n": 24.0, "cond": 600.0, "cod": 250.0})
    assert a.last_seen <= t_open + timedelta(minutes=10)


def test_scorer_counts_a_reopened_episode_for_recall_and_for_false_alerts() -> None:
    from analytics.scoring import score

    ev = {"id": "e2", "type": "illegal_discharge", "stations": ["XT_TOWN"], "start": "2026-07-14T18:00:00Z",
          "end": "2026-07-14T19:00:00Z", "source": None, "parameters": ["nh3n"]}
    first = {"id": "a1", "kind": "illegal_discharge", "station": "XT_TOWN", "start": "2026-07-14T12:00:00Z",
             "raised_at": "2026-07-14T12:05:00Z"}
    again = {**first, "raised_at": "2026-07-14T18:05:00Z", "reopened": True}
    late = {**first, "raised_at": "2026-07-15T06:00:00Z", "reopened": True}
    r = score([ev], [first, again, late], station_days=10)
    assert r.by_type["illegal_discharge"].detected == 1
    assert r.by_type["illegal_discharge"].delays_min == [5.0]
    # the first episode and the late one answer nothing, whatever their shared id matched
    assert r.false_pollution == 2


def test_a_later_discharge_below_an_incident_is_its_own_alert() -> None:
    later = T1 + timedelta(hours=5)

    def two(sid: str, t: datetime) -> dict:
        if sid == "TZ_TOWN" and between(t, later, 40):
            return PLUME
        return discharge(sid, t)

    _, events = run(stream(["LXT_LUXU", "LXT_TAOZHUANG", "TZ_TOWN"], 13, two))
    assert [(a.station, a.start) for a in _raised(events)] == [("LXT_TAOZHUANG", T1), ("TZ_TOWN", later)]


def test_more_than_the_upstream_plume_can_bring_is_a_source_in_between() -> None:
    # TZ_TOWN sees the upstream plume's arrival window, but four times its NH3-N and
    # conductivity: dilution only shrinks a plume, so something discharges in between.
    def both(sid: str, t: datetime) -> dict:
        if sid == "TZ_TOWN" and between(t, T1 + timedelta(minutes=60), 60):
            return {p: v * 4 for p, v in PLUME.items()}
        return discharge(sid, t)

    _, events = run(stream(["LXT_LUXU", "LXT_TAOZHUANG", "TZ_TOWN"], 9, both))
    raised = {a.station: a for a in _raised(events)}
    assert set(raised) == {"LXT_TAOZHUANG", "TZ_TOWN"}
    # not the outfall above the upstream station, whose plume is the smaller one
    assert raised["TZ_TOWN"].suspected_source != raised["LXT_TAOZHUANG"].suspected_source


def test_scorer_credits_an_alert_already_open_when_the_event_arrives() -> None:
    # One open alert per station and kind: a second discharge at an outfall whose alert is
    # still open updates that alert. It is answered, with no delay, and counted apart.
    from analytics.scoring import score

    ev = {"id": "e3", "type": "illegal_discharge", "stations": ["OF_XT_RAIN"], "start": "2026-07-28T20:54:00Z",
          "end": "2026-07-28T21:50:00Z", "source": "OF_XT_RAIN", "parameters": ["nh3n"],
          "arrivals": {"OF_XT_RAIN": "2026-07-28T20:55:00Z"}}
    open_alert = {"id": "a1", "kind": "illegal_discharge", "station": "OF_XT_RAIN", "start": "2026-07-28T20:05:00Z",
                  "raised_at": "2026-07-28T20:10:00Z", "last_seen": "2026-07-28T21:50:00Z",
                  "suspected_source": "OF_XT_RAIN"}
    r = score([ev], [open_alert], station_days=10)
    ts = r.by_type["illegal_discharge"]
    assert (ts.detected, ts.already_open, ts.delays_min, r.source_exact) == (1, 1, [0.0], 1)
    # an alert whose condition was last seen before the event arrived does not answer it
    stale = {**open_alert, "last_seen": "2026-07-28T20:50:00Z"}
    assert score([ev], [stale], station_days=10).by_type["illegal_discharge"].detected == 0


def test_scorer_counts_outages_per_cause() -> None:
    from analytics.scoring import score

    def outage(i: int, cause: str) -> dict:
        return {"id": f"o{i}", "type": "station_offline", "stations": ["XT_TOWN"], "cause": cause,
                "start": f"2026-07-0{i}T02:00:00Z", "end": f"2026-07-0{i}T03:00:00Z"}

    seen = {"id": "a", "kind": "station_offline", "station": "XT_TOWN", "start": "2026-07-01T02:00:00Z",
            "raised_at": "2026-07-01T02:15:00Z"}
    r = score([outage(1, "power"), outage(2, "link"), outage(3, "power")], [seen], station_days=3)
    assert r.by_type["station_offline"].by_cause == {"power": [2, 1], "link": [1, 0]}


def _plant(add) -> list:
    """Seven hours of a sewage plant's outfall every 5 min, ``add(t)`` on top of the base."""
    _, events = run(stream(["OF_XT_WWTP"], 7, lambda sid, t: add(t)))
    return [e.alert for e in events if e.type == "raised" and e.alert.kind == "illegal_discharge"]


def test_a_small_lasting_step_at_a_plant_outfall_is_caught() -> None:
    # A bypass of a few L/s: NH3-N +0.15 mg/L and COD +2.5 mg/L, each below the rolling
    # baseline's z_rise (0.15 / 0.05 = 3 and 2.5 / 1.0 = 2.5), but a step against the hour
    # before that lasts: a treatment plant's effluent does not jump by itself.
    (a,) = _plant(lambda t: {"nh3n": 0.15, "cod": 2.5} if t >= T1 else {})
    assert a.station == "OF_XT_WWTP" and {"nh3n", "cod"} <= set(a.parameters)
    assert T1 < a.start <= T1 + timedelta(minutes=30)


def test_a_small_lasting_step_at_a_plant_outfall_is_caught_in_rain_too() -> None:
    # The same bypass while it rains on the network: a plant's effluent has hours of
    # retention, so the step is the bypass's in any weather. Failed while the step rule
    # waited for dry weather at every outfall.
    rain = [Reading("AQ_XT", T1 - timedelta(minutes=30) + i * STEP, "rain", 6.0) for i in range(24)]
    plant = stream(["OF_XT_WWTP"], 7, lambda sid, t: {"nh3n": 0.15, "cod": 2.5} if t >= T1 else {})
    (a,) = _raised(run(sorted(plant + rain, key=lambda r: r.time))[1])
    assert a.station == "OF_XT_WWTP" and {"nh3n", "cod"} <= set(a.parameters)
    assert T1 < a.start <= T1 + timedelta(minutes=30)


def _factory(add, hours: float = 8) -> list[Event]:
    """A factory's outfall every 5 min, ``add(t)`` on top of the base, in dry weather."""
    return run(stream(["OF_YZ_IND"], hours, lambda sid, t: add(t)))[1]


def test_a_factorys_effluent_changing_is_caught_by_its_cod_and_ph() -> None:
    # Another process's wastewater let out (OF_YZ_IND, 20281549): COD doubles while the pH
    # moves with it; conductivity and NH3-N stay within their noise, so no dissolved marker
    # leads. A COD analyser's fault moves COD alone; the water's pH moving beside it is not
    # the analyser. Failed before: COD far out with only weak chemistry was the fault pattern.
    events = _factory(lambda t: {"cod": 16.0, "ph": 0.35} if between(t, T1, 75) else {})
    (a,) = _raised(events)
    assert a.station == "OF_YZ_IND" and {"cod", "ph"} <= set(a.parameters)
    assert T1 <= a.start <= T1 + timedelta(minutes=15) and "化学需氧量↑" in a.message and "pH↑" in a.message
    assert not _raised(events, "sensor_fault")


def test_a_factorys_effluent_turning_acid_is_told_by_its_ph_going_down() -> None:
    (a,) = _raised(_factory(lambda t: {"cod": 16.0, "ph": -0.35} if between(t, T1, 75) else {}))
    assert "化学需氧量↑" in a.message and "pH↓" in a.message


@pytest.mark.parametrize("add", [{"cod": 16.0}, {"cod": 16.0, "turb": 25.0}],
                         ids=["analyser offset", "with particles"])
def test_cod_far_out_without_the_waters_ph_or_temperature_is_not_a_discharge(add: dict) -> None:
    # The same COD step with pH and temperature where they were: the analyser (an offset),
    # or particles drawn into the sample line (turbidity is no company: it does not move the
    # water's pH either).
    assert not _raised(_factory(lambda t: add if between(t, T1, 75) else {}))


def test_the_same_rise_as_a_slow_drift_is_not_a_discharge() -> None:
    # The same total change spread over three hours (load following the day): no step.
    def drift(t: datetime) -> dict:
        f = min(1.0, max(0.0, (t - T1) / timedelta(hours=3)))
        return {"nh3n": 0.15 * f, "cod": 2.5 * f}

    assert _plant(drift) == []


def test_a_step_in_one_marker_alone_is_not_a_discharge() -> None:
    assert _plant(lambda t: {"cod": 4.0} if t >= T1 else {}) == []


def test_sewage_in_a_storm_that_began_before_the_data_is_caught() -> None:
    # The station's data begin in a storm (a new outfall station in the rainy season): no
    # dry-weather baseline yet. Raw sewage, NH3-N 20 mg/L, jumping against the storm's course.
    def sewage(s: str, t: datetime) -> dict:
        return {"nh3n": 20.0, "cond": 400.0, "cod": 200.0} if s == "OF_YZ_RAIN" and between(
            t, T0 + timedelta(hours=2), 40) else {}

    (a,) = _raised(run(storm_readings(sewage, hours=5, storm_at=0.0))[1])
    assert a.station == "OF_YZ_RAIN" and a.start <= T0 + timedelta(hours=2, minutes=10)


def test_salty_wastewater_in_the_first_flush_is_caught() -> None:
    # Ten minutes into the storm, before its course is known: conductivity at 2.5 times the
    # dry-weather level (runoff dilutes salts) with NH3-N 3 mg/L over dry weather.
    t_open = T0 + timedelta(hours=6, minutes=10)
    a = storm_alert("OF_JZ_RAIN", t_open, 30, {"cond": 650.0, "nh3n": 3.0, "cod": 200.0})
    assert {"nh3n", "cond"} <= set(a.parameters) and a.start <= t_open + timedelta(minutes=5)


def test_sewage_let_in_gradually_in_the_recession_is_caught() -> None:
    # A valve opened slowly: NH3-N climbs 0.15 mg/L a sample (less than the step rule's
    # threshold against the last three samples) for 80 min. The storm-course reference must
    # not climb with the plume.
    t_open = T0 + timedelta(hours=8)

    def ramp(s: str, t: datetime) -> dict:
        if s != "OF_XT_RAIN" or not between(t, t_open, 120):
            return {}
        f = min(1.0, (t - t_open + STEP) / timedelta(minutes=80))
        return {"nh3n": 3.0 * f, "cond": 160.0 * f, "cod": 40.0 * f}

    (a,) = _raised(run(storm_readings(ramp))[1])
    assert a.station == "OF_XT_RAIN" and a.start <= t_open + timedelta(minutes=90)


@pytest.mark.parametrize("nh3n_add", [6.5, 0.0])
def test_a_sewage_plant_day_over_gb18918_is_an_exceedance_a_compliant_day_is_not(nh3n_add: float) -> None:
    # OF_XT_WWTP, grade 1A: NH3-N at most 5 mg/L as a daily mean (27 °C water, so not the
    # cold-water 8). 0.45 + 6.5 = 6.95 mg/L all day breaks it, by less than twice: a warning
    # for that CST day. The base water (COD 16, TP 0.12, pH 7.6) complies; two compliant
    # days after it clear the alert at the end of the second.
    day = parse_time("2026-07-14T00:00:00+08:00")

    def effluent(sid: str, t: datetime) -> dict:
        return {"nh3n": nh3n_add} if day <= t < day + timedelta(days=1) else {}

    events = run(stream(["OF_XT_WWTP"], 84, effluent))[1]
    raised = _raised(events, "exceedance")
    if nh3n_add:
        (a,) = raised
        assert a.station == "OF_XT_WWTP" and a.parameters == ("nh3n",) and a.start == day
        assert a.severity == "warning" and "GB 18918-2002" in a.message
        assert a.details["daily_means"]["nh3n"] == pytest.approx(6.95, abs=0.05)
        (c,) = [e.alert for e in events if e.type == "cleared" and e.alert.kind == "exceedance"]
        assert c.end == day + timedelta(days=3)
    else:
        assert raised == []


def test_a_day_of_four_hourly_samples_is_valid_with_five_of_its_six() -> None:
    # National automatic water stations analyse every 4 h: six results a CST day. A day needs
    # the 20-of-24 share of what it can hold (five), not 20 hourly values, which such a
    # station never has; at a 5-min cadence it is 20 hours as before (the factory test below).
    day0 = parse_time("2026-07-14T00:00:00+08:00")
    lost = {day0 + timedelta(days=1, hours=8), day0 + timedelta(days=2, hours=4), day0 + timedelta(days=2, hours=12)}
    readings = [Reading("XT_TOWN", t, p, v) for k in range(18) if (t := day0 + k * timedelta(hours=4)) not in lost
                for p, v in BASE.items()]
    m = Monitor(REG)
    m.process_many(readings)
    m.flush()
    days = sorted((d.time, d.fields["hours"], d.fields["valid"]) for d in m.drain_derived()
                  if d.measurement == "water_class" and d.tags["period"] == "day")
    assert [(h, v) for _, h, v in days] == [(6, 1), (5, 1), (4, 0)]


@pytest.mark.parametrize(("grade", "raised"), [("auto", True), ("2", False)])
def test_a_factorys_day_over_gb8978_is_an_exceedance_at_its_receiving_waters_grade(grade: str, raised: bool) -> None:
    # OF_YZ_IND discharges into class III water: GB 8978-1996 grade 1, COD at most 100 mg/L.
    # 16 + 104 = 120 mg/L all day breaks it, by less than twice: a warning for that CST day.
    # Grade 2 (150 mg/L, water of class IV or V), set by hand, lets the same day pass. TP
    # (0.12 + 1.0 mg/L, twice grade 1's phosphate limit) is no phosphate reading and is not judged.
    day = parse_time("2026-07-14T00:00:00+08:00")

    def effluent(sid: str, t: datetime) -> dict:
        return {"cod": 104.0, "tp": 1.0} if day <= t < day + timedelta(days=1) else {}

    m = Monitor(REG, MonitorConfig(industrial_grade=grade))
    events = m.process_many(stream(["OF_YZ_IND"], 60, effluent)) + m.flush()
    found = _raised(events, "exceedance")
    # Every closed day is a point for the dashboards; the first (from 18:00) and the last
    # (to 06:00) are partial, shown with their hours and never judged.
    days = {d.time: d for d in m.drain_derived() if d.measurement == "discharge_day"}
    assert [(d.fields["valid"], d.fields["hours"]) for _, d in sorted(days.items())] == [(0, 6), (1, 24), (1, 24), (0, 6)]
    judged = days[day]
    assert judged.tags["standard"] == "GB 8978-1996" and judged.tags["station"] == "OF_YZ_IND"
    assert judged.fields["grade"] == ("1" if raised else "2") and judged.fields["meets"] == int(not raised)
    assert judged.fields["broken"] == ("cod" if raised else "") and "tp" not in judged.fields
    assert judged.fields["cod"] == pytest.approx(120.0, abs=1.0)
    if not raised:
        assert found == []
        return
    (a,) = found
    assert a.station == "OF_YZ_IND" and a.parameters == ("cod",) and a.start == day
    assert a.severity == "warning"
    assert "GB 8978-1996 一级标准（受纳水体目标 III 类）" in a.message and "≤ 100 mg/L" in a.message
    assert a.details["daily_means"]["cod"] == pytest.approx(120.0, abs=1.0)


def _permit(outfall: str, limits: dict, **kw) -> Permits:
    from datetime import date

    entry = {"outfall": outfall, "number": "P-1", "valid_from": date(2026, 1, 1), "limits": limits,
             "basis": "DB 示例", **kw}
    return parse_permits([entry], REG, "permits.toml")


@pytest.mark.parametrize(("permits", "raised"), [
    ("in force", True),  # COD 90 is under GB 8978 grade 1 (100) but over the permit's 80
    ("none", False),
    ("expired", False),  # ended the day before: the standard again
])
def test_a_factorys_day_is_judged_by_the_permit_in_force(permits: str, raised: bool) -> None:
    from datetime import date

    day = parse_time("2026-07-14T00:00:00+08:00")

    def effluent(sid: str, t: datetime) -> dict:
        return {"cod": 74.0} if day <= t < day + timedelta(days=1) else {}

    held = {"none": None, "in force": _permit("OF_YZ_IND", {"cod": 80, "ph": [6, 9]}),
            "expired": _permit("OF_YZ_IND", {"cod": 80}, valid_to=date(2026, 7, 13))}[permits]
    m = Monitor(REG, permits=held)
    events = m.process_many(stream(["OF_YZ_IND"], 60, effluent)) + m.flush()
    judged = next(d for d in m.drain_derived() if d.measurement == "discharge_day" and d.time == day)
    assert judged.fields["meets"] == int(not raised)
    assert ("permit" in judged.fields) == (permits == "in force")
    found = _raised(events, "exceedance")
    if not raised:
        assert found == []
        return
    (a,) = found
    assert a.parameters == ("cod",) and a.severity == "warning" and a.start == day
    assert a.details["permit"] == "P-1" and a.details["permit_basis"] == "DB 示例"
    assert "日均值超排污许可证 P-1（依据 DB 示例）：化学需氧量 90（许可限值 ≤ 80 mg/L）" in a.message
    assert judged.fields["permit"] == "P-1" and judged.fields["ph"] == pytest.approx(7.6, abs=0.05)


def test_a_permit_judges_the_items_it_lists_and_the_standard_the_rest() -> None:
    # The plant's permit limits NH3-N to 1.5 mg/L (GB 18918 1A: 5) and says nothing of COD:
    # NH3-N 2.45 breaks the permit, COD 16 + 50 = 66 breaks 1A's 50 by the standard.
    day = parse_time("2026-07-14T00:00:00+08:00")

    def effluent(sid: str, t: datetime) -> dict:
        return {"nh3n": 2.0, "cod": 50.0} if day <= t < day + timedelta(days=1) else {}

    m = Monitor(REG, permits=_permit("OF_XT_WWTP", {"nh3n": 1.5}))
    (a,) = _raised(m.process_many(stream(["OF_XT_WWTP"], 60, effluent)) + m.flush(), "exceedance")
    assert set(a.parameters) == {"nh3n", "cod"} and a.severity == "warning"  # 1.6 and 1.3 times: under 2
    assert "氨氮 2.45（许可限值 ≤ 1.5 mg/L）" in a.message
    assert "化学需氧量 66（GB 18918-2002 1A 标准 限值 ≤ 50 mg/L）" in a.message


def test_an_industrial_grade_gb8978_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="GB 8978 grade"):
        MonitorConfig(industrial_grade="1A")


def diluted_plume(sid: str, t_open: datetime, weak_minutes: float = 5.0, strong: dict | None = None,
                  weak: dict | None = None, storm: dict | None = None):
    """Effluent let into a storm flow at ``t_open``: one ``strong`` sample (by default salts
    +80 µS/cm, a third over the storm's course, COD +60 mg/L), then, diluted by the next
    burst of rain, ``weak_minutes`` of ``weak`` samples (salts +35, under the bar the first
    one cleared; COD +20). ``storm`` is added at ``sid`` from the rain on (runoff's own
    make-up)."""
    strong = strong or {"cond": 80.0, "cod": 60.0, "nh3n": 0.3, "flow": 10.0}
    weak = weak or {"cond": 35.0, "cod": 20.0, "nh3n": 0.1, "flow": 10.0}

    def sewage(s: str, t: datetime) -> dict:
        if s != sid:
            return {}
        base = dict(storm or {}) if t >= T0 + timedelta(hours=6) else {}
        add = strong if between(t, t_open, 5) else weak if between(t, t_open + STEP, weak_minutes) else {}
        return {p: base.get(p, 0.0) + add.get(p, 0.0) for p in {*base, *add}}
    return sewage


def test_a_plume_diluted_at_its_second_sample_in_a_flowing_storm_is_held_and_raised() -> None:
    # The policy raises on two samples in a row: the second, weaker but still well over the
    # storm's course and the outfall's dry-weather COD, holds the signature found at the first.
    t_open = T0 + timedelta(hours=8)
    (a,) = _raised(run(storm_readings(diluted_plume("OF_JZ_RAIN", t_open)))[1])
    assert a.station == "OF_JZ_RAIN" and {"cond", "cod"} <= set(a.parameters)
    assert a.last_seen == t_open + STEP


def test_a_plume_of_one_sample_in_a_storm_is_not_raised() -> None:
    # Control: the strong sample alone, nothing after it, is one sample and no alert.
    t_open = T0 + timedelta(hours=8)
    assert not _raised(run(storm_readings(diluted_plume("OF_JZ_RAIN", t_open, weak_minutes=0.0)))[1])


def test_a_weak_second_sample_is_not_held_while_the_storm_recedes() -> None:
    # Effluent let into a quick storm (its flow halving every half hour), as in the salt-load
    # test above, but diluted to less than half at its second sample. The first sample is
    # found by its salt load; the second is not held, the flow falling by a quarter over
    # three samples: as runoff dries up the outfall's own water lifts its concentrations,
    # and a weaker sample there says no more than that. The price: such a plume waits for
    # a sample that clears the full rules.
    t_open = T0 + timedelta(hours=7)
    plume = diluted_plume("OF_JZ_RAIN", t_open, strong={"cond": 250.0, "cod": 80.0, "nh3n": 0.3, "flow": 4.0},
                          weak={"cond": 100.0, "cod": 30.0, "nh3n": 0.1, "flow": 4.0})
    assert not _raised(run(storm_readings(plume, recession_min=40.0))[1])


def test_a_held_sample_never_holds_the_next_weak_one() -> None:
    # Thirty minutes of the weak plume after the strong sample: the first weak sample is held
    # and raises the alert, the ones after it are not (a weak sample holds nothing), so the
    # alert is last seen there.
    t_open = T0 + timedelta(hours=8)
    (a,) = _raised(run(storm_readings(diluted_plume("OF_JZ_RAIN", t_open, weak_minutes=30.0)))[1])
    assert a.last_seen == t_open + STEP


def test_a_weak_second_sample_is_held_by_nh3n_beyond_what_the_outfalls_own_water_brings() -> None:
    # Runoff poor in NH3-N (0.8 mg/L under the outfall's own water) and sewage let into it:
    # NH3-N +2.0 and salts +80 at the first sample, then NH3-N +0.65, salts +35. Until
    # 2026-12-07 (sixth session) the weak sample was not held, its NH3-N only at the
    # outfall's dry-weather level, where its own water coming back would put it. But that
    # water would lift the salts by the same share of their way to dry weather (for NH3-N's
    # +0.65 some 80 %, 170 µS/cm), and they rose 35 (16 %): the NH3-N is the sewage's, held.
    t_open = T0 + timedelta(hours=8)
    plume = diluted_plume("OF_JZ_RAIN", t_open, strong={"cond": 80.0, "nh3n": 2.0, "flow": 10.0},
                          weak={"cond": 35.0, "nh3n": 0.65, "flow": 10.0}, storm={"nh3n": -0.8})
    (a,) = _raised(run(storm_readings(plume))[1])
    assert a.last_seen == t_open + STEP
    # Control: for 15 min the salts +100 µS/cm and NH3-N +0.25 mg/L, each under half of its
    # way to dry weather: the outfall's own water, for all the rule can tell, not raised.
    # Judged by NH3-N's rise alone, without the salts' share, it was.
    own = {"cond": 100.0, "nh3n": 0.25}
    plume = diluted_plume("OF_JZ_RAIN", t_open, weak_minutes=10.0, strong=own, weak=own, storm={"nh3n": -0.8})
    assert not _raised(run(storm_readings(plume))[1])


def test_a_long_storm_never_becomes_a_rain_outfalls_dry_weather_level() -> None:
    # Twelve hours of rain: the runoff, poor in NH3-N (0.4 mg/L against the outfall's own
    # 1.2) and salts, flows all through it. The storm rules measure NH3-N and COD against the
    # dry-weather level; a storm learnt as that level (as a river learns a lasting change)
    # would make the outfall's own water, coming back, look like sewage in the next storm.
    readings = storm_readings(lambda sid, t: {"nh3n": -0.8} if t >= T0 + timedelta(hours=6) else {},
                              hours=20, recession_min=1e9, rain_hours=12.0)
    m, _ = run(readings)
    for sid in RAIN_OUTFALLS:
        b = m._st[sid].baselines
        assert abs(b["nh3n"].median() - OUTFALL["nh3n"]) < 0.05
        assert abs(b["cond"].median() - OUTFALL["cond"]) < 10


AIR = {"pm25": 70.0, "pm10": 110.0, "so2": 8.0, "no2": 30.0, "co": 0.6, "o3": 90.0}


def _air(day: str, hours: int, edition: str | None = None, add=lambda h: {}) -> list:
    """``hours`` hours of 5-min air readings at AQ_JS_CENTER from 00:00 CST on ``day``
    (``add(hour)`` changes a pollutant's level in that hour); the derived AQI points."""
    m = Monitor(REG, MonitorConfig() if edition is None else MonitorConfig(aqi_edition=edition))
    t0 = parse_time(f"{day}T00:00:00+08:00")
    for i in range(hours * 12):
        t = t0 + i * STEP
        for p, v in {**AIR, **add(i // 12)}.items():
            m.process(Reading("AQ_JS_CENTER", t, p, v))
    m.flush()
    return [d for d in m.drain_derived() if d.measurement == "aqi"]


def _hourly(points: list) -> dict:
    return {d.time.astimezone(CST).hour: d for d in points if d.tags["period"] == "hour"}


def test_the_aqi_edition_is_the_one_in_force_at_the_datas_time_unless_one_is_chosen() -> None:
    before, after = _hourly(_air("2025-12-10", 22)), _hourly(_air("2026-07-10", 3))
    assert {d.tags["edition"] for d in before.values()} == {"2012"}
    assert {d.tags["edition"] for d in after.values()} == {"2026"}
    # PM2.5 70 µg/m³ is IAQI 94 on HJ 633-2012's 24 h breakpoints (35→50, 75→100) and over
    # 100 on HJ 633-2026's (35→50, 60→100, 115→150).
    assert before[21].fields["iaqi_pm25"] < 100 < after[0].fields["iaqi_pm25"]
    assert {d.tags["edition"] for d in _air("2026-07-10", 3, edition="2012")} == {"2012"}
    with pytest.raises(ValueError, match="aqi_edition"):
        MonitorConfig(aqi_edition="2018")


def test_hj633_2012_realtime_pm_is_the_24h_sliding_mean_once_20_hours_are_in() -> None:
    # PM2.5 40 µg/m³ for 20 hours, then 150: HJ 633-2012's real-time report scores the 24-h
    # sliding mean, not the hour's 150 (which alone would be IAQI 200).
    hours = _hourly(_air("2025-12-10", 23, add=lambda h: {"pm25": 40.0 if h < 20 else 150.0}))
    assert all("iaqi_pm25" not in hours[h].fields for h in range(19))
    assert hours[19].fields["iaqi_pm25"] == hj633.iaqi("pm25", "24h", 40.0, edition="2012")
    assert hours[21].fields["iaqi_pm25"] == hj633.iaqi("pm25", "24h", (20 * 40 + 2 * 150) / 22, edition="2012")
    assert "iaqi_o3_8h" in hours[21].fields  # scored beside the 1-h O3 in 2012
    assert "iaqi_o3_8h" not in _hourly(_air("2026-07-10", 10))[9].fields


def test_the_daily_o3_8h_maximum_counts_windows_ending_08_to_24_and_2012_adds_the_1h_maximum() -> None:
    # O3 300 µg/m³ in the day's first six hours: a window ending 06:00 would average 300; the
    # first window inside the day ends 08:00, (6 × 300 + 2 × 90) / 8 = 247.5.
    points = _air("2025-12-10", 26, add=lambda h: {"o3": 300.0 if h < 6 else 90.0})
    (day,) = [d for d in points if d.tags["period"] == "day" and d.time.astimezone(CST).day == 10]
    assert day.fields["iaqi_o3_8h"] == hj633.iaqi("o3", "8h", 247.5, edition="2012")
    assert day.fields["iaqi_o3"] == hj633.iaqi("o3", "1h", 300.0, edition="2012")


def daily_load(amp: float):
    """A river fed by a plant's effluent: its load rises each morning and falls at night
    (NH3-N, COD, CODMn and TP by up to ``amp`` × 0.75 of their level, conductivity a fifth of
    that), and photosynthesis lifts DO in the afternoon."""
    def effects(sid: str, t: datetime) -> dict:
        c = t.astimezone(CST)
        h = c.hour + c.minute / 60
        f = 0.5 * (math.cos(2 * math.pi * (h - 14) / 24) + 0.5 * math.cos(2 * math.pi * (h - 23) / 12))
        out = {p: BASE[p] * amp * f for p in ("nh3n", "codmn", "tp", "cod")}
        out["cond"] = BASE["cond"] * amp * 0.2 * f
        out["do"] = 1.5 * math.cos(2 * math.pi * (h - 15) / 24)
        return out
    return effects


def test_a_rivers_daily_rhythm_is_learnt_not_raised_every_morning() -> None:
    # Load up by about 30 % each morning: a 6-h baseline lags it, and its climb read as a
    # correlated rise every morning at every station. Once three days of each hour are
    # known, the rhythm moves the baseline and the mornings are quiet.
    stations = ["TZ_TOWN", "XT_TOWN", "HQT_HENGGANG"]
    events = run(stream(stations, 8 * 24, daily_load(0.4), hourly=HOURLY))[1]
    assert not [a for a in _raised(events) if a.start >= T0 + timedelta(days=3, hours=14)]


def test_a_discharge_into_a_rhythmic_river_at_its_morning_climb_is_caught() -> None:
    t_open = T0 + timedelta(days=6, hours=14)  # 08:00 CST on the seventh day, as the load climbs
    rhythm = daily_load(0.4)

    def effects(sid: str, t: datetime) -> dict:
        out = rhythm(sid, t)
        if sid == "TZ_TOWN" and between(t, t_open, 90):
            out = {p: out.get(p, 0.0) + PLUME.get(p, 0.0) for p in {*out, *PLUME}}
        return out

    events = run(stream(["TZ_TOWN", "XT_TOWN"], 7 * 24 + 12, effects, hourly=HOURLY))[1]
    late = [a for a in _raised(events) if a.start >= T0 + timedelta(days=3, hours=14)]
    assert [a.station for a in late] == ["TZ_TOWN"]
    assert t_open <= late[0].last_seen <= t_open + timedelta(minutes=30)


def test_the_same_discharge_every_night_stays_a_discharge_every_night() -> None:
    # 90 min at 02:00 every night for nine nights: the median of each hour over the last
    # seven days would take it in only if it outnumbered the clean nights, and its sudden
    # onset still stands out of the hours around it.
    def effects(sid: str, t: datetime) -> dict:
        c = t.astimezone(CST)
        return dict(PLUME) if sid == "TZ_TOWN" and 120 <= c.hour * 60 + c.minute < 210 else {}

    events = run(stream(["TZ_TOWN", "XT_TOWN"], 9 * 24, effects, hourly=HOURLY))[1]
    nights = {a.start.astimezone(CST).date() for a in _raised(events) if a.station == "TZ_TOWN"}
    assert len(nights) == 9


@pytest.mark.parametrize("n", [1, 2, 5, 11, 12])
def test_the_step_rules_plain_median_is_numpys(n: int) -> None:
    from analytics.monitor import _median

    g = np.random.default_rng(n)
    for _ in range(50):
        xs = list(g.normal(500.0, 8.0, n).round(1))  # rounded: ties, as instruments give
        assert _median([*xs]) == pytest.approx(float(np.median(xs)), abs=1e-12)


def test_a_storms_tail_at_a_replays_first_sample_is_not_wastewater_by_its_cod() -> None:
    # A replay that begins as a storm it never saw drains away: a rain outfall's flow falls
    # from 4 L/s to nothing in 35 min, its first flush's COD (over 100 mg/L) falling with it
    # (OF_XH2_RAIN at the first samples of 20291555). The core does not yet know that it
    # rained; COD alone, receding with the flow, is no wastewater (four such alerts there).
    # The same COD on a flow that holds, as a factory's effluent does, is (the test above).
    course = [(4.2, 204.0), (2.7, 176.0), (1.8, 145.0), (1.8, 124.0), (1.6, 95.0), (0.7, 90.0), (0.0, 72.0)]

    def tail(i: int) -> tuple[float, float]:
        return course[i] if i < len(course) else (0.0, 30.0)

    g = np.random.default_rng(7)
    out = []
    for i in range(36):
        t = T0 + i * STEP
        flow, cod = tail(i)
        for p, x in {"cond": 450.0, "nh3n": 1.5, "cod": cod, "turb": 30.0}.items():
            out.append(Reading("OF_JZ_RAIN", t, p, round(x * (1 + g.normal(0, 0.01)), 3)))
        out.append(Reading("OF_JZ_RAIN", t, "flow", round(flow, 1)))
    events = run(out)[1]
    assert not _raised(events)
    # Its flow is still told as dry-weather flow, for a look, but not as 24 h without rain,
    # which the core cannot know.
    (dwf,) = _raised(events, "dry_weather_flow")
    assert "此前天气未知" in dwf.message and "近24小时无降雨" not in dwf.message and dwf.confidence == 0.6


def test_a_factorys_effluent_moving_two_markers_is_a_warning_raw_wastewater_is_critical() -> None:
    # OF_LX_IND carries its treated effluent by permit. Its NH3-N and salts moving together
    # (nitrification slowing in a salty batch) is worth a look; raw wastewater let past the
    # treatment lifts every marker at once and is an illegal discharge by any reading.
    def two(sid: str, t: datetime) -> dict:
        return {"cond": 60.0, "nh3n": 0.3} if sid == "OF_LX_IND" and between(t, T1, 40) else {}

    def raw(sid: str, t: datetime) -> dict:
        return {**PLUME, "tp": 0.5} if sid == "OF_LX_IND" and between(t, T1, 40) else {}

    (a,) = _raised(run(stream(["OF_LX_IND"], 8, two))[1])
    assert set(a.parameters) == {"cond", "nh3n"} and (a.severity, a.confidence) == ("warning", 0.5)
    (a,) = _raised(run(stream(["OF_LX_IND"], 8, raw))[1])
    assert {"cond", "nh3n", "cod", "tp"} <= set(a.parameters) and (a.severity, a.confidence) == ("critical", 0.9)
    # At a rain outfall any wastewater is out of place: the same two markers are critical.
    (a,) = _raised(run(stream(["OF_XT_RAIN"], 8, lambda sid, t: two("OF_LX_IND", t)))[1])
    assert (a.severity, a.confidence) == ("critical", 0.9)


def test_industrial_effluent_let_into_a_storm_before_the_outfall_has_a_baseline_is_caught() -> None:
    # The data begin 30 min before a storm: six dry samples, no dry-weather baseline yet.
    # Two hours into the steady storm flow (about 90 L/s, falling slowly), a factory lets its
    # effluent in for 45 min: the salts nearly treble against the storm's water, COD climbs
    # beside them. Without a baseline to hold COD against, the steady flow says that this is
    # not the outfall's own water returning as the storm recedes (OF_XT_RAIN, 20281795).
    start = T0 + timedelta(minutes=30)

    def effluent(sid: str, t: datetime) -> dict:
        on = sid == "OF_XT_RAIN" and between(t, start + timedelta(hours=2), 45)
        return {"cond": 500.0, "cod": 110.0, "nh3n": 1.0} if on else {}

    readings = storm_readings(effluent, hours=6, storm_at=0.5)
    (a,) = _raised(run(readings)[1])
    assert a.station == "OF_XT_RAIN" and {"cond", "cod"} <= set(a.parameters)
    assert a.last_seen <= start + timedelta(hours=2, minutes=10)


@pytest.mark.parametrize("recession_min", [90.0, 40.0])
def test_a_storm_before_the_outfall_has_a_baseline_is_no_discharge(recession_min: float) -> None:
    # The same start, no effluent: the flush, the recession, and each outfall's own water
    # coming back as the runoff dries up, its salts and its COD (which the runoff had
    # diluted by a third) climbing over the storm's course, however slowly the flow falls,
    # up to their dry-weather level and not over it, raise nothing.
    start = T0 + timedelta(minutes=30)

    def own_water(sid: str, t: datetime) -> dict:
        wet_min = (t - start).total_seconds() / 60
        if wet_min < 0:
            return {}
        back = 0.0 if wet_min < 3 * recession_min else 1 - np.exp(-(wet_min - 3 * recession_min) / 60)
        return {"cond": 250.0 * back, "cod": -10.0 * (1 - back)}

    # Three hours of the own water coming back, within the wet-weather rules' 6 h after the
    # rain (a tail still flowing beyond them is learnt as the outfall's water: not this test).
    hours = 0.5 + 3 * recession_min / 60 + 3
    assert not _raised(run(storm_readings(own_water, hours=hours, storm_at=0.5, recession_min=recession_min))[1])
