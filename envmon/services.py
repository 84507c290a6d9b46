"""Private Mosquitto and InfluxDB for development, demo and tests.

``python -m envmon.services up|down|status``. On a fresh Debian/Ubuntu machine ``up``
installs the OS packages ``mosquitto`` and ``influxdb`` when missing (apt, as root or via
sudo), then starts one instance of each on loopback ports of our own with config, data, logs
and pid files under ``.run/`` in the checkout, and waits until both answer. It is
idempotent; ``down`` stops exactly the processes whose pid files it wrote. A system
Mosquitto on 1883 or InfluxDB on 8086 is never touched.

Ports come from ``ENVMON_MQTT_PORT`` (default 21883), ``ENVMON_INFLUX_PORT`` (28086) and
``ENVMON_INFLUX_RPC_PORT`` (28088); this is read when the command runs, never at import.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from envmon.paths import RUN_DIR

APT_PACKAGES = {"mosquitto": "mosquitto", "influxd": "influxdb", "mosquitto_sub": "mosquitto-clients",
                "mosquitto_passwd": "mosquitto"}
# Files whose packages the project needs: a CJK font for the joint reports' plots and PDF.
APT_FILES = {"/usr/share/fonts/truetype/wqy/wqy-microhei.ttc": "fonts-wqy-microhei"}
# Only the tests need these: the field page is tested end to end in headless Chromium.
APT_TEST = {"chromium": "chromium", "chromedriver": "chromium-driver"}


@dataclass(frozen=True)
class Ports:
    mqtt: int = 21883
    influx: int = 28086
    influx_rpc: int = 28088

    @classmethod
    def from_env(cls) -> Ports:
        return cls(
            mqtt=int(os.environ.get("ENVMON_MQTT_PORT", 21883)),
            influx=int(os.environ.get("ENVMON_INFLUX_PORT", 28086)),
            influx_rpc=int(os.environ.get("ENVMON_INFLUX_RPC_PORT", 28088)),
        )


class ServiceError(RuntimeError):
    pass


def _which(cmd: str) -> str | None:
    return shutil.which(cmd) or next(
        (str(p) for p in (Path("/usr/sbin") / cmd, Path("/usr/bin") / cmd) if p.exists()), None
    )


def ensure_packages(test: bool = False) -> None:
    wanted = {**APT_PACKAGES, **(APT_TEST if test else {})}
    missing = sorted({pkg for cmd, pkg in wanted.items() if _which(cmd) is None}
                     | {pkg for path, pkg in APT_FILES.items() if not Path(path).exists()})
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise ServiceError(f"missing {', '.join(missing)} and no apt-get here: install them with your package manager")
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise ServiceError(f"missing {', '.join(missing)}: run 'sudo apt-get install {' '.join(missing)}'")
        prefix = ["sudo", "-n"]
    print(f"installing {', '.join(missing)} from the OS packages ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, "apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    # --no-install-recommends: influxdb's recommends pull nothing we need.
    subprocess.run([*prefix, "apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A recycled pid would be someone else's process: check it is ours.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return pid
    return pid if str(RUN_DIR) in cmdline else None


def _start(name: str, argv: list[str], port: int, logfile: Path, pidfile: Path, timeout: float = 30) -> None:
    pid = _pid_alive(pidfile)
    if pid is not None:
        if _port_open(port):
            print(f"{name}: already running (pid {pid}, 127.0.0.1:{port})")
            return
        raise ServiceError(f"{name}: pid {pid} from {pidfile} runs but port {port} is closed; see {logfile}")
    if _port_open(port):
        raise ServiceError(
            f"{name}: port 127.0.0.1:{port} is taken by another process; choose another port "
            f"with ENVMON_{'MQTT' if name == 'mosquitto' else 'INFLUX'}_PORT"
        )
    with open(logfile, "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    pidfile.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while not _port_open(port):
        if proc.poll() is not None:
            tail = logfile.read_text(errors="replace")[-2000:]
            raise ServiceError(f"{name} exited with code {proc.returncode}; log {logfile}:\n{tail}")
        if time.monotonic() > deadline:
            raise ServiceError(f"{name} did not open port {port} within {timeout:.0f} s; see {logfile}")
        time.sleep(0.1)
    print(f"{name}: started (pid {proc.pid}, 127.0.0.1:{port}, log {logfile})")


def mosquitto_conf(ports: Ports, root: Path) -> str:
    user = getpass.getuser()
    return f"""# generated by envmon.services; private broker for development and tests
