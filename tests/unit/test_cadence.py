"""The core at sampling intervals other than the simulator's 5 min: outfall loggers' minute
data, hourly data (HJ 212 CN=2061) and analysers slower than an hour. What a rule waits for
is data time, not a count of samples: an hourly analyser's result held for 60 one-minute
samples is normal, and a gross discharge seen in one hourly sample is not left for the next."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pytest

from analytics.monitor import Monitor
from analytics.policy import AlertPolicy, Condition, KindPolicy
from envmon.alerts import Event
from envmon.reading import Reading
from envmon.stations import load_registry
from envmon.timeutil import parse_time

REG = load_registry()
T0 = parse_time("2026-07-13T00:00:00+08:00")
RIVER = {"cond": 520.0, "nh3n": 0.45, "codmn": 4.2, "tp": 0.12, "turb": 18.0, "do": 6.5, "ph": 7.6,
         "temp": 27.0}
ANALYSERS = ("codmn", "nh3n", "tp")
# An industrial outfall's own effluent, about as the simulator makes OF_LX_IND's.
EFFLUENT = {"flow": 18.0, "cod": 45.0, "nh3n": 2.6, "tp": 0.3, "cond": 2800.0, "ph": 7.2, "temp": 28.0,
            "turb": 15.0}


def series(sid: str, base: dict[str, float], step: timedelta, hours: float,
           effect: Callable[[datetime], dict[str, float]] = lambda t: {},
           held: tuple[str, ...] = (), cycle: timedelta = timedelta(hours=1),
           frozen_from: datetime | None = None, seed: int = 1,
           phase: timedelta = timedelta(0)) -> list[Reading]:
    """Readings of one station every ``step``; the parameters in ``held`` are analysers with
    a new result once a ``cycle`` (at ``phase`` into it), held in between (and never again
    from ``frozen_from``)."""
    g = np.random.default_rng(seed)
    last: dict[str, float] = {}
    out = []
    for i in range(int(hours * 3600 / step.total_seconds())):
        t = T0 + i * step
        new = (t - T0 - phase) % cycle == timedelta(0) and (frozen_from is None or t < frozen_from)
        add = effect(t)
        for p, v in base.items():
            x = round(max(0.0, v + g.normal(0, 0.01 * v) + add.get(p, 0.0)), 3)
            if p in held:
                x = last[p] = x if new or p not in last else last[p]
            out.append(Reading(sid, t, p, x))
    return out


def run(readings: list[Reading]) -> list[Event]:
    m = Monitor(REG)
    return m.process_many(readings) + m.flush()


def raised(events: list[Event], kind: str) -> list:
    return [e.alert for e in events if e.type == "raised" and e.alert.kind == kind]


def test_an_hourly_analysers_result_held_at_a_one_minute_cadence_is_no_stuck_sensor() -> None:
    events = run(series("XT_TOWN", RIVER, timedelta(minutes=1), 12, held=ANALYSERS))
    assert raised(events, "sensor_fault") == []


def test_an_analyser_frozen_for_three_cycles_at_a_one_minute_cadence_is_stuck() -> None:
    frozen = T0 + timedelta(hours=5)
    events = run(series("XT_TOWN", RIVER, timedelta(minutes=1), 12, held=ANALYSERS, frozen_from=frozen))
    faults = raised(events, "sensor_fault")
    assert len(faults) == 1
    # Its last result came an hour before the freeze (two hours, when TP at 0.001 mg/L
    # repeated the result before it); it is stuck three cycles into that run, not before.
    assert faults[0].last_seen >= frozen + timedelta(hours=1)
    named = {p for e in events if e.alert.id == faults[0].id for p in e.alert.parameters}
    assert set(ANALYSERS) <= named


@pytest.mark.parametrize("phase_h", [0, 1, 3])
@pytest.mark.parametrize("step_min", [1, 5])
def test_an_analyser_reporting_every_four_hours_is_no_stuck_sensor(step_min: int, phase_h: int) -> None:
    # From its first result on, the data beginning anywhere in a cycle: before a cycle is
    # known the core assumes the longest one in use, and the run the data began with (cut
    # short by the data's start) teaches it nothing.
    events = run(series("XT_TOWN", RIVER, timedelta(minutes=step_min), 48, held=ANALYSERS,
                        cycle=timedelta(hours=4), phase=timedelta(hours=phase_h)))
    assert raised(events, "sensor_fault") == []


def test_an_analyser_frozen_from_its_first_result_is_stuck_within_three_of_the_longest_cycles() -> None:
    # No cycle can be learnt from a result that never changes: three 4-h cycles.
    events = run(series("XT_TOWN", RIVER, timedelta(minutes=5), 24, held=ANALYSERS,
                        frozen_from=T0 + timedelta(minutes=5)))
    faults = raised(events, "sensor_fault")
    assert len(faults) == 1
    assert T0 + timedelta(hours=12) <= faults[0].last_seen <= T0 + timedelta(hours=13)
    named = {p for e in events if e.alert.id == faults[0].id for p in e.alert.parameters}
    assert set(ANALYSERS) <= named


GROSS = {"cod": 400.0, "cond": 1000.0, "nh3n": 6.0, "tp": 0.8, "flow": 14.0}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_gross_discharge_in_one_hourly_sample_at_an_outfall_is_raised_at_that_sample(seed: int) -> None:
    at = T0 + timedelta(hours=30)
    events = run(series("OF_LX_IND", EFFLUENT, timedelta(hours=1), 48, lambda t: GROSS if t == at else {},
                        seed=seed))
    alerts = raised(events, "illegal_discharge")
    assert [(a.start, a.last_seen) for a in alerts] == [(at, at)]


def moderate(at: datetime, samples: int) -> Callable[[datetime], dict[str, float]]:
    """Two markers about 5 of their scales up (2 % of the median) for ``samples`` hours."""
    return lambda t: {"cond": 280.0, "nh3n": 0.27} if at <= t < at + timedelta(hours=samples) else {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_moderate_two_marker_rise_in_one_hourly_sample_waits_for_the_second(seed: int) -> None:
    at = T0 + timedelta(hours=30)
    one = run(series("OF_LX_IND", EFFLUENT, timedelta(hours=1), 48, moderate(at, 1), seed=seed))
    assert raised(one, "illegal_discharge") == []
    two = run(series("OF_LX_IND", EFFLUENT, timedelta(hours=1), 48, moderate(at, 2), seed=seed))
    assert [a.last_seen for a in raised(two, "illegal_discharge")] == [at + timedelta(hours=1)]


def test_policy_raises_on_covered_data_time_only_for_kinds_that_ask_and_conditions_that_say() -> None:
    t = parse_time("2026-07-14T00:00:00Z")

    def first(interval_s: float | None, raise_s: float | None = 1800.0) -> list[Event]:
        p = AlertPolicy(kinds={"illegal_discharge": KindPolicy(raise_after=2, raise_s=raise_s)})
        return p.observe(Condition("TZ_TOWN", "water", "illegal_discharge", ("nh3n",), "warning", "m",
                                   interval_s=interval_s), t)

    assert [e.type for e in first(3600.0)] == ["raised"]
    assert [e.type for e in first(1800.0)] == ["raised"]
    assert first(300.0) == []
    assert first(None) == []
    assert first(3600.0, raise_s=None) == []
    # Two 5-min evaluations cover 10 min: raised by the count, as before.
    p = AlertPolicy(kinds={"illegal_discharge": KindPolicy(raise_after=2, raise_s=1800.0)})
    c = Condition("TZ_TOWN", "water", "illegal_discharge", ("nh3n",), "warning", "m", interval_s=300.0)
    assert p.observe(c, t) == []
    assert [e.type for e in p.observe(c, t + timedelta(minutes=5))] == ["raised"]
