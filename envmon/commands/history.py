"""``envmon history``: look at the stored history of stations or a river (joint inspections)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from envmon.cli import add_command

EXAMPLES = """
  envmon history --station TP_DONGCAI --from 2026-07-14 --to 2026-07-15 --params cod,nh3n
  envmon history --river 太浦河 --from 2026-07-01 --to 2026-07-31 --interval 1d --jurisdiction qingpu
  envmon history --station TZ_TOWN --from 2026-07-14T22:00+08:00 --to 2026-07-15T04:00+08:00 --format csv
"""


def add_selection(p: argparse.ArgumentParser) -> None:
    """The selection arguments shared by ``history`` and ``export``."""
    p.add_argument("--station", action="append", default=[], metavar="ID",
                   help="station id (repeat, or comma-separated)")
    p.add_argument("--river", help="every station on this river (e.g. 太浦河) visible to --jurisdiction")
    p.add_argument("--from", dest="start", metavar="WHEN",
                   help="start: CST date 2026-07-01 or ISO time with offset (required unless --month)")
    p.add_argument("--to", dest="end", metavar="WHEN",
                   help="end: a CST date is included whole; an ISO time is exclusive")
    p.add_argument("--month", help="the CST month YYYY-MM instead of --from/--to")
    p.add_argument("--params", default="", help="comma-separated parameters (default: all of the medium)")
    p.add_argument("--interval", choices=["raw", "1h", "1d"], default="raw",
                   help="raw readings or CST hourly/daily means of valid readings (default %(default)s)")
    p.add_argument("--jurisdiction", choices=["jiashan", "qingpu", "wujiang"],
                   help="only stations this jurisdiction may see (owner or shared_with)")
    p.add_argument("--chunk-hours", type=float, default=24.0,
                   help="hours per InfluxDB query (default %(default)s: one CST day)")
    p.add_argument("--config", default=None, help="settings file (TOML)")


def request_from_args(args: argparse.Namespace, layout: str = "long") -> tuple[Any, Any, Any]:
    """(settings, registry, HistoryRequest) from the parsed arguments; raises HistoryError."""
    from datetime import timedelta

    from envmon.history import HistoryError, HistoryRequest, month_bounds, parse_when, resolve_stations
    from envmon.settings import load_settings
    from envmon.stations import load_registry

    settings = load_settings(args.config)
    registry = load_registry(settings.stations)
    if args.month:
        start, end = month_bounds(args.month)
    elif args.start and args.end:
        start, end = parse_when(args.start), parse_when(args.end, end=True)
    else:
        raise HistoryError("give --from and --to, or --month")
    ids = [s.strip() for arg in args.station for s in arg.split(",") if s.strip()]
    scope = [args.jurisdiction] if args.jurisdiction else None
    stations = resolve_stations(registry, ids, river=args.river, jurisdictions=scope)
    params = tuple(p.strip() for p in args.params.split(",") if p.strip())
    req = HistoryRequest(tuple(s.id for s in stations), start, end, params, args.interval, layout,
                         chunk=timedelta(hours=args.chunk_hours))
    return settings, registry, req


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "history", "print the history of stations or a river (raw or hourly/daily means)",
                    EXAMPLES)
    add_selection(p)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table",
                   help="table (wide, readable), csv (readings format) or json lines (default %(default)s)")
    p.add_argument("--limit", type=int, default=0, help="stop after N rows (0: no limit)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import csv
    import json
    from datetime import datetime

    from envmon.history import HistoryError, columns, iter_rows, plan, records
    from envmon.history import cell_text as text
    from envmon.influx import InfluxClient, InfluxError
    from envmon.settings import SettingsError
    from envmon.stations import RegistryError

    # A table is easier to read wide; wide needs an aggregate, so raw tables stay long.
    layout = "wide" if args.format == "table" and args.interval != "raw" else "long"
    try:
        settings, registry, req = request_from_args(args, layout)
        p = plan(registry, req)
        cols = columns(p)
        influx = InfluxClient(settings.influx)
        out = sys.stdout
        writer = csv.writer(out, lineterminator="\n") if args.format == "csv" else None
        if writer:
            writer.writerow([c.key for c in cols])
        elif args.format == "table":
            print("\t".join(c.key for c in cols))
        n = 0
        keys = [c.key for c in cols]
        for rec in records(iter_rows(influx, p), p):
            if writer:
                writer.writerow([text(v) for v in rec])
            elif args.format == "json":
                obj = {k: (text(v) if isinstance(v, datetime) else v) for k, v in zip(keys, rec, strict=True)}
                print(json.dumps(obj, ensure_ascii=False))
            else:
                print("\t".join(f"{v:.4g}" if isinstance(v, float) else text(v) for v in rec))
            n += 1
            if args.limit and n >= args.limit:
                break
        print(f"{n} row(s)", file=sys.stderr)
    except (HistoryError, SettingsError, RegistryError) as err:
        print(f"envmon history: {err}", file=sys.stderr)
        return 2
    except InfluxError as err:
        print(f"envmon history: InfluxDB: {err}", file=sys.stderr)
        return 1
    return 0
