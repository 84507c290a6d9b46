"""``envmon permits``: check a discharge-permits file and show what is in force on a day."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime

from envmon.cli import add_command

EXAMPLES = """
  envmon permits seeds/permits.sample.toml                 # check it; the permits in force today
  envmon permits permits.toml --on 2026-07-14              # ... on that CST day
  envmon permits permits.toml --stations other-network.toml
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "permits", "check a discharge-permits (排污许可证) file and list the limits in force",
                    EXAMPLES)
    p.add_argument("file", help="permits TOML, like seeds/permits.sample.toml")
    p.add_argument("--stations", help="station registry TOML (default seeds/stations.toml)")
    p.add_argument("--on", metavar="YYYY-MM-DD", help="the CST day to list (default today, CST)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from analytics.permits import PERMITTED_TYPES, STANDARD_BY_TYPE, PermitsError, load_permits
    from envmon.stations import RegistryError, load_registry
    from envmon.timeutil import CST

    try:
        day = date.fromisoformat(args.on) if args.on else datetime.now(CST).date()
    except ValueError:
        print(f"error: --on {args.on!r}: expected a day such as 2026-07-14", file=sys.stderr)
        return 2
    try:
        registry = load_registry(args.stations)
        permits = load_permits(args.file, registry)
    except (RegistryError, PermitsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.file}: {len(permits)} permit(s), checked against the registry; in force on {day} (CST):")
    for st in sorted((s for s in registry.values() if s.outfall_type in PERMITTED_TYPES),
                     key=lambda s: s.id):
        p = permits.in_force(st.id, day)
        if p is None:
            print(f"  {st.id} {st.name}: none, judged by {STANDARD_BY_TYPE[str(st.outfall_type)]}")
            continue
        valid = f"{p.valid_from}–{p.valid_to}" if p.valid_to else f"from {p.valid_from}"
        limits = ", ".join(f"{k} {lim}" for k, lim in p.limits.items())
        print(f"  {st.id} {st.name}: {p.number} ({valid}) {limits}")
        for label, value in (("holder", p.holder), ("issued by", p.issued_by), ("basis", p.basis)):
            if value:
                print(f"      {label}: {value}")
    return 0
