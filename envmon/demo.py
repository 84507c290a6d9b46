"""The demo: everything on this machine, six night hours of the zone at high speed.

Prints alerts as they fire and ends with a summary in which readings published must equal
readings written to InfluxDB (counted in the database, not taken from a counter).
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from envmon.alerts import KIND_ZH, SEVERITY_ZH, Event
from envmon.influx import InfluxClient, InfluxError
from envmon.mqttio import MqttError, wait_for_broker
from envmon.params import load_parameters
from envmon.paths import OUT_DIR, RUN_DIR
from envmon.service import AnalyticsService, IngestService
from envmon.settings import load_settings
from envmon.stations import load_registry
from envmon.timeutil import CST, format_time


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


def run_demo(*, scenario: str, speed: float, settings_file: str | None, keep: bool, out: TextIO,
             work_dir: Path | None = None, out_dir: Path | None = None) -> int:
    """Run the demo; ``work_dir`` (alert store, spool, dead letters; default .run/demo) and
    ``out_dir`` (dashboards, report; default out/) let tests keep their own."""
    from firmware_sim.live import run_live
    from firmware_sim.scenario import load_scenario

    settings = load_settings(settings_file)
    demo_dir = work_dir or RUN_DIR / "demo"
    out_dir = out_dir or OUT_DIR
    # A fresh group and session per run: a persistent session left by an earlier run (or by
    # the tests) would deliver whatever the broker queued for it since, into this demo.
    run = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(
        settings,
        ingest=dataclasses.replace(settings.ingest, spool_dir=str(demo_dir / "spool"),
                                   dead_letter_file=str(demo_dir / "deadletter.jsonl"),
                                   client_id=f"envmon-demo-ingest-{run}", group=f"demo-ingest-{run}",
                                   session_expiry_s=60),
        analytics=dataclasses.replace(settings.analytics, alert_db=str(demo_dir / "alerts.sqlite"),
                                      client_id=f"envmon-demo-analytics-{run}", group=f"demo-analytics-{run}"),
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
    live = sc.live_from or sc.start
    say(f"envmon demo — scenario {sc.name}: live {live.astimezone(CST):%Y-%m-%d %H:%M} → "
        f"{sc.end.astimezone(CST):%H:%M} CST, {len(registry)} stations, speed {speed:g}×")
    if sc.live_from:
        say(f"  the nodes first backfill {(sc.live_from - sc.start).total_seconds() / 3600:.0f} h of stored "
            "readings (store-and-forward batches), then run live")
    say(f"  MQTT {settings.mqtt.host}:{settings.mqtt.port} · InfluxDB {settings.influx.url} "
        f"db={settings.influx.database}")

    lock = threading.Lock()
    params = load_parameters()

    def show(e: Event) -> None:
        a = e.alert
        if e.type == "cleared" or (e.type == "updated" and a.kind != "illegal_discharge"):
            return
        with lock:
            # A raise shows when the condition began; an update shows when it changed.
            at = a.start if e.type == "raised" else (a.last_seen or a.start)
            when = at.astimezone(CST).strftime("%m-%d %H:%M")
            src = (f" 疑似来源={registry.describe_source(a.suspected_source)} 置信度={a.confidence:.2f}"
                   if a.suspected_source else "")
            tag = {"raised": "告警", "updated": "更新"}[e.type]
            # tqdm.write keeps the progress bar on its own line under the alerts
            tqdm.write(f"  [{tag}] {when} {a.station_name or a.station} {KIND_ZH[a.kind]}({a.kind}) "
                       f"{SEVERITY_ZH[a.severity]} {'、'.join(params.label(q) for q in a.parameters)}{src}",
                       file=out)

    # The simulated clock: the time of the latest instant the nodes sampled.
    sim_now: list[datetime] = [datetime.fromtimestamp((sc.live_from or sc.start).timestamp(), UTC)]

    def on_instant(t: float) -> None:
        sim_now[0] = datetime.fromtimestamp(t, UTC)

    ingest = IngestService(settings, registry)
    analytics = AnalyticsService(settings, registry, listeners=[show], clock=lambda: sim_now[0])
    ingest.start()
    analytics.start()
    t0 = time.monotonic()
    started_wall = datetime.now(UTC)
    try:
        stats = run_live(sc, registry, settings.mqtt, speed=speed, progress=True, on_instant=on_instant)
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
    outputs = _outputs(settings, registry, influx, sc, started_wall, out_dir)
    say("")
    say("summary")
    backfill = f" (a day of backfill, then {(sc.end - sc.live_from).total_seconds() / 3600:.0f} h live)" \
        if sc.live_from else ""
    say(f"  wall time             {wall:.0f} s for {sc.hours:.0f} simulated hours{backfill}")
    say(f"  messages published    {stats.published_messages} ({stats.batches} store-and-forward batches)")
    say(f"  readings published    {stats.published_readings}")
    say(f"  readings written      {written}   (counted in InfluxDB)  "
        f"{'published = written' if ok else 'MISMATCH'}")
    say(f"  rejected by ingest    {sum(s.rejected.values())} {dict(s.rejected) if s.rejected else ''}")
    say(f"  alerts raised         {sum(kinds.values())}: "
        + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"))
    say(f"  alert store           {settings.analytics.alert_db}")
    say(f"  InfluxDB              {settings.influx.url} database {settings.influx.database}")
    say(f"  MQTT broker           {settings.mqtt.host}:{settings.mqtt.port} (alerts on envmon/v1/alerts/#)")
    for line in outputs:
        say(line)
    say("next steps")
    say("  field teams' page     envmon api --dev-tokens   → http://127.0.0.1:8765/m/ (tokens in .run/)")
    say("  push dashboards       envmon dashboards push --url http://grafana:3000 --token ...")
    say("  a simulated month     envmon sim --scenario month --out out/month.csv --truth out/truth.jsonl")
    say("                        envmon replay out/month.csv --alerts-out out/alerts.jsonl")
    say("  detection benchmark   envmon bench detect")
    say("  stop the services     make services-down")
    return 0 if ok else 1


def _outputs(settings, registry, influx: InfluxClient, sc, started_wall: datetime,
             out_dir: Path) -> list[str]:
    """Dashboards (JSON + provisioning, every query checked on the demo's data) and a sample
    joint inspection report of the boundary section below the discharge."""
    from dashboards.catalog import BuildInputs, build_all
    from dashboards.queries import check_all
    from dashboards.render import render_files, write_files
    from envmon.alerting.store import AlertStore
    from envmon.report import build_report

    lines = ["outputs"]
    dash = build_all(BuildInputs(registry))
    out_dash = out_dir / "dashboards"
    write_files(render_files(dash, registry), out_dash)
    data_filter = f"time >= '{format_time(sc.start)}' AND time <= '{format_time(sc.end)}'"
    wall_filter = f"time >= '{format_time(started_wall)}' AND time <= now()"
    wall_range = max(60.0, (datetime.now(UTC) - started_wall).total_seconds())
    checks = check_all(dash, influx.query, time_filter=data_filter, range_s=(sc.end - sc.start).total_seconds(),
                       time_filters={"ingest": (wall_filter, wall_range, "10s")})
    good = sum(c.ok for c in checks)
    lines.append(f"  dashboards            {out_dash}/json ({len(dash)} dashboards; {good}/{len(checks)} panel "
                 f"queries return data from this run)")
    for c in checks:
        if not c.ok:
            why = "no alerts of this medium to annotate in this run" if c.title.startswith("注释") else c.error
            lines.append(f"    no data: {c.uid} / {c.title} ({why})")
    section = _report_section(registry, sc)
    if section:
        store = AlertStore(settings.analytics.alert_db, registry=registry)
        try:
            html, pdf = build_report(influx, store, registry, section, sc.live_from.astimezone(CST).strftime("%Y-%m")
                                     if sc.live_from else sc.start.astimezone(CST).strftime("%Y-%m"),
                                     out_dir / "reports")
        finally:
            store.close()
        lines.append(f"  joint report          {html}")
        lines.append(f"                        {pdf}")
    return lines


def _report_section(registry, sc) -> str | None:
    """The first boundary section downstream of the scenario's scripted event, else any."""
    for ev in sc.events:
        if ev.station and ev.station in registry:
            for st in registry.downstream_chain(ev.station):
                if st.kind == "boundary_section":
                    return st.id
    return next((s.id for s in registry.values() if s.kind == "boundary_section"), None)
