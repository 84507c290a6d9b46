"""``envmon broker-config``: Mosquitto password file and ACL from the station registry."""

from __future__ import annotations

import argparse
import sys

from envmon.cli import add_command

EXAMPLES = """
  envmon broker-config --out .run/broker-auth          # passwd, acl, credentials.json
  envmon broker-config --stations my-stations.toml --out /etc/mosquitto/envmon
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "broker-config",
                    "write a Mosquitto password file and ACL: each node may publish only under its own id",
                    EXAMPLES)
    p.add_argument("--stations", help="station registry TOML (default: seeds/stations.toml)")
    p.add_argument("--out", required=True, help="directory for passwd, acl and credentials.json (kept passwords)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envmon.brokerauth import BrokerAuthError, write_broker_auth
    from envmon.stations import RegistryError, load_registry

    try:
        files = write_broker_auth(load_registry(args.stations), args.out)
    except (RegistryError, BrokerAuthError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(files.users)} users: {files.password_file}, {files.acl_file}, {files.credentials} (0600)")
    print("add to mosquitto.conf:\n" + files.mosquitto_conf())
    return 0
