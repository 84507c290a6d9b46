"""``envmon demo``: the whole path on this machine — six simulated night hours."""

from __future__ import annotations

import argparse
import sys

from envmon.cli import add_command

EXAMPLES = """
  make demo                                 # installs, starts the services, runs this
  envmon demo                               # services already up (make services-up)
  envmon demo --speed 300 --scenario demo-night
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "demo", "run the six-hour night demo: simulator → MQTT → InfluxDB → alerts",
                    EXAMPLES)
    p.add_argument("--scenario", default="demo-night", help="scenario name or TOML file (default demo-night)")
    p.add_argument("--speed", type=float, default=180.0, help="simulated seconds per wall second (default 180)")
    p.add_argument("--settings", help="settings TOML (default: built-in, private services)")
    p.add_argument("--keep-data", action="store_true", help="do not reset the demo database and alert store")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envmon.demo import run_demo

    return run_demo(scenario=args.scenario, speed=args.speed, settings_file=args.settings,
                    keep=args.keep_data, out=sys.stdout)


