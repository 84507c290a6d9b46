"""``envmon bench``: long benchmarks; each lives in a module of ``envmon.benches``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from envmon.cli import HelpFormatter

EXAMPLES = """
  envmon bench nab                 # NAB v1.1 with the project's scorer
  envmon bench gecco               # GECCO 2018, row by row, causal
  envmon bench detect              # simulated month(s) against ground truth
  envmon bench ingest              # MQTT → InfluxDB throughput and ratios
  envmon bench all                 # everything above (make bench)
"""


def register(sub: argparse._SubParsersAction) -> None:
    import envmon.benches

    p = sub.add_parser("bench", help="benchmarks that print figures (detection, ingest, NAB, GECCO)",
                       description="Benchmarks that print figures and ratios against references measured "
                       "in the same run.", epilog="examples:\n" + EXAMPLES.strip("\n"),
                       formatter_class=HelpFormatter)
    bsub = p.add_subparsers(dest="bench", metavar="<benchmark>")
    names = []
    for mod in sorted(pkgutil.iter_modules(envmon.benches.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"envmon.benches.{mod.name}")
        if hasattr(module, "register"):
            module.register(bsub)
            names.append(mod.name)
    allp = bsub.add_parser("all", help="run every benchmark in turn")
    allp.set_defaults(func=lambda args: _all(bsub, names))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _all(bsub: argparse._SubParsersAction, names: list[str]) -> int:
    rc = 0
    for name in names:
        print(f"\n=== envmon bench {name}", flush=True)
        parser = bsub.choices[name]
        args = parser.parse_args([])
        rc |= int(args.func(args) or 0)
    return rc
