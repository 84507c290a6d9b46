"""``envmon replay``: run the analytics core over a readings CSV."""

from __future__ import annotations

import argparse
import os
import sys

from envmon.cli import add_command

EXAMPLES = """
  envmon sim --scenario month --out out/month.csv --truth out/truth.jsonl
  envmon replay out/month.csv --alerts-out out/alerts.jsonl
  envmon replay readings.csv --stations other-network.toml --alerts-out alerts.jsonl
  envmon replay out/month.csv --industrial-grade 2 --wwtp-grade 1B --alerts-out out/alerts.jsonl
  envmon replay out/month.csv --permits seeds/permits.sample.toml --alerts-out out/alerts.jsonl
"""


def register(sub: argparse._SubParsersAction) -> None:
    from envmon.settings import AnalyticsSettings

    choices = AnalyticsSettings.choices()  # the same values the live service's settings take
    p = add_command(sub, "replay", "replay a readings CSV through the analytics core, write alerts JSONL",
                    EXAMPLES)
    p.add_argument("readings", help="readings CSV: time,station,parameter,value,flag")
    p.add_argument("--stations", help="station registry TOML (default seeds/stations.toml)")
    p.add_argument("--alerts-out", help="alerts JSONL to write (default: print a summary only)")
    p.add_argument("--aqi-edition", choices=choices["aqi_edition"], default="auto",
                   help="HJ 633 edition: auto (default) is the one in force at the data's time (2012 before "
                        "2026-03-01), 2026 or 2012 forces one")
    p.add_argument("--wwtp-grade", choices=choices["wwtp_grade"], default="1A",
                   help="GB 18918-2002 grade the sewage plants' daily means are judged at (default 1A)")
    p.add_argument("--industrial-grade", choices=choices["industrial_grade"], default="auto",
                   help="GB 8978-1996 grade the industrial outfalls' daily means are judged at: auto (default) "
                        "takes it from the class of the water each discharges into (III: 1, IV and V: 2); "
                        "3 is for discharge into a sewer that leads to a treatment plant")
    p.add_argument("--permits", metavar="FILE",
                   help="outfalls' discharge permits (排污许可证, like seeds/permits.sample.toml): an outfall's "
                        "day is judged by its permit's limits where it lists an item, by the standard elsewhere")
    p.add_argument("--reorder-minutes", type=float, default=15.0,
                   help="how far out of time order rows may come (data time; memory grows with it; default 15)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from analytics.monitor import MonitorConfig
    from analytics.permits import PermitsError, load_permits
    from envmon.replay import replay
    from envmon.stations import RegistryError, load_registry

    try:
        registry = load_registry(args.stations)
        permits = load_permits(args.permits, registry) if args.permits else None
    except (RegistryError, PermitsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not os.path.exists(args.readings):
        print(f"error: no such file {args.readings}; make one with 'envmon sim --out FILE'", file=sys.stderr)
        return 2
    out = open(args.alerts_out, "w", encoding="utf-8") if args.alerts_out else None
    bar = tqdm(unit=" readings", unit_scale=True, disable=args.no_progress, file=sys.stderr)
    config = MonitorConfig(aqi_edition=args.aqi_edition, wwtp_grade=args.wwtp_grade,
                           industrial_grade=args.industrial_grade)
    try:
        res = replay(args.readings, registry, alerts_out=out, config=config,
                     reorder_s=args.reorder_minutes * 60, progress=bar.update, permits=permits)
    finally:
        bar.close()
        if out:
            out.close()
    print(f"{res.readings} readings in {res.seconds:.1f} s ({res.rate:,.0f} readings/s), "
          f"{res.alerts} alerts: " + ", ".join(f"{k} {n}" for k, n in sorted(res.by_kind.items())))
    if res.bad_rows:
        print(f"skipped {sum(res.bad_rows.values())} rows: "
              + ", ".join(f"{why} {n}" for why, n in res.bad_rows.most_common()))
    if args.alerts_out:
        print(f"alerts written to {args.alerts_out}")
    return 0
