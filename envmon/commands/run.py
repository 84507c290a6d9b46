"""``envmon run``: the long-running services (ingest, analytics) from a settings file."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from envmon.cli import add_command

EXAMPLES = """
  envmon run                                   # ingest + analytics against the private services
  envmon run --settings /etc/envmon.toml --only ingest --worker ingest-2
  ENVMON_MQTT_HOST=broker ENVMON_INFLUX_URL=http://influx:8086 envmon run
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "run", "run the services: ingest and analytics (Ctrl-C stops)", EXAMPLES)
    p.add_argument("--settings", help="settings TOML; ENVMON_<SECTION>_<KEY> overrides any key")
    p.add_argument("--only", choices=["ingest", "analytics"], help="run one service only")
    p.add_argument("--worker", help="client id of this process (several ingest workers share the load)")
    p.add_argument("--metrics-port", type=int, default=None, help="Prometheus endpoint port of ingest")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from analytics.permits import PermitsError, load_permits
    from envmon.mqttio import MqttError
    from envmon.service import AnalyticsService, IngestService
    from envmon.settings import SettingsError, load_settings
    from envmon.stations import RegistryError, load_registry

    try:
        settings = load_settings(args.settings)
        registry = load_registry(settings.stations)
        # Read here, once, so that a bad file stops everything before anything starts.
        permits = load_permits(settings.analytics.permits, registry) \
            if settings.analytics.permits and args.only in (None, "analytics") else None
    except (SettingsError, RegistryError, PermitsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    services: list[IngestService | AnalyticsService] = []
    if args.only in (None, "ingest"):
        services.append(IngestService(settings, registry, worker=args.worker))
    if args.only in (None, "analytics"):
        services.append(AnalyticsService(settings, registry, permits=permits))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for s in services:
            s.start()
    except MqttError as err:
        print(f"error: {err}\n  is the broker up? make services-up, or set ENVMON_MQTT_HOST/PORT", file=sys.stderr)
        return 1
    port = args.metrics_port if args.metrics_port is not None else settings.ingest.metrics_port
    if port and isinstance(services[0], IngestService):
        from ingest.metrics import serve_metrics

        serve_metrics(services[0].ingestor, port)
        print(f"metrics on http://127.0.0.1:{port}/metrics")
    print(f"running {', '.join(type(s).__name__ for s in services)}; "
          f"MQTT {settings.mqtt.host}:{settings.mqtt.port}, InfluxDB {settings.influx.url}", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    for s in services:
        s.stop()
    return 0
