"""``envmon report``: the joint inspection report of boundary sections for a month (HTML + PDF)."""

from __future__ import annotations

import argparse
import sys

from envmon.cli import add_command

EXAMPLES = """
  envmon report --section TP_DONGCAI --month 2026-07                 # out/reports/TP_DONGCAI-2026-07.{html,pdf}
  envmon report --all-boundary --month 2026-07 --out out/joint-2026-07
  envmon report --all-boundary --jurisdiction qingpu --month 2026-07  # the sections Qingpu shares
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "report", "monthly joint inspection report of boundary sections (GB 3838 classes, "
                    "exceedance hours, alerts, plots) as HTML and PDF", EXAMPLES)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--section", action="append", default=[], metavar="ID", help="station id (repeatable)")
    g.add_argument("--all-boundary", action="store_true", help="every boundary_section of the registry")
    p.add_argument("--month", required=True, help="CST month YYYY-MM")
    p.add_argument("--out", default="out/reports", help="output directory (default %(default)s)")
    p.add_argument("--jurisdiction", choices=["jiashan", "qingpu", "wujiang"],
                   help="only sections this jurisdiction may see")
    p.add_argument("--db", default=None, help="alert store (default: [analytics] alert_db)")
    p.add_argument("--config", default=None, help="settings file (TOML)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from envmon.alerting.store import AlertStore
    from envmon.history import HistoryError, month_bounds
    from envmon.influx import InfluxClient, InfluxError
    from envmon.report import ReportError, boundary_sections, build_report
    from envmon.settings import SettingsError, load_settings
    from envmon.stations import RegistryError, load_registry

    try:
        month_bounds(args.month)
        settings = load_settings(args.config)
        registry = load_registry(settings.stations)
        if args.all_boundary:
            sections = [s.id for s in boundary_sections(registry, args.jurisdiction)]
        else:
            sections = []
            for sid in args.section:
                st = registry.get(sid)
                if st is None or (args.jurisdiction and not st.visible_to(args.jurisdiction)):
                    raise ReportError(f"no station {sid!r}")
                sections.append(sid)
        db = args.db or settings.analytics.alert_db
        store = AlertStore(db, registry=registry) if db == ":memory:" or Path(db).exists() else None
        if store is None:
            print(f"envmon report: no alert store at {db}; the alert section will be empty", file=sys.stderr)
        influx = InfluxClient(settings.influx)
        try:
            for sid in tqdm(sections, desc="report", unit="section", disable=None):
                html_path, pdf_path = build_report(influx, store, registry, sid, args.month, args.out)
                tqdm.write(f"{sid}: {html_path}  {pdf_path}")
        finally:
            if store is not None:
                store.close()
    except (ReportError, HistoryError, SettingsError, RegistryError) as err:
        print(f"envmon report: {err}", file=sys.stderr)
        return 2
    except InfluxError as err:
        print(f"envmon report: InfluxDB: {err}", file=sys.stderr)
        return 1
    return 0
