"""Broker security from the registry: a second private Mosquitto runs with the generated
password file and ACL (the main private broker stays anonymous for the other tests).

Mosquitto silently drops a publish the ACL forbids, so the proof is a subscriber with the
rights to read it (ingest) that never receives the forged message, while it does receive the
same node's legitimate messages published before and after it on the same connection.
"""

from __future__ import annotations

import getpass
import socket
import subprocess
import time
from pathlib import Path

import pytest

from envmon.brokerauth import write_broker_auth
from envmon.mqttio import Consumer, Message, MqttConfig, MqttError, Publisher
from envmon.stations import load_registry
from envmon.topics import DATA_FILTER

pytestmark = pytest.mark.integration

REGISTRY = """
[[station]]
id = "AUTH_A"
name = "A"
medium = "water"
kind = "river_section"
lat = 31.0
lon = 120.9
jurisdiction = "jiashan"
river = "r"
waterbody = "river"
target_class = "III"

[[station]]
id = "AUTH_B"
name = "B"
medium = "noise"
kind = "noise"
lat = 31.1
lon = 121.0
jurisdiction = "qingpu"
zone = "2"
"""
TOPIC_A = "envmon/v1/jiashan/water/AUTH_A/data"
TOPIC_B = "envmon/v1/qingpu/noise/AUTH_B/data"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until(cond, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def secured_broker(tmp_path: Path):
    """A Mosquitto of this test only, with the ACL and passwords generated from the registry."""
    (tmp_path / "stations.toml").write_text(REGISTRY)
    files = write_broker_auth(load_registry(tmp_path / "stations.toml"), tmp_path / "auth")
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nuser {getpass.getuser()}\npersistence false\n"
                    f"{files.mosquitto_conf()}log_dest stdout\n")
    log = open(tmp_path / "mosquitto.log", "wb")  # closed in finally
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0 or proc.poll() is not None
        _wait_until(up, what="second mosquitto")
        assert proc.poll() is None, (tmp_path / "mosquitto.log").read_text()
        yield port, files
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _cfg(port: int, files, user: str) -> MqttConfig:
    return MqttConfig(port=port, username=user, password=files.password(user))


def test_node_cannot_publish_as_another_nor_read_others(secured_broker) -> None:
    port, files = secured_broker
    got: list[tuple[str, bytes]] = []

    def collect(m: Message) -> None:
        got.append((m.topic, m.payload))
        m.ack()

    ingest = Consumer(_cfg(port, files, "ingest"), "auth-ingest", [DATA_FILTER], collect, clean_start=True)
    ingest.start()
    node_a = Publisher(_cfg(port, files, "node-AUTH_A"), "node-AUTH_A")
    node_a.connect()
    node_b = Publisher(_cfg(port, files, "node-AUTH_B"), "node-AUTH_B")
    node_b.connect()
    spy = Consumer(_cfg(port, files, "node-AUTH_A"), "node-AUTH_A-spy", [TOPIC_B, "envmon/v1/#"],
                   lambda m: got.append(("SPY " + m.topic, m.payload)), clean_start=True)
    try:
        # Mosquitto 2.0 grants a subscription and filters each delivery by the ACL (other
        # brokers refuse the SUBACK): either way the spy must never get another node's data.
        try:
            spy.start(timeout=3)
            spying = True
        except MqttError:
            assert spy.refused
            spying = False
        node_a.publish(TOPIC_A, b"a-before").wait(5)
        node_a.publish(TOPIC_B, b"forged-by-a").wait(5)  # dropped silently by the broker
        node_a.publish(TOPIC_A, b"a-after").wait(5)
        node_b.publish(TOPIC_B, b"b-legit").wait(5)
        _wait_until(lambda: {b"a-after", b"b-legit"} <= {p for _, p in got}, what="legitimate messages")
        # Same connection, in order: "a-after" arrived, so the forged message was processed
        # before it, and ingest (which may read TOPIC_B) never got it.
        assert (TOPIC_A, b"a-before") in got and (TOPIC_B, b"b-legit") in got
        assert all(p != b"forged-by-a" for _, p in got)
        if spying:
            # A round trip on the spy's own connection: the broker handles a connection in
            # order, so anything it had sent the spy for "b-legit" arrived before this PUBACK.
            sync = spy.publish(TOPIC_A, b"spy-sync", qos=1)
            assert sync is not None and sync.wait(5)
        assert not [t for t, _ in got if t.startswith("SPY")]
    finally:
        for c in (node_a, node_b):
            c.close()
        ingest.stop()
        spy.stop()


def test_anonymous_and_wrong_password_are_refused(secured_broker) -> None:
    port, files = secured_broker
    for cfg in (MqttConfig(port=port), MqttConfig(port=port, username="node-AUTH_A", password="wrong"),
                MqttConfig(port=port, username="nobody", password=files.password("ingest"))):
        p = Publisher(cfg, "intruder")
        with pytest.raises(MqttError):
            p.connect(timeout=1.5)
        p.close()


def test_jurisdiction_user_reads_only_its_alerts(secured_broker) -> None:
    port, files = secured_broker
    got: list[str] = []
    jur = Consumer(_cfg(port, files, "jur-qingpu"), "jur-qingpu-1", ["envmon/v1/alerts/qingpu/#"],
                   lambda m: (got.append(m.topic), m.ack()), clean_start=True)
    jur.start()
    analytics = Publisher(_cfg(port, files, "analytics"), "analytics-1")
    analytics.connect()
    other = Consumer(_cfg(port, files, "jur-qingpu"), "jur-qingpu-2", ["envmon/v1/alerts/jiashan/#"],
                     lambda m: got.append(m.topic), clean_start=True)
    try:
        try:
            other.start(timeout=3)
        except MqttError:
            assert other.refused
        analytics.publish("envmon/v1/alerts/jiashan/AUTH_A", b"{}").wait(5)
        analytics.publish("envmon/v1/alerts/qingpu/AUTH_B", b"{}").wait(5)
        _wait_until(lambda: "envmon/v1/alerts/qingpu/AUTH_B" in got, what="own alert")
        if other.subscribed.is_set():
            sync = other.publish("envmon/v1/alerts/qingpu/x", b"{}", qos=1)  # may not write: dropped
            assert sync is not None and sync.wait(5)
        assert got == ["envmon/v1/alerts/qingpu/AUTH_B"]  # the jiashan alert reached nobody here
    finally:
        analytics.close()
        jur.stop()
        other.stop()
