"""Pure parts of envmon.history: requests, chunks, query text, aggregation, writers, verify."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from envmon.history import (
    Aggregator,
    CsvTableWriter,
    HistoryError,
    HistoryRequest,
    RawRow,
    ScopeError,
    build_query,
    columns,
    cst_iso,
    manifest_path,
    month_bounds,
    plan,
    records,
    resolve_stations,
    sha256_file,
    time_chunks,
    verify,
)
from envmon.stations import load_registry
from envmon.timeutil import parse_time

REG = load_registry()


def test_chunks_follow_cst_days_and_cover_the_period_exactly() -> None:
    start, end = parse_time("2026-07-14T22:30:00+08:00"), parse_time("2026-07-17T03:00:00+08:00")
    chunks = time_chunks(start, end, timedelta(days=1))
    assert [cst_iso(a) for a, _ in chunks] == ["2026-07-14T22:30:00+08:00", "2026-07-15T00:00:00+08:00",
                                               "2026-07-16T00:00:00+08:00", "2026-07-17T00:00:00+08:00"]
    assert chunks[-1][1] == end
    assert all(a < b and b == chunks[i + 1][0] for i, (a, b) in enumerate(chunks[:-1]))
    assert len(time_chunks(*month_bounds("2026-02"), timedelta(days=1))) == 28
    assert len(time_chunks(start, end, timedelta(hours=6))) == 1 + 4 + 4 + 1


def test_query_quotes_names_and_stays_inside_the_chunk() -> None:
    q = build_query("water", ["A", "B'x"], ["cod"], parse_time("2026-07-14T00:00:00Z"),
                    parse_time("2026-07-15T00:00:00Z"))
    assert "(\"station\" = 'A' OR \"station\" = 'B\\'x')" in q
    assert "time >= '2026-07-14T00:00:00Z' AND time < '2026-07-15T00:00:00Z'" in q
    assert q.startswith('SELECT "cod","cod_flag" FROM "water"')


def test_request_validation() -> None:
    t = parse_time("2026-07-14T00:00:00Z")
    with pytest.raises(HistoryError, match="wide"):
        HistoryRequest(("TZ_TOWN",), t, t + timedelta(hours=1), layout="wide")
    with pytest.raises(HistoryError, match="interval"):
        HistoryRequest(("TZ_TOWN",), t, t + timedelta(hours=1), interval="5m")
    with pytest.raises(HistoryError, match="unknown parameter"):
        plan(REG, HistoryRequest(("TZ_TOWN",), t, t + timedelta(hours=1), parameters=("codd",)))
    with pytest.raises(HistoryError, match="none of the parameters"):
        plan(REG, HistoryRequest(("TZ_TOWN",), t, t + timedelta(hours=1), parameters=("laeq",)))


def test_scope_hides_jiashan_only_stations_from_qingpu() -> None:
    with pytest.raises(ScopeError, match="no station 'YZ_TOWN'"):
        resolve_stations(REG, ["YZ_TOWN"], jurisdictions=["qingpu"])
    river = [s.id for s in resolve_stations(REG, river="俞汇塘", jurisdictions=["qingpu"])]
    assert river == ["YHT_YUHUI"]
    assert {s.id for s in resolve_stations(REG, river="俞汇塘", jurisdictions=["jiashan"])} == {"YZ_TOWN", "YHT_YUHUI"}
    with pytest.raises(ScopeError):
        resolve_stations(REG, river="陶庄塘", jurisdictions=["qingpu"])
    with pytest.raises(HistoryError, match="no station 'NOPE'"):
        resolve_stations(REG, ["NOPE"])


def test_daily_windows_are_cst_days_and_emit_only_when_closed() -> None:
    agg = Aggregator(86400)
    # 23:30 CST on the 14th and 00:30 CST on the 15th belong to different days.
    agg.add(RawRow(parse_time("2026-07-14T23:30:00+08:00"), "S", "do", 6.0, "N"))
    agg.add(RawRow(parse_time("2026-07-15T00:30:00+08:00"), "S", "do", 8.0, "N"))
    agg.add(RawRow(parse_time("2026-07-15T01:30:00+08:00"), "S", "do", 1.0, "M"))  # maintenance: not water
    closed = agg.flush(parse_time("2026-07-15T00:00:00+08:00"))
    assert [(cst_iso(r.time), r.value, r.readings) for r in closed] == [("2026-07-14T00:00:00+08:00", 6.0, 1)]
    rest = agg.flush()
    assert [(cst_iso(r.time), r.value, r.readings, r.min, r.max) for r in rest] == [
        ("2026-07-15T00:00:00+08:00", 8.0, 1, 8.0, 8.0)]


def test_wide_records_one_row_per_time_and_station() -> None:
    t = parse_time("2026-07-14T00:00:00+08:00")
    req = HistoryRequest(("TP_DONGCAI", "TP_JINZE"), t, t + timedelta(days=1), ("do", "tp"), "1h", "wide")
    p = plan(REG, req)
    assert [c.key for c in columns(p)] == ["time", "station", "station_name", "do", "tp"]
    agg = Aggregator(3600)
    for sid, par, v in [("TP_DONGCAI", "do", 7.0), ("TP_DONGCAI", "tp", 0.1), ("TP_JINZE", "tp", 0.2)]:
        agg.add(RawRow(t, sid, par, v, "N"))
    rows = list(records(agg.flush(), p))
    assert rows == [[t.astimezone(UTC), "TP_DONGCAI", "太浦河东蔡大桥", 7.0, 0.1],
                    [t.astimezone(UTC), "TP_JINZE", "太浦河金泽", None, 0.2]]


def test_csv_values_round_trip_exactly() -> None:
    buf = io.StringIO()
    w = CsvTableWriter(buf)
    t = datetime(2026, 7, 13, 18, 13, 0, 250_000, tzinfo=UTC)
    w.header(columns(plan(REG, HistoryRequest(("TZ_TOWN",), t, t + timedelta(hours=1)))))
    w.row([t, "TZ_TOWN", "nh3n", 0.1 + 0.2, "T"])
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert rows == [{"time": "2026-07-14T02:13:00.250+08:00", "station": "TZ_TOWN", "parameter": "nh3n",
                     "value": "0.30000000000000004", "flag": "T"}]
    assert parse_time(rows[0]["time"]) == t and float(rows[0]["value"]) == 0.1 + 0.2


def test_verify_detects_any_change(tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    data.write_text("time,station,parameter,value,flag\n", encoding="utf-8")
    digest, size = sha256_file(data)
    manifest_path(data).write_text(json.dumps({"format": "envmon-export-manifest/1", "sha256": digest,
                                               "bytes": size}), encoding="utf-8")
    assert verify(data).ok and verify(manifest_path(data)).ok
    data.write_text("time,station,parameter,value,flaG\n", encoding="utf-8")
    v = verify(data)
    assert not v.ok and v.actual_bytes == v.expected_bytes
    with pytest.raises(HistoryError, match="no manifest"):
        verify(tmp_path / "other.csv")
