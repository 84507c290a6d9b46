"""The ``envmon`` command line: thin, it parses arguments and calls the package code.

Each subcommand lives in its own module under ``envmon/commands/``; a module there that
defines ``register(subparsers)`` is a subcommand (one file, one line of wiring: none).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import envmon.commands
from envmon import __version__

EPILOG = """examples:
  envmon demo                         # the whole path on this machine, six night hours
  envmon <command> --help             # every command has its own examples
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="envmon",
        description="Environmental monitoring of the Jiashan–Qingpu–Wujiang zone "
        "(嘉善—青浦—吴江 示范区环境监测).",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"envmon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for mod in sorted(pkgutil.iter_modules(envmon.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"envmon.commands.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def add_command(sub: argparse._SubParsersAction, name: str, help: str, examples: str,
                description: str | None = None) -> argparse.ArgumentParser:
    """Create a subcommand whose --help ends with examples."""
    return sub.add_parser(
        name, help=help, description=description or help,
        epilog="examples:\n" + examples.strip("\n"), formatter_class=HelpFormatter,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        rc = func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
