"""Live nodes against the real broker: payloads, Last Will, store-and-forward, restart.

Needs the private Mosquitto (``make services-up``; ``make test`` starts it).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from envmon.mqttio import Consumer, MqttConfig
from envmon.services import Ports
from envmon.stations import Registry, Station
from envmon.timeutil import parse_time
from envmon.topics import data_topic, status_topic
from firmware_sim import EventSpec, Scenario
from firmware_sim.engine import generate
from firmware_sim.live import LiveStats, Node, run_live

pytestmark = pytest.mark.integration


def _port() -> int:
    return Ports.from_env().mqtt


@pytest.fixture
def mqtt(services: Ports) -> MqttConfig:
    """The private broker, started by the shared ``services`` fixture when needed."""
    return MqttConfig(host="127.0.0.1", port=services.mqtt)


class Collector:
    """Everything the broker delivers on some stations' topics."""

    def __init__(self, mqtt: MqttConfig, stations: list[Station]):
        self.samples: dict[str, list[dict]] = {s.id: [] for s in stations}
        self.batches = 0
        self.status: dict[str, list[tuple[bool, dict]]] = {s.id: [] for s in stations}
        self._by_topic = {data_topic(s): s.id for s in stations}
        self._by_status = {status_topic(s): s.id for s in stations}
        self.lock = threading.Lock()
        topics = [*self._by_topic, *self._by_status]
        self.c = Consumer(
            mqtt,
            f"sim-test-{uuid.uuid4().hex[:8]}",
            topics,
            self._on,
            clean_start=True,
            session_expiry=0,
        )
        self.c.start()

    def _on(self, m) -> None:
        body = json.loads(m.payload)
        with self.lock:
            if m.topic in self._by_topic:
                items = body["readings"] if "readings" in body else [body]
                self.batches += "readings" in body
                self.samples[self._by_topic[m.topic]].extend(items)
            else:
                self.status[self._by_status[m.topic]].append((m.retain, body))
        m.ack()

    def distinct(self, sid: str) -> set[int]:
        with self.lock:
            return {s["seq"] for s in self.samples[sid]}

    def wait(self, sid: str, n: int, timeout: float = 20.0) -> set[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.distinct(sid)) < n:
            time.sleep(0.05)
        return self.distinct(sid)

    def stop(self) -> None:
        self.c.stop()


def _registry(tag: str) -> Registry:
    return Registry(
        [
            Station(
                id=f"T{tag}W",
                name="测试河",
                medium="water",
                kind="river_section",
                lat=30.9,
                lon=120.9,
                jurisdiction="jiashan",
                river="测试河",
                target_class="III",
                waterbody="river",
            ),
            Station(
                id=f"T{tag}N",
                name="测试噪声",
                medium="noise",
                kind="noise",
                lat=30.9,
                lon=120.9,
                jurisdiction="qingpu",
                zone="2",
            ),
            Station(
                id=f"T{tag}A",
                name="测试空气",
                medium="air",
                kind="air",
                lat=30.9,
                lon=120.9,
                jurisdiction="wujiang",
            ),
        ]
    )


