"""``envmon dashboards build|push``: render the Grafana dashboards, or push them to a Grafana.

Thin: parses arguments and calls :mod:`dashboards.render` / :mod:`dashboards.push`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from envmon.cli import add_command

EXAMPLES = """
  envmon dashboards build                        # rewrite dashboards/{json,provisioning,gazetteer}
  envmon dashboards build --out out/dash --stations other.toml
  envmon dashboards push --url http://127.0.0.1:3000 --token "$GRAFANA_TOKEN" \\
      --datasource-url http://influxdb:8086
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "dashboards", "Grafana dashboards as code: build files, push to Grafana",
                    EXAMPLES)
    actions = p.add_subparsers(dest="dashboards_command", metavar="<build|push>")
    b = actions.add_parser("build", help="render dashboard JSON and provisioning files",
                           description="Render dashboard JSON and Grafana provisioning files.",
                           epilog="examples:\n  envmon dashboards build --out out/dashboards",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--out", type=Path, default=None,
                   help="output directory (default: the dashboards/ package, committed)")
    b.add_argument("--stations", type=Path, default=None, help="station registry TOML")
    b.add_argument("--standards", type=Path, default=None,
                   help="directory of standards tables (default seeds/standards)")
    b.set_defaults(func=_build)

    q = actions.add_parser("push", help="create or update folder, datasource and dashboards",
                           description="Push folder, datasource and dashboards to a Grafana "
                           "(idempotent: existing objects are updated, never duplicated).",
                           epilog="examples:\n  envmon dashboards push --url http://127.0.0.1:3000"
                           " --token \"$GRAFANA_TOKEN\"",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("--url", required=True, help="Grafana base URL")
    q.add_argument("--token", default=os.environ.get("GRAFANA_TOKEN", ""),
                   help="Grafana service account token (default $GRAFANA_TOKEN)")
    q.add_argument("--folder", default=None, help="folder title (default 'envmon 环境监测')")
    q.add_argument("--datasource-url", default="http://influxdb:8086",
                   help="InfluxDB URL as Grafana's server reaches it")
    q.add_argument("--database", default="envmon", help="InfluxDB database (1.x) / DBRP name")
    q.add_argument("--influx-token", default=os.environ.get("ENVMON_INFLUX_TOKEN", ""),
                   help="InfluxDB 2.x/3.x token for the v1 API (default $ENVMON_INFLUX_TOKEN)")
    q.add_argument("--stations", type=Path, default=None, help="station registry TOML")
    q.add_argument("--standards", type=Path, default=None, help="standards tables directory")
    q.set_defaults(func=_push)

    def _usage(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_usage)


def _build(args: argparse.Namespace) -> int:
    from dashboards.catalog import BuildInputs, build_all
    from dashboards.render import PACKAGE_DIR, render_files, write_files
    from dashboards.standards import StandardsError
    from envmon.stations import RegistryError, load_registry

    try:
        registry = load_registry(args.stations)
        dashboards = build_all(BuildInputs(registry, args.standards))
    except (RegistryError, StandardsError) as err:
        print(f"envmon dashboards build: {err}", file=sys.stderr)
        return 1
    out = args.out or PACKAGE_DIR
    for path in write_files(render_files(dashboards, registry), out):
        print(f"wrote {path}")
    print(f"{len(dashboards)} dashboards for {len(registry)} stations")
    return 0


def _push(args: argparse.Namespace) -> int:
    from dashboards.catalog import BuildInputs, build_all
    from dashboards.push import GrafanaPusher, PushError, PushSettings
    from dashboards.render import FOLDER_TITLE
    from envmon.stations import load_registry

    try:
        settings = PushSettings(url=args.url, token=args.token, influx_url=args.datasource_url,
                                database=args.database, influx_token=args.influx_token,
                                folder_title=args.folder or FOLDER_TITLE)
        dashboards = build_all(BuildInputs(load_registry(args.stations), args.standards))
        print(f"pushing {len(dashboards)} dashboards to {args.url} ...", flush=True)
        report = GrafanaPusher(settings).push(dashboards)
    except (ValueError, PushError) as err:
        print(f"envmon dashboards push: {err}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
