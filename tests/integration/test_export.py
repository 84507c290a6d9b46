"""History export against the real influxd: round trips, manifests, scoping, chunked streaming."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from envmon.alerting.api import TokenStore, create_app, hash_token
from envmon.alerting.store import AlertStore
from envmon.cli import main
from envmon.history import HistoryRequest, export, verify
from envmon.influx import InfluxClient, line
from envmon.replay import read_csv
from envmon.stations import load_registry
from envmon.timeutil import CST, parse_time

pytestmark = pytest.mark.integration

REG = load_registry()
T0 = parse_time("2026-07-14T00:00:00+08:00")
# YHT_YUHUI is shared with Qingpu; YZ_TOWN on the same river is Jiashan's only.
STATIONS = ("YHT_YUHUI", "YZ_TOWN")


def write_synthetic(influx: InfluxClient, days: int = 2, step_min: int = 10) -> set[tuple]:
    """Readings of two stations (two parameters, some flags, ms timestamps); returns them as
    (epoch ms, station, parameter, value, flag)."""
    lines, truth = [], set()
    for s_i, sid in enumerate(STATIONS):
        st = REG[sid]
        for k in range(days * 24 * 60 // step_min):
            ms = int(T0.timestamp()) * 1000 + k * step_min * 60_000 + 250 * (k % 2)  # some sub-second stamps
            cod, nh3n = 15.0 + (k % 13) / 7 + s_i, 0.1 * (k % 11) + 1 / 3
            fields: dict[str, object] = {"cod": cod, "nh3n": nh3n}
            flags = {"cod": "N", "nh3n": "N"}
            if k % 17 == 0:
                fields["cod_flag"] = flags["cod"] = "D"
            if k % 29 == 0:
                fields["nh3n_flag"] = flags["nh3n"] = "T"
            lines.append(line("water", st.tags(), fields, ms))
            truth |= {(ms, sid, "cod", cod, flags["cod"]), (ms, sid, "nh3n", nh3n, flags["nh3n"])}
    influx.write_lines(lines, precision="ms")
    return truth


def stored(influx: InfluxClient) -> set[tuple]:
    """What InfluxDB holds, read independently of envmon.history."""
    out = set()
    for r in influx.rows('SELECT * FROM "water" GROUP BY "station"', epoch="ms"):
        for p in ("cod", "nh3n"):
            if r.get(p) is not None:
                out.add((int(r["time"]), r["station"], p, float(r[p]), r.get(f"{p}_flag") or "N"))
    return out


def test_raw_csv_round_trip_equals_influx_and_manifest_hash(influx: InfluxClient, tmp_path: Path) -> None:
    truth = write_synthetic(influx)
    in_db = stored(influx)
    assert in_db == truth
    req = HistoryRequest(STATIONS, T0, T0 + timedelta(days=2))
    res = export(influx, REG, req, tmp_path / "raw.csv", progress=False)

    bad: Counter = Counter()
    with open(res.path, encoding="utf-8", newline="") as f:
        back = {(int(r.time.timestamp() * 1000 + 0.5), r.station, r.parameter, r.value, r.flag)
                for r in read_csv(f, bad)}
    assert not bad
    assert back == in_db
    m = json.loads(res.manifest_path.read_text(encoding="utf-8"))
    assert m["sha256"] == hashlib.sha256(res.path.read_bytes()).hexdigest()
    assert m["rows"] == len(in_db) == sum(m["rows_per_station"].values())
    assert m["rows_per_parameter"] == {"cod": len(in_db) // 2, "nh3n": len(in_db) // 2}
    assert verify(res.path).ok
    assert main(["export", "--verify", str(res.path)]) == 0
    with open(res.path, "a", encoding="utf-8") as f:  # one changed byte must be noticed
        f.write("\n")
    assert not verify(res.manifest_path).ok
    assert main(["export", "--verify", str(res.path)]) == 1


def test_xlsx_round_trip_with_chinese_headers(influx: InfluxClient, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    write_synthetic(influx, days=1)
    in_db = {(ms, sid, p, fl): v for ms, sid, p, v, fl in stored(influx)}
    res = export(influx, REG, HistoryRequest(STATIONS, T0, T0 + timedelta(days=1)), tmp_path / "raw.xlsx",
                 progress=False)
    wb = load_workbook(res.path, read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert rows[0][0].startswith("时间") and "站点编号" in rows[0]
    back = {}
    for t, sid, p, v, flag in rows[1:]:
        # Excel has no time zones: the sheet holds CST wall-clock times.
        ms = round(t.replace(tzinfo=CST).timestamp() * 1000)
        back[(ms, sid, p, flag)] = v
    assert back.keys() == in_db.keys()
    # openpyxl writes 15-16 significant digits (Excel's own precision); CSV and JSON are exact.
    assert all(back[k] == pytest.approx(v, rel=1e-14) for k, v in in_db.items())
    assert verify(res.path).ok

    hourly = export(influx, REG, HistoryRequest(STATIONS, T0, T0 + timedelta(days=1), interval="1h",
                                                layout="wide"), tmp_path / "hourly.xlsx", progress=False)
    ws = load_workbook(hourly.path, read_only=True).worksheets[0]
    head = next(ws.iter_rows(values_only=True))
    assert head[:3] == ("时间（北京时间）", "站点编号", "站点名称")
    assert "化学需氧量 cod (mg/L)" in head and "氨氮 nh3n (mg/L)" in head
    body = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(body) == 24 * len(STATIONS)
    assert {r[2] for r in body} == {REG[s].name for s in STATIONS}


def test_hourly_means_use_valid_readings_only(influx: InfluxClient, tmp_path: Path) -> None:
    truth = write_synthetic(influx, days=1)
    res = export(influx, REG, HistoryRequest(("YZ_TOWN",), T0, T0 + timedelta(days=1), ("cod",), "1h"),
                 tmp_path / "h.csv", progress=False)
    with open(res.path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    first = [v for ms, sid, p, v, fl in truth if sid == "YZ_TOWN" and p == "cod" and fl in ("N", "T")
             and ms < (int(T0.timestamp()) + 3600) * 1000]
    assert rows[0]["time"] == "2026-07-14T00:00:00+08:00"
    assert int(rows[0]["count"]) == len(first) == 5  # k = 0 is flagged D and stays out
    assert float(rows[0]["value"]) == pytest.approx(sum(first) / len(first))
    assert len(rows) == 24


class CountingClient(InfluxClient):
    """The real client, counting its queries (to see the chunks)."""

    queries: list[str]

    def query(self, q, *args, **kw):  # type: ignore[no-untyped-def]
        self.queries = [*getattr(self, "queries", []), q]
        return super().query(q, *args, **kw)


def test_large_period_is_queried_in_day_chunks(influx: InfluxClient, tmp_path: Path) -> None:
    write_synthetic(influx, days=2)
    client = CountingClient(influx.config)
    req = HistoryRequest(STATIONS, T0 - timedelta(days=5), T0 + timedelta(days=5))
    res = export(client, REG, req, tmp_path / "ten-days.json", progress=False)
    assert len(client.queries) == 10 == res.manifest["queries"]
    assert all("time >= " in q and "time < " in q for q in client.queries)
    doc = json.loads(res.path.read_text(encoding="utf-8"))
    assert len(doc["rows"]) == res.rows == 2 * 2 * 2 * 144
    client.queries = []
    export(client, REG, HistoryRequest(STATIONS, T0, T0 + timedelta(days=1), chunk=timedelta(hours=6)),
           tmp_path / "six-hours.csv", progress=False)
    assert len(client.queries) == 4


def test_qingpu_scope_cli_and_api(influx: InfluxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_synthetic(influx, days=1)
    monkeypatch.setenv("ENVMON_INFLUX_URL", influx.config.url)
    monkeypatch.setenv("ENVMON_INFLUX_DATABASE", influx.config.database)
    out = tmp_path / "qp.csv"
    rc = main(["export", "--river", "俞汇塘", "--from", "2026-07-14", "--to", "2026-07-14",
               "--jurisdiction", "qingpu", "--out", str(out), "--no-progress"])
    assert rc == 0
    with open(out, encoding="utf-8") as f:
        assert {r["station"] for r in csv.DictReader(f)} == {"YHT_YUHUI"}
    assert main(["export", "--station", "YZ_TOWN", "--from", "2026-07-14", "--to", "2026-07-14",
                 "--jurisdiction", "qingpu", "--out", str(tmp_path / "no.csv")]) == 2
    assert not (tmp_path / "no.csv").exists()

    tokens = TokenStore.from_entries([
        {"name": "qp", "role": "viewer", "jurisdictions": ["qingpu"], "sha256": hash_token("qp-token")},
        {"name": "js", "role": "viewer", "jurisdictions": ["jiashan"], "sha256": hash_token("js-token")}])
    app = create_app(store=AlertStore(":memory:", registry=REG), tokens=tokens, registry=REG, influx=influx)
    client = TestClient(app)
    qp = {"Authorization": "Bearer qp-token"}
    period = {"from": "2026-07-14", "to": "2026-07-14"}
    assert client.get("/api/v1/history", params={**period, "station": "YZ_TOWN"}, headers=qp).status_code == 404
    r = client.get("/api/v1/history", params={**period, "river": "俞汇塘", "interval": "1h"}, headers=qp)
    assert r.status_code == 200
    assert {row["station"] for row in r.json()["rows"]} == {"YHT_YUHUI"}
    r = client.get("/api/v1/history/export", params={**period, "river": "俞汇塘", "format": "csv"}, headers=qp)
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == r.headers["x-envmon-sha256"]
    manifest = json.loads(r.headers["x-envmon-manifest"])
    assert manifest["stations"].keys() == {"YHT_YUHUI"} and manifest["scope"] == ["qingpu"]
    assert "YZ_TOWN" not in r.text
    js = client.get("/api/v1/history", params={**period, "station": "YZ_TOWN"},
                    headers={"Authorization": "Bearer js-token"})
    assert js.status_code == 200 and js.json()["rows"]
    assert client.get("/api/v1/history", params=period).status_code == 401
