"""``envmon bench export``: export speed for one-minute data of ten stations, and a monthly report.

Writes synthetic one-minute readings (do, codmn, nh3n, tp; one point per station and minute)
for the first ``--stations`` water stations of the registry into a scratch database, then
times a raw CSV export, an hourly wide xlsx export and one joint report, with the peak
resident memory, which must not grow with the period (the export streams day by day).
"""

from __future__ import annotations

import argparse
import math
import random
import resource
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="time exports (raw CSV, hourly xlsx) and a monthly report on synthetic data",
                       epilog="examples:\n  envmon bench export --days 30\n  envmon bench export --days 365 --keep",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=30, help="days of one-minute data (default %(default)s)")
    p.add_argument("--stations", type=int, default=10, help="water stations (default %(default)s)")
    p.add_argument("--start", default="2026-07-01", help="first CST day (default %(default)s)")
    p.add_argument("--keep", action="store_true", help="keep the scratch database and files")
    p.add_argument("--config", default=None, help="settings file (TOML)")
    p.set_defaults(func=run)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from tqdm import tqdm

    from envmon.alerting.store import AlertStore
    from envmon.history import HistoryRequest, export, parse_when
    from envmon.influx import InfluxClient, InfluxError
    from envmon.report import build_report
    from envmon.settings import load_settings
    from envmon.stations import load_registry

    settings = load_settings(args.config)
    registry = load_registry(settings.stations)
    stations = [s for s in registry.values() if s.medium == "water" and not s.is_outfall][: args.stations]
    section = next(s.id for s in stations if s.kind == "boundary_section")
    db = f"bench_export_{uuid.uuid4().hex[:8]}"
    influx = InfluxClient(dataclasses.replace(settings.influx, database=db, timeout=120.0))
    influx.wait_ready(30)
    influx.create_database()
    start = parse_when(args.start)
    t0 = int(start.timestamp())
    minutes = args.days * 24 * 60
    rng = random.Random(7)
    out = Path(tempfile.mkdtemp(prefix="envmon-bench-export-"))
    try:
        t = time.perf_counter()
        batch: list[str] = []
        prefixes = [f"water,jurisdiction={s.jurisdiction},kind={s.kind},station={s.id}" for s in stations]
        for m in tqdm(range(minutes), desc="write", unit="min", unit_scale=True, disable=None, mininterval=1):
            ts = t0 + 60 * m
            day = math.sin(2 * math.pi * (m % 1440) / 1440)
            for i, pre in enumerate(prefixes):
                batch.append(f"{pre} do={7 + day + rng.random():.3f},codmn={3.5 + 0.3 * i:.2f},"
                             f"nh3n={0.4 + 0.2 * rng.random():.3f},tp={0.08 + 0.04 * rng.random():.4f} {ts}")
            if len(batch) >= 10_000:
                influx.write_lines(batch)
                batch = []
        if batch:
            influx.write_lines(batch)
        points = minutes * len(stations)
        write_s = time.perf_counter() - t
        print(f"wrote {points:,} points ({4 * points:,} values) for {len(stations)} stations, {args.days} days "
              f"in {write_s:.1f} s ({points / write_s:,.0f} points/s)")
        end = start + timedelta(days=args.days)
        ids = tuple(s.id for s in stations)
        rss0 = _rss_mb()
        t = time.perf_counter()
        raw = export(influx, registry, HistoryRequest(ids, start, end), out / "raw.csv", progress=None)
        raw_s = time.perf_counter() - t
        print(f"raw CSV export: {raw.rows:,} rows, {raw.manifest['bytes'] / 1e6:,.0f} MB, {raw.manifest['queries']} "
              f"queries in {raw_s:.1f} s ({raw.rows / raw_s:,.0f} rows/s); peak RSS {rss0:.0f} → {_rss_mb():.0f} MB")
        t = time.perf_counter()
        hourly = export(influx, registry, HistoryRequest(ids, start, end, interval="1h", layout="wide"),
                        out / "hourly.xlsx", progress=None)
        print(f"hourly wide xlsx export: {hourly.rows:,} rows in {time.perf_counter() - t:.1f} s; "
              f"peak RSS {_rss_mb():.0f} MB")
        month = args.start[:7]
        t = time.perf_counter()
        store = AlertStore(":memory:", registry=registry)
        build_report(influx, store, registry, section, month, out)
        print(f"monthly report {section} {month} (HTML + PDF): {time.perf_counter() - t:.1f} s")
        if args.days < 365:
            f = 365 / args.days
            print(f"extrapolated to one year (×{f:.2f}, linear: the export is one query per day): raw CSV "
                  f"≈ {raw_s * f:.0f} s, ≈ {raw.manifest['bytes'] * f / 1e9:.1f} GB")
    finally:
        if args.keep:
            print(f"kept database {db} and files in {out}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(out, ignore_errors=True)
            try:
                influx.drop_database(db)
            except InfluxError as err:  # influxd down: say what is left behind
                print(f"could not drop scratch database {db}: {err}", file=sys.stderr)
    return 0
