"""``envmon config``: print the effective settings (defaults + file + environment)."""

from __future__ import annotations

import argparse
import sys

from envmon.cli import add_command

EXAMPLES = """
  envmon config                          # the defaults, as TOML: a starting settings file
  envmon config --settings my.toml       # what a file plus ENVMON_* variables amount to
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "config", "print the effective settings as TOML", EXAMPLES)
    p.add_argument("--settings", help="settings TOML to read")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envmon.settings import SettingsError, as_toml, load_settings

    try:
        print(as_toml(load_settings(args.settings)))
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
