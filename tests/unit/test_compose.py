"""docker-compose.yml cannot run here (no Docker): check it statically instead.

Every bind-mounted file exists, every envmon command line parses with the real CLI, the
broker config names the files `envmon broker-config` writes, and the stack has the parts
DESIGN.md asks for.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from envmon.cli import build_parser
from envmon.paths import ROOT

COMPOSE = ROOT / "docker-compose.yml"


def load_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        # PyYAML is not a dependency of the venv; Debian's python3 has it (python3-yaml).
        py = shutil.which("python3", path="/usr/bin:/bin")
        if py is None:
            pytest.fail("PyYAML missing: pip install 'pyyaml>=6' (or apt-get install python3-yaml)")
        res = subprocess.run([py, "-c", "import json,sys,yaml; json.dump(yaml.safe_load(open(sys.argv[1])), "
                              "sys.stdout)", str(path)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            pytest.fail(f"could not parse {path} with {py}: {res.stderr.strip()[-300:]} "
                        "(install PyYAML: pip install 'pyyaml>=6')")
        return json.loads(res.stdout)
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = load_yaml(COMPOSE)
    assert isinstance(doc, dict) and "services" in doc
    return doc


def test_stack_has_every_part(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"mosquitto", "influxdb", "influxdb-init", "grafana", "ingest-1", "ingest-2", "analytics", "api",
            "hj212-gateway"} <= services.keys()
    assert services["influxdb"]["image"].startswith("influxdb:2")
    env = services["influxdb"]["environment"]
    assert env["DOCKER_INFLUXDB_INIT_BUCKET"] == "envmon" and env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert {"DOCKER_INFLUXDB_INIT_ORG", "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"} <= env.keys()
    assert services["influxdb-init"]["restart"] == "no"
    for name in ("ingest-1", "ingest-2", "analytics", "api", "hj212-gateway"):
        assert services[name]["build"] == "."
        assert services[name]["depends_on"]["influxdb-init"]["condition"] == "service_completed_successfully"


def bind_sources(compose: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for name, svc in compose["services"].items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("./"):
                out.append((name, src))
    return out


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    mounts = bind_sources(compose)
    assert len(mounts) >= 6
    missing = [f"{svc}: {src}" for svc, src in mounts if not (ROOT / src).exists()]
    assert not missing, f"bind mounts without a file in the repository: {missing}"
    assert (ROOT / "Dockerfile").exists()


def test_envmon_command_lines_parse(compose: dict[str, Any]) -> None:
    parser = build_parser()
    seen = 0
    for name, svc in compose["services"].items():
        if svc.get("build") != ".":
            continue
        cmd = svc["command"]
        try:
            args = parser.parse_args(cmd)
        except SystemExit as err:
            pytest.fail(f"service {name}: `envmon {' '.join(cmd)}` does not parse ({err})")
        assert callable(args.func)
        seen += 1
    assert seen == 5


def test_dockerfile_installs_the_package() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert "pip install --no-cache-dir ." in text
    assert re.search(r'^ENTRYPOINT \["envmon"\]', text, re.M)
    for src in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (ROOT / src).exists(), src


def test_broker_config_matches_generated_files() -> None:
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text(encoding="utf-8")
    assert "allow_anonymous false" in conf
    files = dict(re.findall(r"^(password_file|acl_file) /mosquitto/config/(\S+)$", conf, re.M))
    # envmon.brokerauth.write_broker_auth writes these names into --out.
    assert files == {"password_file": "passwd", "acl_file": "acl"}
    parser = build_parser()
    args = parser.parse_args(["broker-config", "--out", "deploy/mosquitto"])
    assert callable(args.func)
    docs = (ROOT / "docs/deploy.md").read_text(encoding="utf-8")
    assert "envmon broker-config --out deploy/mosquitto" in docs


def test_documented_commands_exist() -> None:
    """Every `envmon ...` line in the deploy guide is a command the CLI knows."""
    parser = build_parser()
    known = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    docs = (ROOT / "docs/deploy.md").read_text(encoding="utf-8")
    used = set(re.findall(r"(?:^|`)envmon ([a-z][a-z0-9-]+)", docs, re.M))
    assert used and used <= known, used - known
