"""A restarted analytics service reads the last hours back from the real InfluxDB before it
consumes: its baselines are ready at once, and a condition still present is raised once,
folded into the record the store already holds (nobody paged twice)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import numpy as np
import pytest

from envmon.alerting.store import AlertStore
from envmon.alerts import Alert, Event
from envmon.influx import InfluxClient
from envmon.reading import Reading
from envmon.service import AnalyticsService
from envmon.settings import Settings
from envmon.stations import load_registry
from envmon.timeutil import parse_time
from ingest.lines import to_lines

REG = load_registry()
RESTART = parse_time("2026-07-14T02:00:00+08:00")  # the service's clock when it starts
STEP = timedelta(minutes=5)
RIVER = {"cond": 520.0, "nh3n": 0.45, "cod": 16.0, "codmn": 4.2, "tp": 0.12, "turb": 18.0, "do": 6.5,
         "ph": 7.6, "temp": 27.0}
PLUME = {"cond": 300.0, "nh3n": 3.0, "cod": 12.0, "turb": 20.0, "do": -1.5}


def readings(sid: str, base: dict[str, float], start: datetime, end: datetime, add=lambda t: {},
             seed: int = 1) -> list[Reading]:
    """Every 5 min from ``start`` to before ``end``: ``base`` with 1 % noise, ``add(t)`` on top."""
    g = np.random.default_rng(seed)
    out = []
    t = start
    while t < end:
        extra = add(t)
        for p, v in base.items():
            out.append(Reading(sid, t, p, round(max(0.0, v + g.normal(0, 0.01 * v) + extra.get(p, 0.0)), 3)))
        t += STEP
    return out


def store(influx: InfluxClient, rs: list[Reading]) -> None:
    influx.write_lines(to_lines(rs, REG), precision="ms")


def service(settings: Settings, hours: float, seen: list[Event]) -> AnalyticsService:
    s = dataclasses.replace(settings, analytics=dataclasses.replace(settings.analytics, warm_hours=hours))
    return AnalyticsService(s, REG, listeners=[seen.append], clock=lambda: RESTART)


def plume_alerts(svc: AnalyticsService) -> list[Alert]:
    """A gross discharge at XT_TOWN from the restart on, 45 min, straight into the core."""
    after = readings("XT_TOWN", RIVER, RESTART, RESTART + timedelta(hours=2),
                     lambda t: PLUME if t < RESTART + timedelta(minutes=45) else {}, seed=2)
    events = [e for r in after for e in svc.monitor.process(r)]
    return [e.alert for e in events if e.type == "raised" and e.alert.kind == "illegal_discharge"]


def test_a_restarted_core_judges_at_once_from_the_stored_hours(settings: Settings, influx: InfluxClient) -> None:
    before = readings("XT_TOWN", RIVER, RESTART - timedelta(hours=3), RESTART)
    store(influx, before)
    seen: list[Event] = []
    warm = service(settings, 6.0, seen)
    assert warm.warm() == len(before)
    (a,) = plume_alerts(warm)
    assert a.station == "XT_TOWN" and a.start <= RESTART + timedelta(minutes=10)
    assert seen == []  # nothing was still present at the restart: nothing raised
    # Cold, the core has no baseline for its first hour: the same plume passes unseen.
    cold = service(settings, 0.0, seen)
    assert cold.warm() == 0
    assert plume_alerts(cold) == []


def test_a_condition_still_present_is_raised_once_and_folded(settings: Settings, influx: InfluxClient) -> None:
    # OF_XT_RAIN has been running in dry weather for the last hour before the restart; the
    # core raised dry_weather_flow before it went down, and the store still holds it open.
    start = RESTART - timedelta(hours=3)
    flowing = RESTART - timedelta(hours=1)
    outfall = {"flow": 0.0, "cond": 400.0, "cod": 30.0, "nh3n": 1.2, "turb": 15.0}
    rs = readings("OF_XT_RAIN", outfall, start, RESTART, lambda t: {"flow": 6.0} if t >= flowing else {})
    store(influx, rs)
    before = Alert(id="before-restart", kind="dry_weather_flow", station="OF_XT_RAIN", medium="water",
                   parameters=("flow",), start=flowing + 2 * STEP, severity="warning", message="晴天排水",
                   suspected_source="OF_XT_RAIN", confidence=0.6)
    db = AlertStore(settings.analytics.alert_db, registry=REG)
    db.apply(Event("raised", before))
    db.close()
    seen: list[Event] = []
    svc = service(settings, 6.0, seen)
    svc.start()
    svc.stop()
    raised = [e for e in seen if e.type == "raised" and e.alert.kind == "dry_weather_flow"]
    assert [e.alert.station for e in raised] == ["OF_XT_RAIN"]
    db = AlertStore(settings.analytics.alert_db, registry=REG)
    try:
        recs = db.list(kind="dry_weather_flow")
        assert [(r.alert.station, r.active, r.id) for r in recs] == [("OF_XT_RAIN", True, "before-restart")]
    finally:
        db.close()
    # Started cold, the core says nothing of it until the outfall has flowed for a while again.
    cold_seen: list[Event] = []
    cold = service(settings, 0.0, cold_seen)
    cold.start()
    cold.stop()
    assert cold_seen == []


def test_a_database_that_does_not_answer_leaves_the_core_cold_not_stopped(settings: Settings, caplog) -> None:
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gone = dataclasses.replace(settings, influx=dataclasses.replace(settings.influx, url=f"http://127.0.0.1:{port}",
                                                                    timeout=2.0))
    svc = service(gone, 6.0, [])
    assert svc.warm() == 0
    assert "warm start: InfluxDB did not answer" in caplog.text


def test_silence_is_judged_from_the_restart_not_from_the_outage(settings: Settings, influx: InfluxClient) -> None:
    # The whole system was down for an hour: the stored readings end an hour before the
    # restart, and the broker's backlog has not come in yet. No station is silent for that.
    store(influx, readings("XT_TOWN", RIVER, RESTART - timedelta(hours=3), RESTART - timedelta(hours=1)))
    svc = service(settings, 6.0, [])
    svc.warm()
    assert [e for e in svc.monitor.tick(RESTART + timedelta(minutes=5)) if e.alert.kind == "station_offline"] == []
    # ... but one that stays silent for three of its intervals after the restart is.
    late = svc.monitor.tick(RESTART + timedelta(minutes=20))
    assert [(e.type, e.alert.station) for e in late if e.alert.kind == "station_offline"] == [("raised", "XT_TOWN")]


@pytest.mark.timeout(60)  # should `envmon run` start instead of refusing, it would run on
def test_the_live_core_judges_outfalls_by_the_permits_of_its_settings(settings: Settings,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # [analytics] permits names the file; the live core holds its permits. A bad file stops
    # `envmon run` before anything starts, with the reason.
    from envmon.cli import main
    from envmon.paths import ROOT

    sample = str(ROOT / "seeds" / "permits.sample.toml")
    s = dataclasses.replace(settings, analytics=dataclasses.replace(settings.analytics, permits=sample, warm_hours=0.0))
    svc = AnalyticsService(s, REG)
    assert len(svc.monitor.permits) == 2
    assert svc.monitor.permits.in_force("OF_YZ_IND", RESTART.date()).number == "EXAMPLE-330421-0001"
    assert AnalyticsService(settings, REG).monitor.permits.by_outfall == {}
    monkeypatch.setenv("ENVMON_ANALYTICS_PERMITS", str(ROOT / "seeds" / "no-such-permits.toml"))
    assert main(["run", "--only", "analytics"]) == 2