def test_live_run_publishes_everything_through_outages_and_a_restart(mqtt, tmp_path) -> None:
    tag = uuid.uuid4().hex[:8]
    reg = _registry(tag)
    w, n, a = (f"T{tag}{x}" for x in "WNA")
    start = parse_time("2026-07-14T22:00:00+08:00")
    sc = Scenario(
        name=f"live-{tag}",
        seed=11,
        start=start,
        end=start + timedelta(hours=2),
        rain_per_day=0.0,
        scripted=(
            # the noise node loses its link for 25 min: samples go to disk
            EventSpec("station_offline", n, start + timedelta(minutes=20), 25, {"cause": "link"}),
            # the air node loses power for 30 min: nothing sampled, then a restart
            EventSpec("station_offline", a, start + timedelta(minutes=50), 30, {"cause": "power"}),
        ),
    )
    col = Collector(mqtt, list(reg.values()))
    try:
        stats = run_live(
            sc,
            reg,
            mqtt,
            speed=900,
            progress=False,
            store_dir=tmp_path,
            client_prefix=f"simtest-{tag}-",
        )
        assert stats.failed == 0 and stats.dropped == 0
        assert stats.published_readings == stats.produced_readings
        assert stats.published_samples == stats.produced_samples
        assert stats.outages == 2 and stats.restarts == 1 and stats.batches >= 1
        # What the same scenario holds offline: 24 samples in 2 h at 5 min (the noise node
        # 120 at 1 min), less the power cut's six and the simulator's sporadic lost records
        # (0.3 % of instants, so the tag drawn for the ids decides how many).
        offline = {sid: 0 for sid in (w, n, a)}
        for _, sid, _, _ in generate(sc, reg).instants():
            offline[sid] += 1
        for sid, nominal in ((w, 24), (n, 120), (a, 24 - 6)):
            n_params = 11 if sid == w else 2 if sid == n else 7
            got = col.wait(sid, stats.per_station[sid] // n_params)
            # Every sample the scenario holds was sampled live, and every one arrived.
            assert len(got) == offline[sid] and offline[sid] >= 0.95 * nominal - 2, (sid, len(got), offline[sid])
            assert len(got) * n_params == stats.per_station[sid], sid
            assert got == set(range(1, len(got) + 1)), sid  # seq continuous, also over the restart
        first = col.samples[w][0]
        assert set(first) == {"ts", "seq", "values", "flags"} and "do" in first["values"]
        assert col.batches >= 1  # the link outage's backlog came as a batch
        time.sleep(0.3)
        st_a = [body["online"] for _, body in col.status[a]]
        assert (
            False in st_a[:-1] and st_a[-1] is False
        )  # Last Will on power loss; offline at the end
        assert st_a.count(True) >= 1  # and online before that
    finally:
        col.stop()


def test_node_restart_drains_disk_backlog_as_batches(mqtt, tmp_path) -> None:
    tag = uuid.uuid4().hex[:8]
    st = _registry(tag)[f"T{tag}W"]
    col = Collector(mqtt, [st])
    try:
        stats = LiveStats()
        node = Node(st, mqtt, tmp_path, client_id=f"simtest-{tag}", stats=stats, batch_max=50)
        node.connect()
        node.cut_link()  # link down: the broker gets the Last Will
        for k in range(180):
            node.sample(
                1784037600.0 + 300 * k, {"do": 6.0, "cod": 15.0 + k % 7}, {"do": "N", "cod": "N"}
            )
            node.pump()
        node.close(graceful=False)  # the node reboots with 180 samples on disk
        node2 = Node(st, mqtt, tmp_path, client_id=f"simtest-{tag}", stats=stats, batch_max=50)
        deadline = time.monotonic() + 20
        while not node2.idle and time.monotonic() < deadline:
            node2.pump()
            time.sleep(0.02)
        assert node2.idle
        assert stats.published_samples == 180 and stats.published_readings == 360
        assert stats.batches >= 4
        assert col.wait(st.id, 180) == set(range(1, 181))
        node2.close()
    finally:
        col.stop()


def test_hj212_loggers_deliver_through_the_gateway(mqtt, tmp_path) -> None:
    import asyncio

    from envmon.params import load_parameters
    from ingest.hj212_gateway import Hj212Gateway

    tag = uuid.uuid4().hex[:8]
    base = _registry(tag)
    w = base[f"T{tag}W"]
    import dataclasses

    logger = dataclasses.replace(w, id=f"T{tag}L", hj212_mn=f"330421A{tag.upper()}000000L01"[:24])
    reg = Registry([*base.values(), logger])
    published: list[tuple[str, bytes]] = []
    ready = threading.Event()
    box: dict = {}

    def serve() -> None:
        async def main() -> None:
            gw = Hj212Gateway(
                reg,
                load_parameters(),
                lambda t, p: published.append((t, p)),
                host="127.0.0.1",
                port=0,
            )
            await gw.start()
            box["gw"], box["loop"], box["stop"] = gw, asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await box["stop"].wait()
            await gw.close()

        asyncio.run(main())

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    assert ready.wait(10)
    start = parse_time("2026-07-14T22:00:00+08:00")
    sc = Scenario(
        name=f"hj-{tag}",
        seed=12,
        start=start,
        end=start + timedelta(hours=1),
        rain_per_day=0.0,
        scripted=(
            EventSpec(
                "station_offline", logger.id, start + timedelta(minutes=10), 20, {"cause": "link"}
            ),
        ),
    )
    # The MQTT nodes' readings need a subscriber: the broker answers a publish nobody takes
    # with "no matching subscribers", and the nodes keep such readings on disk to resend.
    col = Collector(mqtt, list(base.values()))
    try:
        stats = run_live(
            sc,
            reg,
            mqtt,
            speed=900,
            progress=False,
            store_dir=tmp_path,
            client_prefix=f"simtest-{tag}-",
            hj212=("127.0.0.1", box["gw"].port),
        )
    finally:
        col.stop()
        box["loop"].call_soon_threadsafe(box["stop"].set)
        th.join(10)
    assert stats.failed == 0 and stats.published_readings == stats.produced_readings
    n_logger = stats.per_station[logger.id]
    assert stats.hj212_frames >= 11 and n_logger == 10 * stats.hj212_frames  # no level over HJ 212
    mine = [json.loads(p) for t, p in published if f"/{logger.id}/" in t]
    assert len(mine) == stats.hj212_frames
    assert all("ph" in m["values"] and "level" not in m["values"] for m in mine)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _own_broker(port: int, conf_dir: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    conf = conf_dir / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"could not start a private mosquitto on port {port} for the broker-outage test")


def test_node_survives_a_broker_outage(mqtt, tmp_path) -> None:
    """A broker of our own (started and stopped by this test) goes away and comes back: the
    node notices through ``connected``, keeps sampling to disk, paho reconnects with backoff,
    and the backlog arrives; nothing is lost."""
    port = _free_port()
    cfg = MqttConfig(host="127.0.0.1", port=port)
    broker = _own_broker(port, tmp_path)
    tag = uuid.uuid4().hex[:8]
    st = _registry(tag)[f"T{tag}W"]
    stats = LiveStats()
    node = Node(st, cfg, tmp_path / "q", client_id=f"simtest-{tag}", stats=stats)
    col = None
    try:
        assert node.connect()
        k = 0

        def tick(n: int) -> None:
            nonlocal k
            for _ in range(n):
                node.sample(1784037600.0 + 300 * k, {"do": 6.0}, {"do": "N"})
                node.pump()
                k += 1
                time.sleep(0.01)

        tick(20)
        broker.terminate()
        broker.wait(10)
        deadline = time.monotonic() + 10
        while node.pub is not None and node.pub.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        tick(50)  # broker down: everything goes to disk
        assert len(node.queue) >= 50
        broker = _own_broker(port, tmp_path)
        col = Collector(cfg, [st])
        deadline = time.monotonic() + 60
        while not node.idle and time.monotonic() < deadline:
            node.pump()
            time.sleep(0.05)
        assert node.idle, "backlog not drained after the broker came back"
        assert stats.published_samples >= 70 and stats.batches >= 1
        got = col.wait(st.id, 50, timeout=10)
        assert set(range(21, 71)) <= got  # the samples taken while the broker was down
    finally:
        node.close(graceful=False)
        if col is not None:
            col.stop()
        broker.terminate()
        broker.wait(10)