listener {ports.mqtt} 127.0.0.1
allow_anonymous true
user {user}
persistence true
persistence_location {root}/
autosave_interval 30
# Never drop queued QoS 1 messages for a slow or offline persistent consumer: the stock
# limit (1000) silently discards the rest of a burst. Memory is the bound here; production
# sizes it (docs/deploy.md).
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 1000
set_tcp_nodelay true
log_dest stdout
log_type error
log_type warning
log_type notice
connection_messages false
"""


def influx_conf(ports: Ports, root: Path) -> str:
    return f"""# generated by envmon.services; private InfluxDB 1.x for development and tests
reporting-disabled = true
bind-address = "127.0.0.1:{ports.influx_rpc}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  cache-max-memory-size = 1073741824
  max-values-per-tag = 0
  max-series-per-database = 0
[coordinator]
  max-select-point = 0
  max-select-series = 0
[retention]
  enabled = true
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{ports.influx}"
  auth-enabled = false
  log-enabled = false
  max-body-size = 0
  max-row-limit = 0
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
"""


def up(ports: Ports, test_deps: bool = False) -> None:
    ensure_packages(test=test_deps)
    mroot, iroot = RUN_DIR / "mosquitto", RUN_DIR / "influxdb"
    mroot.mkdir(parents=True, exist_ok=True)
    iroot.mkdir(parents=True, exist_ok=True)
    (mroot / "mosquitto.conf").write_text(mosquitto_conf(ports, mroot))
    (iroot / "influxdb.conf").write_text(influx_conf(ports, iroot))
    _start("mosquitto", [_which("mosquitto") or "mosquitto", "-c", str(mroot / "mosquitto.conf")],
           ports.mqtt, mroot / "mosquitto.log", mroot / "mosquitto.pid")
    _start("influxd", [_which("influxd") or "influxd", "-config", str(iroot / "influxdb.conf")],
           ports.influx, iroot / "influxd.log", iroot / "influxd.pid")
    from envmon.influx import InfluxClient, InfluxConfig

    InfluxClient(InfluxConfig(url=f"http://127.0.0.1:{ports.influx}")).wait_ready(30)
    print(f"services ready: MQTT 127.0.0.1:{ports.mqtt}, InfluxDB http://127.0.0.1:{ports.influx}")


def _stop(name: str, pidfile: Path) -> None:
    pid = _pid_alive(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        print(f"{name}: not running")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    print(f"{name}: stopped (pid {pid})")


def down() -> None:
    _stop("mosquitto", RUN_DIR / "mosquitto" / "mosquitto.pid")
    _stop("influxd", RUN_DIR / "influxdb" / "influxd.pid")


def status(ports: Ports) -> int:
    rc = 0
    for name, pidfile, port in (("mosquitto", RUN_DIR / "mosquitto" / "mosquitto.pid", ports.mqtt),
                                ("influxd", RUN_DIR / "influxdb" / "influxd.pid", ports.influx)):
        pid = _pid_alive(pidfile)
        state = f"running (pid {pid})" if pid and _port_open(port) else "stopped"
        rc |= 0 if pid else 1
        print(f"{name:10s} 127.0.0.1:{port:<6d} {state}")
    return rc


def restart_one(name: str, ports: Ports | None = None) -> None:
    """Stop and start one service (used by fault-injection tests)."""
    ports = ports or Ports.from_env()
    if name == "mosquitto":
        _stop(name, RUN_DIR / "mosquitto" / "mosquitto.pid")
    else:
        _stop(name, RUN_DIR / "influxdb" / "influxd.pid")
    up(ports)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m envmon.services", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["up", "down", "status"])
    ap.add_argument("--test-deps", action="store_true", help="also install what only the tests need (Chromium)")
    args = ap.parse_args(argv)
    try:
        if args.action == "up":
            up(Ports.from_env(), test_deps=args.test_deps)
        elif args.action == "down":
            down()
        else:
            return status(Ports.from_env())
    except (ServiceError, subprocess.CalledProcessError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
