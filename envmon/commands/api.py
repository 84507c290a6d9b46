"""``envmon api``: serve the alert API and the field teams' page (uvicorn)."""

from __future__ import annotations

import argparse
import itertools
import os
import secrets
import sys
from pathlib import Path

from envmon.cli import add_command
from envmon.paths import RUN_DIR, SEEDS

DEV_TOKENS = RUN_DIR / "api_tokens.dev.toml"
DEV_TOKENS_TXT = RUN_DIR / "api_tokens.dev.txt"

EXAMPLES = """
  envmon api --dev-tokens                 # http://127.0.0.1:8765/m/ ; tokens in .run/api_tokens.dev.txt
  envmon api --tokens /etc/envmon/api_tokens.toml --db /var/lib/envmon/alerts.sqlite
  envmon api --tokens seeds/api_tokens.sample.toml --routing seeds/routing.toml --check
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "api", "serve the alert API and the field page (监测—预警—处置—反馈)",
                    EXAMPLES)
    p.add_argument("--host", default="127.0.0.1", help="listen address (default %(default)s)")
    p.add_argument("--port", type=int, default=8765, help="port (default %(default)s)")
    p.add_argument("--db", default=None, help="alert store (default: [analytics] alert_db)")
    p.add_argument("--tokens", default=None, help="token file (TOML, hashed tokens)")
    p.add_argument("--dev-tokens", action="store_true",
                   help=f"create (once) and use development tokens: {DEV_TOKENS_TXT}")
    p.add_argument("--routing", default=str(SEEDS / "routing.toml"),
                   help="routing file to check with --check (default %(default)s)")
    p.add_argument("--config", default=None, help="settings file (TOML)")
    p.add_argument("--check", action="store_true",
                   help="validate the token and routing files and exit")
    p.set_defaults(func=run)


def write_dev_tokens(toml_path: Path = DEV_TOKENS, txt_path: Path = DEV_TOKENS_TXT) -> None:
    """One viewer, field and admin token per jurisdiction, for the demo only.

    The TOML keeps hashes; the plain tokens go to a 0600 text file beside it.
    """
    from envmon.alerting.api import ROLES, hash_token
    from envmon.stations import JURISDICTIONS

    toml_path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Development tokens written by `envmon api --dev-tokens`. Not for production.", ""]
    plain = ["# name<TAB>token — paste the token into the page at /m/ once per phone", ""]
    for j, role in itertools.product(JURISDICTIONS, ROLES):
        token = secrets.token_urlsafe(24)
        name = f"dev-{j}-{role}"
        lines += ["[[token]]", f'name = "{name}"', f'role = "{role}"',
                  f'jurisdictions = ["{j}"]', f'sha256 = "{hash_token(token)}"', ""]
        plain.append(f"{name}\t{token}")
    fd = os.open(txt_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(plain) + "\n")
    toml_path.write_text("\n".join(lines), encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    from envmon.alerting.api import TokenFileError, TokenStore, create_app
    from envmon.alerting.routing import RoutingError, load_routing
    from envmon.alerting.store import AlertStore
    from envmon.settings import SettingsError, load_settings
    from envmon.stations import RegistryError, load_registry

    try:
        settings = load_settings(args.config)
        registry = load_registry(settings.stations)
        if args.dev_tokens and not args.tokens:
            if not DEV_TOKENS.exists():
                write_dev_tokens()
                print(f"development tokens written to {DEV_TOKENS_TXT}", file=sys.stderr)
            args.tokens = str(DEV_TOKENS)
        if not args.tokens:
            print("envmon api: give --tokens FILE (see seeds/api_tokens.sample.toml) "
                  "or --dev-tokens", file=sys.stderr)
            return 2
        tokens = TokenStore.load(args.tokens)
        if args.check:
            load_routing(args.routing)
            print(f"ok: {len(tokens)} token(s) in {args.tokens}; routing {args.routing} valid")
            return 0
    except (TokenFileError, RoutingError, SettingsError, RegistryError) as err:
        print(f"envmon api: {err}", file=sys.stderr)
        return 2
    import uvicorn

    store = AlertStore(args.db or settings.analytics.alert_db, registry=registry)
    from envmon.influx import InfluxClient

    app = create_app(store=store, tokens=tokens, registry=registry, influx=InfluxClient(settings.influx))
    print(f"alert API on http://{args.host}:{args.port}/  (field page /m/, OpenAPI /docs)",
          file=sys.stderr)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    finally:
        store.close()
    return 0
