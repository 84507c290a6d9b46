"""Every panel, variable and annotation query of every dashboard runs on the real InfluxDB
(the private influxd of `make services-up`) against a small but complete synthetic data set
and returns at least one non-null value.

The data set covers every measurement and field of the schema for a few stations of the
registry (one per water kind, two boundary sections, one noise station per zone, one air
station) over the last six hours. Grafana's macros and the variables' "All" values are
substituted the way Grafana does (dashboards.queries).
"""

from __future__ import annotations

import math
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dashboards.catalog import BuildInputs, build_all
from dashboards.queries import all_queries, has_values, substitute, variable_values
from envmon.alerts import KINDS, SEVERITIES
from envmon.influx import InfluxClient, InfluxConfig, line
from envmon.services import Ports
from envmon.stations import Registry, Station, load_registry

pytestmark = pytest.mark.integration

REGISTRY = load_registry()
DASHBOARDS = build_all(BuildInputs(REGISTRY))
QUERIES = all_queries(DASHBOARDS)
WATER_FIELDS = ("temp", "ph", "do", "cond", "turb", "codmn", "cod", "nh3n", "tp", "tn", "flow",
                "level", "rain")
AIR_FIELDS = ("pm25", "pm10", "so2", "no2", "o3", "co")
STEP_S = 300
HOURS = 6


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def sample_stations(reg: Registry) -> list[Station]:
    """One station per water kind (two boundary sections), per noise zone, one air station."""
    chosen: list[Station] = []
    seen: dict[tuple[str, str], int] = {}
    for s in reg.values():
        key = (s.kind, s.zone or "")
        limit = 2 if s.kind == "boundary_section" else 1
        if seen.get(key, 0) < limit:
            seen[key] = seen.get(key, 0) + 1
            chosen.append(s)
    return chosen


