"""The pure core on hand-made streams: a discharge is caught, localised and corroborated
downstream; a lone jumping parameter is a sensor fault; runoff is not a discharge."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from analytics.monitor import Monitor
from envmon.alerts import Event
from envmon.reading import Reading
from envmon.stations import load_registry
from envmon.timeutil import parse_time

REG = load_registry()
T0 = parse_time("2026-07-13T18:00:00+08:00")
STEP = timedelta(minutes=5)
BASE = {"cond": 520.0, "nh3n": 0.45, "cod": 16.0, "codmn": 4.2, "tp": 0.12, "turb": 18.0, "do": 6.5,
        "ph": 7.6, "temp": 27.0}


def stream(stations: list[str], hours: float, effects, seed: int = 1) -> list[Reading]:
    """Readings every 5 min for ``stations``; ``effects(sid, t) -> dict`` adds to the base."""
    g = np.random.default_rng(seed)
    out = []
    n = int(hours * 12)
    for i in range(n):
        t = T0 + i * STEP
        for sid in stations:
            add = effects(sid, t)
            for p, v in BASE.items():
                noise = g.normal(0, 0.01 * v)
                out.append(Reading(sid, t, p, round(max(0.0, v + noise + add.get(p, 0.0)), 3)))
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
    upd = [e.alert for e in events if e.type == "updated" and e.alert.id == a.id]
    assert upd and "TZ_TOWN" in upd[-1].details["seen_at"]
    assert upd[-1].confidence > a.confidence
    # nothing else pretends to be pollution
    assert not [e for e in events if e.type == "raised" and e.alert.kind in ("sensor_fault", "anomaly")]


def test_upstream_station_quiet_gives_segment_or_outfall_source() -> None:
    def at_xt(sid: str, t: datetime) -> dict:
        return PLUME if sid == "XT_TOWN" and between(t, T1, 40) else {}

    _, events = run(stream(["TZ_TOWN", "XT_TOWN"], 8, at_xt))
    (a,) = [e.alert for e in events if e.type == "raised" and e.alert.kind == "illegal_discharge"]
    assert a.station == "XT_TOWN" and a.suspected_source == "OF_XT_RAIN"
    assert 0 < a.confidence <= 1


def test_lone_jump_is_a_sensor_fault_not_pollution() -> None:
    def jump(sid: str, t: datetime) -> dict:
        return {"nh3n": 6.0} if sid == "XT_TOWN" and t >= T1 else {}

    _, events = run(stream(["XT_TOWN"], 8, jump))
    kinds = {e.alert.kind for e in events if e.type == "raised"}
    assert "sensor_fault" in kinds
    assert "illegal_discharge" not in kinds


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


@pytest.mark.parametrize("minutes_silent", [20, 40])
def test_station_offline_raised_then_closed_by_backfill(minutes_silent: int) -> None:
    gap = (T1, T1 + timedelta(minutes=minutes_silent))

    def reading_ok(r: Reading) -> bool:
        return not (r.station == "XT_TOWN" and gap[0] <= r.time < gap[1])

    readings = [r for r in stream(["XT_TOWN", "TZ_TOWN"], 8, lambda s, t: {}) if reading_ok(r)]
    _, events = run(readings)
    off = [e for e in events if e.alert.kind == "station_offline" and e.alert.station == "XT_TOWN"]
    if minutes_silent > 15:
        assert [e.type for e in off] == ["raised", "cleared"]
    else:
        assert off == []


def test_dry_weather_flow_at_rain_outfall() -> None:
    readings = [Reading("OF_TZ_RAIN", T0 + i * STEP, "flow", 0.0 if i < 40 else 12.0) for i in range(60)]
    _, events = run(readings)
    (a,) = [e.alert for e in events if e.type == "raised"]
    assert a.kind == "dry_weather_flow" and a.station == "OF_TZ_RAIN"


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
    hourly = [d for d in m.drain_derived() if d.measurement == "noise_leq" and d.tags["period"] == "hour"]
    assert hourly and hourly[0].fields["limit"] == 45 and hourly[0].fields["exceed"] == 1
