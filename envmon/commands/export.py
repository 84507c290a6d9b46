"""``envmon export``: history to CSV / Excel / JSON with a manifest; ``--verify`` checks one."""

from __future__ import annotations

import argparse
import sys

from envmon.cli import add_command
from envmon.commands.history import add_selection, request_from_args

EXAMPLES = """
  envmon export --station TP_DONGCAI,TP_JINZE --month 2026-07 --out out/taipu-2026-07.csv
  envmon export --river 太浦河 --from 2026-07-01 --to 2026-07-31 --interval 1h --layout wide \\
      --jurisdiction qingpu --out out/taipu-hourly.xlsx
  envmon export --station HQT_HENGGANG --month 2026-07 --interval 1d --out out/hqt.json
  envmon export --verify out/taipu-2026-07.csv        # recompute the SHA-256 of the manifest
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "export",
                    "export history to CSV/xlsx/JSON with a manifest (SHA-256) beside it; or --verify one",
                    EXAMPLES)
    add_selection(p)
    p.add_argument("--out", help="output file; the format follows .csv/.xlsx/.json unless --format")
    p.add_argument("--format", choices=["csv", "xlsx", "json"], help="file format")
    p.add_argument("--layout", choices=["long", "wide"], default="long",
                   help="long: one value per row (readings format); wide: one row per time and station, "
                   "aggregates only (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--verify", metavar="FILE", help="check FILE (or FILE.manifest.json) against its manifest")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envmon.history import HistoryError, export, verify
    from envmon.influx import InfluxClient, InfluxError
    from envmon.settings import SettingsError
    from envmon.stations import RegistryError

    try:
        if args.verify:
            v = verify(args.verify)
            state = "OK" if v.ok else "MISMATCH"
            print(f"{state} {v.path}: sha256 {v.actual_sha256} ({v.actual_bytes} bytes); manifest says "
                  f"{v.expected_sha256} ({v.expected_bytes} bytes)")
            return 0 if v.ok else 1
        if not args.out:
            print("envmon export: give --out FILE (or --verify FILE)", file=sys.stderr)
            return 2
        settings, registry, req = request_from_args(args, args.layout)
        scope = [args.jurisdiction] if args.jurisdiction else None
        res = export(InfluxClient(settings.influx), registry, req, args.out, args.format, scope=scope,
                     progress=False if args.no_progress else None)
    except (HistoryError, SettingsError, RegistryError) as err:
        print(f"envmon export: {err}", file=sys.stderr)
        return 2
    except InfluxError as err:
        print(f"envmon export: InfluxDB: {err}", file=sys.stderr)
        return 1
    m = res.manifest
    print(f"{res.path}: {m['rows']} rows, {m['bytes']} bytes, sha256 {m['sha256']}")
    print(f"manifest: {res.manifest_path}")
    return 0