def synthetic_lines(stations: list[Station], now: int) -> list[str]:
    """Line protocol for every measurement and field of the schema."""
    out: list[str] = []
    times = [now - k * STEP_S for k in range(1, HOURS * 3600 // STEP_S)]
    hours = [now - h * 3600 - 60 for h in range(HOURS)]
    for i, s in enumerate(stations):
        tags = s.tags()
        for j, t in enumerate(times):
            wave = math.sin(j / 7 + i)
            if s.medium == "water":
                fields: dict[str, Any] = {f: round(1.0 + i + 0.3 * wave + 0.01 * n, 3)
                                          for n, f in enumerate(WATER_FIELDS)}
                if j % 10 == 0:
                    fields["cod_flag"] = "T"
                out.append(line("water", tags, fields, t))
            elif s.medium == "noise":
                out.append(line("noise", tags, {"laeq": 50 + 5 * wave, "lmax": 70 + 8 * wave}, t))
            else:
                fields = {f: round(30 + 10 * wave + n, 2) for n, f in enumerate(AIR_FIELDS)}
                if j == 3:
                    fields["pm25_flag"] = "M"
                out.append(line("air", tags, fields, t))
        base = {"station": s.id, "jurisdiction": s.jurisdiction}
        for h, t in enumerate(hours):
            if s.medium == "water" and not s.is_outfall:
                ctags = {**base, "river": s.river or "", "kind": s.kind}
                for period in ("hour", "day"):
                    if period == "day" and h % 3:
                        continue
                    cls = 2 + (h + i) % 5
                    out.append(line("water_class", {**ctags, "period": period},
                                    {"class": cls, "target": 3, "meets": int(cls <= 3),
                                     "worst": "nh3n,tp"}, t))
            elif s.medium == "water" and h % 3 == 0:  # an outfall's day against its discharge standard
                dtags = {**base, "river": s.river or "", "kind": s.kind, "period": "day", "standard": "GB 8978-1996"}
                out.append(line("discharge_day", dtags,
                                {"meets": h % 2, "broken": "" if h % 2 else "cod", "grade": "1",
                                 "cod": 90.0 + 10 * h, "nh3n": 2.0, "ph": 7.5, "hours": 24, "valid": 1}, t))
            elif s.medium == "air":
                for edition in ("2026", "2012"):
                    for period in ("hour", "day"):
                        if period == "day" and h % 3:
                            continue
                        aqi = 40 + 30 * h
                        f2: dict[str, Any] = {"aqi": aqi, "level": 1 + min(aqi // 50, 5),
                                              "category": "良", "primary": "PM2.5"}
                        f2.update({f"iaqi_{p}": float(aqi - n) for n, p in enumerate(AIR_FIELDS)})
                        out.append(line("aqi", {**base, "period": period, "edition": edition},
                                        f2, t))
            elif s.medium == "noise":
                ntags = {**base, "zone": s.zone or ""}
                for period in ("hour", "day", "night"):
                    if period != "hour" and h % 3:
                        continue
                    leq = 48.0 + h
                    out.append(line("noise_leq", {**ntags, "period": period},
                                    {"leq": leq, "limit": 55.0, "exceed": int(leq > 50)}, t))
    # alerts: each medium raised; one cleared, the others still open
    for n, s in enumerate(stations):
        kind = KINDS[n % len(KINDS)]
        sev = SEVERITIES[n % len(SEVERITIES)]
        tags = {"station": s.id, "jurisdiction": s.jurisdiction, "kind": kind,
                "severity": sev, "medium": s.medium}
        start = now - 3 * 3600 + n * 60
        common = {"id": f"{kind[:4]}-{s.id}-x", "message": f"{s.name} 测试告警",
                  "parameters": "nh3n,tp", "station_name": s.name}
        out.append(line("alerts", tags, {**common, "event": "raised", "open": 1,
                                         "confidence": 0.8, "suspected_source": "OF_TZ_RAIN",
                                         "source_name": "陶庄工业区雨水排口"},
                        start))
        out.append(line("alerts", tags, {**common, "event": "updated", "open": 1}, start + 600))
        if n % 3 == 0:
            out.append(line("alerts", tags, {**common, "event": "cleared", "open": 0},
                            start + 1200))
    # ingest counters every 10 s, two workers
    for w in ("ingest-0", "ingest-1"):
        for k, t in enumerate(range(now - HOURS * 3600 + 10, now, 10)):
            out.append(line("ingest", {"worker": w},
                            {"received": 5 * k, "written": 5 * k - k // 100, "rejected": k // 100,
                             "retries": k // 50, "spool": k % 7, "lag_s": 0.5 + (k % 11) / 10},
                            t))
    return out


@pytest.fixture(scope="module")
def loaded(services: Ports) -> Iterator[tuple[InfluxClient, str]]:
    db = f"test_dash_{uuid.uuid4().hex[:10]}"
    client = InfluxClient(InfluxConfig(url=f"http://127.0.0.1:{services.influx}", database=db))
    client.wait_ready(30)
    client.create_database(db)
    try:
        lines = synthetic_lines(sample_stations(REGISTRY), int(time.time()))
        for k in range(0, len(lines), 5000):
            client.write_lines(lines[k:k + 5000], database=db)
        yield client, db
    finally:
        client.drop_database(db)


def _tag_values(client: InfluxClient, db: str, q: str) -> list[str]:
    return [row[1] for s in client.query(q, database=db) for row in s.get("values", [])]


_non_null = has_values


def test_the_data_set_covers_every_dashboard_variable_and_zone() -> None:
    stations = sample_stations(REGISTRY)
    kinds = {s.kind for s in stations}
    assert kinds == {"river_section", "boundary_section", "lake", "outfall", "noise", "air"}
    zones = {s.zone for s in REGISTRY.by_medium("noise")}
    assert zones <= {s.zone for s in stations}


def test_there_are_queries_for_every_dashboard() -> None:
    assert {uid for uid, _, _ in QUERIES} == {d.uid for d in DASHBOARDS}
    assert len(QUERIES) > 60


@pytest.mark.parametrize(("uid", "title", "query"), QUERIES,
                         ids=[f"{u}:{t}" for u, t, _ in QUERIES])
def test_query_returns_a_value(loaded: tuple[InfluxClient, str], uid: str, title: str,
                               query: str) -> None:
    client, db = loaded
    dash = next(d for d in DASHBOARDS if d.uid == uid)
    values = variable_values(dash, run=lambda q: _tag_values(client, db, q))
    q = substitute(query, timeFilter="time >= now() - 6h AND time <= now()", __interval="10m",
                   __range_s="21600", **values)
    series = client.query(q, database=db)
    assert _non_null(series), f"{uid} / {title}: no non-null value from\n  {q}"


def test_the_check_fails_for_a_field_that_has_no_data(loaded: tuple[InfluxClient, str]) -> None:
    client, db = loaded
    q = substitute('SELECT mean("bod5") FROM "water" WHERE $timeFilter GROUP BY time($__interval)')
    assert not _non_null(client.query(q, database=db))
