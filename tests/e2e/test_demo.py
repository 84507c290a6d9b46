"""The demo, as `make demo` runs it (faster): published = written, an alert about the
scripted discharge downstream of the outfall, every dashboard panel returns data from it,
and the sample joint report is written."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest

from dashboards.catalog import BuildInputs, build_all
from dashboards.queries import check_all
from envmon.demo import run_demo
from envmon.influx import InfluxClient, InfluxConfig
from envmon.services import Ports
from envmon.stations import load_registry
from envmon.timeutil import format_time
from firmware_sim.scenario import load_scenario

pytestmark = pytest.mark.e2e


def test_demo_end_to_end(services: Ports, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"test_demo_{unique}"
    monkeypatch.setenv("ENVMON_INFLUX_DATABASE", db)
    monkeypatch.setenv("ENVMON_INFLUX_URL", f"http://127.0.0.1:{services.influx}")
    monkeypatch.setenv("ENVMON_MQTT_PORT", str(services.mqtt))
    out = io.StringIO()
    influx = InfluxClient(InfluxConfig(url=f"http://127.0.0.1:{services.influx}", database=db))
    try:
        rc = run_demo(scenario="demo-night", speed=1200, settings_file=None, keep=False, out=out,
                      work_dir=tmp_path / "work", out_dir=tmp_path / "out")
        text = out.getvalue()
        assert rc == 0, text
        assert "published = written" in text
        # an alert about the scripted discharge at a station downstream of the outfall
        registry = load_registry()
        downstream = {s.id for s in registry.downstream_chain("OF_TZ_RAIN")}
        db_alerts = sqlite3.connect(tmp_path / "work" / "alerts.sqlite")
        stations = {r[0] for r in db_alerts.execute("SELECT station FROM alerts WHERE kind = 'illegal_discharge'")}
        assert stations & downstream, text
        # the console line a watcher reads names the severity, the parameters and the source in Chinese
        assert re.search(r"\[告警\] \S+ \S+ \S+ 疑似偷排\(illegal_discharge\) (提示|警告|严重) \S*电导率", text), text
        assert "疑似来源=陶庄工业区雨水排口(OF_TZ_RAIN)" in text, text
        # every panel query returns data from the demo (annotations may rightly be empty)
        sc = load_scenario("demo-night")
        data = f"time >= '{format_time(sc.start)}' AND time <= '{format_time(sc.end)}'"
        checks = check_all(build_all(BuildInputs(registry)), influx.query, time_filter=data,
                           range_s=(sc.end - sc.start).total_seconds(),
                           time_filters={"ingest": ("time > now() - 1h", 3600.0, "10s")})
        panels = [c for c in checks if not c.title.startswith("注释")]
        empty = [f"{c.uid} / {c.title}: {c.error or c.query}" for c in panels if not c.ok]
        assert not empty, "\n".join(empty)
        reports = list((tmp_path / "out" / "reports").glob("*"))
        assert {p.suffix for p in reports} == {".html", ".pdf"}
        assert "HQT_HENGGANG" in reports[0].name
    finally:
        influx.drop_database(db)
