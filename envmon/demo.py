"""The demo: everything on this machine, six night hours of the zone at high speed.

Prints alerts as they fire and ends with a summary in which readings published must equal
readings written to InfluxDB (counted in the database, not taken from a counter).
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from collections import Counter
from typing import TextIO

from envmon.alerts import KIND_ZH, Event
from envmon.influx import InfluxClient, InfluxError
from envmon.mqttio import MqttError, wait_for_broker
from envmon.params import load_parameters
from envmon.paths import OUT_DIR, RUN_DIR
from envmon.settings import load_settings
from envmon.stations import load_registry
from envmon.timeutil import CST, format_time
from envmon.service import AnalyticsService, IngestService


def count_readings(influx: InfluxClient, start: str, end: str) -> int:
    """Parameter values stored for the period over the three media (quality fields such
    as ``<param>_flag`` or ``late`` are not readings)."""
    params = set(load_parameters())
    total = 0
    for m in ("water", "noise", "air"):
        for series in influx.query(f"SELECT count(*) FROM {m} WHERE time >= '{start}' AND time <= '{end}'"):
            for col, val in zip(series["columns"], series["values"][0], strict=False):
                if col.startswith("count_") and col[6:] in params and val:
                    total += int(val)
    return total


def run_demo(*, scenario: str, speed: float, settings_file: str | None, keep: bool, out: TextIO) -> int:
    from firmware_sim.live import run_live
    from firmware_sim.scenario import load_scenario

    settings = load_settings(settings_file)
    demo_dir = RUN_DIR / "demo"
    settings = dataclasses.replace(
        settings,
        ingest=dataclasses.replace(settings.ingest, spool_dir=str(demo_dir / "spool"),
                                   dead_letter_file=str(demo_dir / "deadletter.jsonl"),
                                   client_id="envmon-demo-ingest", group="demo-ingest",
                                   session_expiry_s=300),
        analytics=dataclasses.replace(settings.analytics, alert_db=str(demo_dir / "alerts.sqlite"),
                                      client_id="envmon-demo-analytics", group="demo-analytics"),
    )
    registry = load_registry(settings.stations)
    sc = load_scenario(scenario)
    influx = InfluxClient(settings.influx)
    p = print

    def say(*a: object) -> None:
        p(*a, file=out, flush=True)

    try:
        wait_for_broker(settings.mqtt, timeout=10)
        influx.wait_ready(10)
    except (MqttError, InfluxError) as err:
        say(f"error: {err}\n  start the private services first: make services-up")
        return 1
    if not keep:
        shutil.rmtree(demo_dir, ignore_errors=True)
        influx.drop_database(settings.influx.database)
        influx.create_database(settings.influx.database)
    say(f"envmon demo — scenario {sc.name}: {sc.start.astimezone(CST):%Y-%m-%d %H:%M} → "
        f"{sc.end.astimezone(CST):%H:%M} CST, {len(registry)} stations, speed {speed:g}×")
    say(f"  MQTT {settings.mqtt.host}:{settings.mqtt.port} · InfluxDB {settings.influx.url} "
        f"db={settings.influx.database}")

    lock = threading.Lock()

    def show(e: Event) -> None:
        a = e.alert
        if e.type == "cleared" or (e.type == "updated" and a.kind != "illegal_discharge"):
            return
        with lock:
            when = a.start.astimezone(CST).strftime("%m-%d %H:%M")
            src = f" 疑似来源={a.suspected_source} 置信度={a.confidence:.2f}" if a.suspected_source else ""
            tag = {"raised": "告警", "updated": "更新"}[e.type]
            say(f"  [{tag}] {when} {a.station_name or a.station} {KIND_ZH[a.kind]}({a.kind}) "
                f"{','.join(a.parameters)}{src}")

    ingest = IngestService(settings, registry)
    analytics = AnalyticsService(settings, registry, listeners=[show])
    ingest.start()
    analytics.start()
    t0 = time.monotonic()
    try:
        stats = run_live(sc, registry, settings.mqtt, speed=speed, progress=True)
        # Wait (not sleep-and-hope) until ingest has written everything it received.
        deadline = time.monotonic() + 180
        while ingest.stats.written < stats.published_readings and time.monotonic() < deadline:
            time.sleep(0.2)
        analytics_deadline = time.monotonic() + 60
        while analytics.processed < stats.published_readings and time.monotonic() < analytics_deadline:
            time.sleep(0.2)
        analytics.finish()
    finally:
        ingest.stop()
        analytics.stop()
    wall = time.monotonic() - t0
    written = count_readings(influx, format_time(sc.start), format_time(sc.end))
    s = ingest.stats
    kinds = Counter(k for (typ, k), n in analytics.sinks.counts.items() if typ == "raised" for _ in range(n))
    ok = written == stats.published_readings
    say("")
    say("summary")
    say(f"  wall time             {wall:.0f} s for {sc.hours:.0f} simulated hours")
    say(f"  messages published    {stats.published_messages}")
    say(f"  readings published    {stats.published_readings}")
    say(f"  readings written      {written}   (counted in InfluxDB)  "
        f"{'published = written' if ok else 'MISMATCH'}")
    say(f"  rejected by ingest    {sum(s.rejected.values())} {dict(s.rejected) if s.rejected else ''}")
    say(f"  alerts raised         {sum(kinds.values())}: "
        + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"))
    say(f"  alert store           {settings.analytics.alert_db}")
    say(f"  InfluxDB              {settings.influx.url} database {settings.influx.database}")
    say(f"  MQTT broker           {settings.mqtt.host}:{settings.mqtt.port} (alerts on envmon/v1/alerts/#)")
    for line in _next_steps():
        say(line)
    return 0 if ok else 1


def _next_steps() -> list[str]:
    return [
        "next steps",
        f"  outputs               {OUT_DIR}",
        "  replay a month        envmon sim --scenario month --out out/month.csv --truth out/truth.jsonl"
        " && envmon replay out/month.csv --alerts-out out/alerts.jsonl",
        "  stop the services     make services-down",
    ]
