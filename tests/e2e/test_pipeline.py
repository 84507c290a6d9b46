"""End to end: simulated fleet → Mosquitto → ingest → InfluxDB, and analytics → alert in
the SQLite store, a point in the InfluxDB ``alerts`` measurement and a message on the field
team's webhook (routing from a config file, as `envmon run` does it)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from pathlib import Path

import pytest

from envmon.demo import count_readings
from envmon.influx import InfluxClient
from envmon.service import AnalyticsService, IngestService
from envmon.settings import Settings
from envmon.stations import load_registry
from envmon.timeutil import format_time
from firmware_sim.live import run_live
from firmware_sim.scenario import load_scenario
from tests.httpstub import Receiver

pytestmark = pytest.mark.e2e
SCENARIO = Path(__file__).parent.parent / "data" / "scenarios" / "e2e-short.toml"


ROUTING = """
[defaults]
link_base = "http://127.0.0.1:8765"
[channels.hook]
type = "webhook"
url_env = "E2E_HOOK_URL"
[teams.js]
name = "嘉善县生态环境执法大队"
jurisdiction = "jiashan"
channels = ["hook"]
[[routes]]
jurisdiction = "jiashan"
kinds = ["illegal_discharge", "dry_weather_flow"]
teams = ["js"]
"""


def test_simulated_discharge_reaches_the_alert_store_and_influxdb(settings: Settings, influx: InfluxClient,
                                                                  tmp_path: Path, unique: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_registry()
    sc = load_scenario(SCENARIO)
    receiver = Receiver("/hook")
    monkeypatch.setenv("E2E_HOOK_URL", receiver.url)
    (tmp_path / "routing.toml").write_text(ROUTING, encoding="utf-8")
    settings = dataclasses.replace(settings, analytics=dataclasses.replace(
        settings.analytics, routing=str(tmp_path / "routing.toml")))
    ingest = IngestService(settings, registry)
    seen = []
    analytics = AnalyticsService(settings, registry, listeners=[seen.append])
    ingest.start()
    analytics.start()
    try:
        stats = run_live(sc, registry, settings.mqtt, speed=900, progress=False, store_dir=tmp_path / "nodes",
                         client_prefix=f"e2e-{unique}-")
        assert stats.failed == 0
        # Wait until ingest has written every published value (a spool, if InfluxDB blinked,
        # must drain first), not for a fixed time.
        deadline = time.monotonic() + 180
        while ingest.stats.written < stats.published_readings and time.monotonic() < deadline:
            time.sleep(0.1)
        analytics.finish()
    finally:
        ingest.stop()
        analytics.stop()
    # every sampled value is in InfluxDB
    stored = count_readings(influx, format_time(sc.start), format_time(sc.end))
    assert stored > 0 and stats.published_readings == stored == ingest.stats.written
    # the discharge became an illegal_discharge alert downstream of the outfall, in the store ...
    db = sqlite3.connect(settings.analytics.alert_db)
    rows = db.execute("SELECT station, kind FROM alerts WHERE kind = 'illegal_discharge'").fetchall()
    stations = {r[0] for r in rows}
    downstream = {s.id for s in registry.downstream_chain("OF_TZ_RAIN")}
    assert stations & downstream, f"no discharge alert downstream of OF_TZ_RAIN: {rows}"
    # ... and in InfluxDB
    pts = list(influx.rows("SELECT id, event, suspected_source FROM alerts WHERE kind = 'illegal_discharge'"))
    assert any(p["event"] == "raised" and p["suspected_source"] == "OF_TZ_RAIN" for p in pts), pts
    # ... and the field team's webhook got it, in Chinese, with the suspected source
    receiver.close()
    texts = [json.dumps(b, ensure_ascii=False) for b in receiver.bodies()]
    assert any("陶庄镇河" in t and "疑似偷排" in t and "OF_TZ_RAIN" in t for t in texts), texts


def test_live_offline_alert_on_the_driver_clock_once_per_outage(settings: Settings, tmp_path: Path,
                                                                unique: str) -> None:
    """Through the real broker: the nodes first send 4 h of stored readings at once (as
    after a night on their disks, several batches a node), then run live; one node loses its link for 25 min and
    forwards what it stored when it is back. Exactly that station raises station_offline,
    once, and its backfill closes it; the hours of backfill make no station look silent."""
    from datetime import UTC, datetime, timedelta

    from firmware_sim.scenario import EventSpec, Scenario

    registry = load_registry()
    live = load_scenario(SCENARIO).start
    start = live - timedelta(hours=4)
    sc = Scenario(name=f"offline-{unique}", seed=5, start=start, end=live + timedelta(hours=1),
                  rain_per_day=0.0, live_from=live,
                  scripted=(EventSpec("station_offline", "XT_TOWN", live + timedelta(minutes=15), 25,
                                      {"cause": "link"}),))
    sim_now = [live]
    seen: list = []
    analytics = AnalyticsService(settings, registry, listeners=[seen.append], clock=lambda: sim_now[0])
    analytics.start()
    try:
        # Speed 150: the driver's clock runs on while the service drains the broker, and a
        # 1-min noise station's three intervals are 1.2 s of wall time here. At 300 (0.6 s)
        # one run of `make test` on a slow, busy machine (2026-12-06) saw both noise stations
        # go "offline" for a moment behind the service's own queue. Live (speed 1) those
        # three intervals are 3 min of wall time.
        stats = run_live(sc, registry, settings.mqtt, speed=150, progress=False, store_dir=tmp_path / "nodes",
                         client_prefix=f"off-{unique}-",
                         on_instant=lambda t: sim_now.__setitem__(0, datetime.fromtimestamp(t, UTC)))
        assert stats.failed == 0 and stats.outages == 1 and stats.batches >= 1
        deadline = time.monotonic() + 60
        while analytics.processed < stats.published_readings and time.monotonic() < deadline:
            time.sleep(0.1)
        assert analytics.processed == stats.published_readings
    finally:
        analytics.stop()
    off = [(e.type, e.alert.station) for e in seen if e.alert.kind == "station_offline"]
    assert off == [("raised", "XT_TOWN"), ("cleared", "XT_TOWN")], off
