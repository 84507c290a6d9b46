"""Shared fixtures: the real private services (never mocked), unique names per test."""

from __future__ import annotations

import dataclasses
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from envmon.influx import InfluxClient, InfluxConfig
from envmon.mqttio import MqttConfig
from envmon.services import Ports, up
from envmon.settings import Settings, load_settings


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def services() -> Ports:
    """The private Mosquitto and influxd; started here when `make test` has not already."""
    ports = Ports.from_env()
    if not (_port_open(ports.mqtt) and _port_open(ports.influx)):
        up(ports)
    return ports


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def influx(services: Ports, unique: str) -> Iterator[InfluxClient]:
    """A client on a fresh database, dropped afterwards."""
    client = InfluxClient(InfluxConfig(url=f"http://127.0.0.1:{services.influx}", database=f"test_{unique}"))
    client.wait_ready(30)
    client.create_database()
    yield client
    client.drop_database(client.config.database)


@pytest.fixture
def mqtt_config(services: Ports) -> MqttConfig:
    return MqttConfig(host="127.0.0.1", port=services.mqtt)


@pytest.fixture
def settings(services: Ports, unique: str, tmp_path: Path, influx: InfluxClient) -> Settings:
    """Settings for one test: its own database, spool, dead letters, groups and client ids."""
    s = load_settings(env={})
    return dataclasses.replace(
        s,
        mqtt=dataclasses.replace(s.mqtt, port=services.mqtt),
        influx=influx.config,
        ingest=dataclasses.replace(s.ingest, group=f"ingest-{unique}", client_id=f"ingest-{unique}",
                                   spool_dir=str(tmp_path / "spool"),
                                   dead_letter_file=str(tmp_path / "deadletter.jsonl"),
                                   session_expiry_s=60, batch_age_s=0.2),
        analytics=dataclasses.replace(s.analytics, group=f"analytics-{unique}", client_id=f"analytics-{unique}",
                                      alert_db=str(tmp_path / "alerts.sqlite")),
    )
