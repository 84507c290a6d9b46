"""``envmon hj212-gateway``: HJ 212-2017 data loggers over TCP → MQTT v1."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from envmon.cli import add_command
from envmon.params import load_parameters
from envmon.stations import load_registry

if TYPE_CHECKING:
    from ingest.hj212_gateway import Hj212Gateway

EXAMPLES = """
  envmon hj212-gateway                              # 127.0.0.1:21212 → MQTT 127.0.0.1:21883
  envmon hj212-gateway --host 0.0.0.0 --port 21212  # accept data loggers from the network
  envmon hj212-gateway --stations net.toml --dead-letter out/hj212-dead.jsonl
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "hj212-gateway",
                    "receive HJ 212-2017 data loggers over TCP and publish their data to MQTT",
                    EXAMPLES)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=21212, help="TCP port (default: %(default)s)")
    p.add_argument("--mqtt-host", default=None,
                   help="MQTT broker host (default: settings, 127.0.0.1)")
    p.add_argument("--mqtt-port", type=int, default=None,
                   help="MQTT broker port (default: settings, 21883); credentials and TLS "
                        "come from ENVMON_MQTT_* as for every command")
    p.add_argument("--stations", metavar="FILE", default=None,
                   help="station registry; loggers are matched by hj212_mn "
                        "(default: seeds/stations.toml or ENVMON_STATIONS)")
    p.add_argument("--idle-timeout", type=float, default=600.0, metavar="S",
                   help="close a connection without a valid frame for S seconds "
                        "(default: %(default)s)")
    p.add_argument("--max-connections", type=int, default=256, help="(default: %(default)s)")
    p.add_argument("--dead-letter", metavar="FILE", type=Path, default=None,
                   help="append refused frames as JSON lines (default: log them)")
    p.add_argument("--stats-every", type=float, default=60.0, metavar="S",
                   help="print the counters every S seconds (default: %(default)s)")
    p.set_defaults(func=run)


def _dead_letter_sink(path: Path, where: Callable[[], str]) -> Callable[[str, bytes], None]:
    from ingest.deadletter import DeadLetters
    from ingest.decode import Rejection

    sink = DeadLetters(path)

    def write(reason: str, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="backslashreplace")
        sink.write([Rejection(reason, f"HJ 212 frame refused ({reason})", where(),
                              payload=text)])

    return write


async def _serve(gateway: Hj212Gateway, stats_every: float) -> None:
    await gateway.start()
    known = sum(1 for s in gateway.registry.values() if s.hj212_mn)
    print(f"hj212-gateway listening on {gateway.host}:{gateway.port} "
          f"({known} stations with hj212_mn)", file=sys.stderr)

    async def stats() -> None:
        while True:
            await asyncio.sleep(stats_every)
            print(f"hj212-gateway {json.dumps(gateway.counters)}", file=sys.stderr)

    task = asyncio.create_task(stats())
    try:
        await gateway.serve_forever()
    finally:
        task.cancel()
        await gateway.close()
        print(f"hj212-gateway stopped {json.dumps(gateway.counters)}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    # Imported here so that this command registers even where the MQTT module is absent.
    from envmon.mqttio import Publisher
    from envmon.settings import load_settings
    from ingest.hj212_gateway import Hj212Gateway

    settings = load_settings()
    mqtt = replace(settings.mqtt, host=args.mqtt_host or settings.mqtt.host,
                   port=args.mqtt_port or settings.mqtt.port)
    registry = load_registry(args.stations or settings.stations)
    params = load_parameters()
    publisher = Publisher(mqtt, f"envmon-hj212-{socket.gethostname()}-{os.getpid()}")

    def publish(topic: str, payload: bytes) -> None:
        # Non-blocking: paho queues the QoS 1 message, its network thread sends it.
        publisher.publish(topic, payload, qos=1)

    dead_letter = None
    if args.dead_letter:
        # The "topic" of a dead letter names the listener (its port is known after start).
        dead_letter = _dead_letter_sink(args.dead_letter,
                                        lambda: f"hj212://{gateway.host}:{gateway.port}")
    gateway = Hj212Gateway(registry, params, publish, host=args.host, port=args.port,
                           idle_timeout=args.idle_timeout, max_connections=args.max_connections,
                           dead_letter=dead_letter)
    publisher.connect()
    try:
        asyncio.run(_serve(gateway, args.stats_every))
    finally:
        publisher.close()
    return 0
