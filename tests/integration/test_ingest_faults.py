"""Fault tests of ingest against the real Mosquitto and influxd: each one counts the readings
published and the readings stored, and demands zero loss.

- the broker restarted mid-stream (ingest and publishers reconnect, the session survives);
- influxd stopped for 60 s (spool to its bound, then the broker holds the rest; drain after);
- the ingest process killed with SIGKILL and restarted (a real ``envmon run`` subprocess);
- a node offline for an hour backfilling ``{"readings": [...]}`` batches (old ones marked late);
- a burst of 100k QoS 1 messages published much faster than ingest writes them (the broker
  must queue, not drop: ``max_queued_messages 0`` in envmon.services, Receive Maximum here).

Every test uses its own station ids (a registry file of its own), database, shared
subscription group and client ids, so other traffic on the shared broker cannot disturb the
counts. Services a test stops are restarted in ``finally``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from envmon.influx import InfluxClient
from envmon.mqttio import MqttConfig, Publisher
from envmon.paths import RUN_DIR
from envmon.service import IngestService
from envmon.services import Ports, _stop, restart_one, up
from envmon.settings import Settings
from envmon.timeutil import format_time, utcnow

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
JURS = ("jiashan", "qingpu", "wujiang")


def wait_until(cond: Callable[[], bool], timeout: float = 60.0, what: str = "condition",
               interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def write_registry(path: Path, prefix: str, n: int) -> list[tuple[str, str]]:
    """A registry of ``n`` water stations with ids unique to the test; returns (id, topic)."""
    out, docs = [], []
    for i in range(n):
        sid, jur = f"{prefix}{i:02d}", JURS[i % 3]
        docs.append(f'[[station]]\nid = "{sid}"\nname = "test {sid}"\nmedium = "water"\n'
                    f'kind = "river_section"\nlat = 31.0\nlon = 120.9\njurisdiction = "{jur}"\n'
                    f'river = "test river"\nwaterbody = "river"\ntarget_class = "III"\n')
        out.append((sid, f"envmon/v1/{jur}/water/{sid}/data"))
    path.write_text("\n".join(docs), encoding="utf-8")
    return out


def readings(stations: Sequence[tuple[str, str]], per_station: int, base: datetime,
             step_s: float = 1.0) -> list[tuple[str, bytes]]:
    """One message per (station, time), two readings each; distinct points so counts are exact."""
    msgs = []
    for k in range(per_station):
        ts = format_time(base + timedelta(seconds=k * step_s))
        for _sid, topic in stations:
            body = {"ts": ts, "seq": k, "values": {"cod": 15.0 + k % 10, "nh3n": 0.5}}
            msgs.append((topic, json.dumps(body, separators=(",", ":")).encode()))
    return msgs


def publish_all(cfg: MqttConfig, client_id: str, msgs: Sequence[tuple[str, bytes]], *,
                rate: float | None = None, progress: list[int] | None = None, timeout: float = 60.0) -> None:
    """Publish at QoS 1 like a node with store and forward: whatever was not delivered (not
    acknowledged, or acknowledged with "no matching subscribers" while the broker restarted
    and the consumer had not subscribed again) is published again; duplicates are the same
    point."""
    pub = Publisher(cfg, client_id, max_inflight=1000)
    pub.connect(timeout=20)
    try:
        pending = list(msgs)
        t0 = time.monotonic()
        for _ in range(5):
            handles = []
            for i, (topic, body) in enumerate(pending):
                if rate:  # pace the stream so that faults hit it mid-way
                    ahead = t0 + i / rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
                handles.append(pub.publish(topic, body))
                if progress is not None:
                    progress[0] += 1
            deadline = time.monotonic() + timeout
            while not all(h.done for h in handles) and time.monotonic() < deadline:
                time.sleep(0.1)
            # Not delivered = not acknowledged, or acknowledged with "no matching subscribers"
            # (after a broker restart, before the consumer has subscribed again).
            pending = [m for m, h in zip(pending, handles, strict=True) if not h.delivered]
            if not pending:
                return
            pub.connected.wait(30)
            time.sleep(1.0)  # a store-and-forward node retries later, not in a tight loop
            rate = None
        raise AssertionError(f"{len(pending)} messages never acknowledged by the broker")
    finally:
        pub.close()


def stored(influx: InfluxClient, field: str = "cod", where: str = "") -> int:
    return influx.count("water", field, where)


@pytest.fixture
def fault_settings(settings: Settings, tmp_path: Path, unique: str) -> tuple[Settings, list[tuple[str, str]]]:
    stations = write_registry(tmp_path / "stations.toml", f"F{unique}_", 9)
    return dataclasses.replace(settings, stations=str(tmp_path / "stations.toml")), stations


def test_broker_restart_mid_stream_loses_nothing(fault_settings, influx: InfluxClient, mqtt_config,
                                                 services: Ports, unique: str) -> None:
    settings, stations = fault_settings
    msgs = readings(stations, 400, utcnow().replace(microsecond=0) - timedelta(hours=2))  # 3600 messages
    svc = IngestService(settings)
    svc.start()
    progress = [0]
    errors: list[BaseException] = []

    def publisher() -> None:
        try:
            publish_all(mqtt_config, f"pub-{unique}", msgs, rate=600, progress=progress)
        except BaseException as err:
            errors.append(err)

    th = threading.Thread(target=publisher)
    th.start()
    try:
        wait_until(lambda: svc.stats.written > 0 and progress[0] > len(msgs) // 3, what="stream under way")
        restart_one("mosquitto", services)
        th.join(120)
        assert not errors, errors
        wait_until(lambda: stored(influx) == len(msgs), timeout=90, what=f"{len(msgs)} readings stored")
        assert svc.consumer.reconnects >= 1  # the restart really hit the running consumer
        assert stored(influx, "nh3n") == len(msgs)
    finally:
        th.join(60)
        svc.stop()


def test_influxd_down_60s_spools_then_broker_holds_the_rest(fault_settings, influx: InfluxClient, mqtt_config,
                                                            services: Ports, unique: str) -> None:
    settings, stations = fault_settings
    settings = dataclasses.replace(settings, ingest=dataclasses.replace(
        settings.ingest, spool_max_bytes=60_000, max_inflight=300))
    msgs = readings(stations, 400, utcnow().replace(microsecond=0) - timedelta(hours=2))
    svc = IngestService(settings)
    svc.start()
    pidfile = RUN_DIR / "influxdb" / "influxd.pid"
    try:
        _stop("influxd", pidfile)
        down_at = time.monotonic()
        publish_all(mqtt_config, f"pub-{unique}", msgs)  # all in the broker or the spool now
        max_in_flight = 0
        while time.monotonic() - down_at < 60:  # the outage the acceptance asks for
            max_in_flight = max(max_in_flight, svc.ingestor.in_flight)
            assert svc.ingestor.spool.bytes <= settings.ingest.spool_max_bytes
            time.sleep(0.1)
        s = svc.stats
        assert s.spooled_batches > 0 and s.retries > 0
        # Full spool: only what is spooled was acknowledged, the broker keeps the rest.
        assert s.acked < len(msgs)
        assert max_in_flight <= 2 * settings.ingest.max_inflight
    finally:
        up(services)
    wait_until(lambda: stored(influx) == len(msgs), timeout=90, what=f"{len(msgs)} readings stored after recovery")
    try:
        assert stored(influx, "nh3n") == len(msgs)
        wait_until(lambda: len(svc.ingestor.spool) == 0, what="spool drained")
        assert svc.stats.written >= 2 * len(msgs)
    finally:
        svc.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return -1.0
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(name + "{"))


def test_ingest_process_sigkill_and_restart_loses_nothing(fault_settings, influx: InfluxClient, mqtt_config,
                                                          services: Ports, unique: str, tmp_path: Path) -> None:
    settings, stations = fault_settings
    msgs = readings(stations, 400, utcnow().replace(microsecond=0) - timedelta(hours=3))
    port = _free_port()
    env = {**os.environ, "ENVMON_MQTT_PORT": str(services.mqtt), "ENVMON_INFLUX_URL": settings.influx.url,
           "ENVMON_INFLUX_DATABASE": settings.influx.database, "ENVMON_STATIONS": settings.stations,
           "ENVMON_INGEST_GROUP": settings.ingest.group, "ENVMON_INGEST_SPOOL_DIR": settings.ingest.spool_dir,
           "ENVMON_INGEST_DEAD_LETTER_FILE": settings.ingest.dead_letter_file,
           "ENVMON_INGEST_SESSION_EXPIRY_S": "300", "ENVMON_INGEST_BATCH_AGE_S": "0.2"}
    argv = [str(ROOT / ".venv" / "bin" / "envmon"), "run", "--only", "ingest", "--worker", f"ingest-{unique}",
            "--metrics-port", str(port)]

    def start() -> subprocess.Popen:
        log = open(tmp_path / "ingest.log", "ab")
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        wait_until(lambda: _metric(port, "envmon_ingest_received_messages_total") >= 0 or proc.poll() is not None,
                   timeout=30, what="ingest subprocess metrics endpoint")
        assert proc.poll() is None, (tmp_path / "ingest.log").read_text()
        return proc

    proc = start()
    progress = [0]
    th = threading.Thread(target=publish_all, args=(mqtt_config, f"pub-{unique}", msgs),
                          kwargs={"rate": 700, "progress": progress})
    th.start()
    try:
        wait_until(lambda: _metric(port, "envmon_ingest_written_readings_total") > 500, what="ingest writing")
        in_flight = _metric(port, "envmon_ingest_in_flight_messages")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_at = progress[0]
        th.join(60)
        assert killed_at < len(msgs)  # publishing went on while ingest was dead
        proc = start()  # same worker id: resumes the persistent session the broker kept
        wait_until(lambda: stored(influx) == len(msgs), timeout=90, what=f"{len(msgs)} readings stored")
        assert stored(influx, "nh3n") == len(msgs)
        assert in_flight >= 0
    finally:
        th.join(60)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


def test_node_offline_an_hour_backfills_and_late_points_are_marked(fault_settings, influx: InfluxClient,
                                                                   mqtt_config, unique: str) -> None:
    settings, stations = fault_settings
    settings = dataclasses.replace(settings, ingest=dataclasses.replace(settings.ingest, late_after_s=1800.0))
    now = utcnow().replace(second=0, microsecond=0)
    node_sid, node_topic = stations[0]
    # The node kept a reading a minute while offline; 30 min ago is skipped so no point sits
    # on the late boundary while the test runs.
    backlog = [{"ts": format_time(now - timedelta(minutes=m)), "seq": 1000 - m,
                "values": {"cod": 20.0 + m / 10, "nh3n": 0.4}} for m in range(60, 0, -1) if m != 30]
    batches = [(node_topic, json.dumps({"readings": backlog[i:i + 12]}).encode()) for i in range(0, len(backlog), 12)]
    live = readings(stations[1:], 20, now - timedelta(minutes=10), step_s=30)
    svc = IngestService(settings)
    svc.start()
    try:
        publish_all(mqtt_config, f"pub-{unique}", live[: len(live) // 2] + batches + live[len(live) // 2:])
        expected = len(backlog) + len(live)
        wait_until(lambda: stored(influx) == expected, what=f"{expected} readings stored")
        node = f"station = '{node_sid}'"
        assert stored(influx, "cod", node) == len(backlog)
        assert stored(influx, "late", node) == sum(1 for m in range(31, 61))  # older than 30 min
        assert stored(influx, "late") == 30  # live readings are not marked
        assert svc.stats.late == 2 * 30  # two readings in each late point
    finally:
        svc.stop()


def test_burst_of_100k_qos1_messages_is_queued_not_dropped(fault_settings, influx: InfluxClient, services: Ports,
                                                           tmp_path: Path) -> None:
    settings, stations = fault_settings
    per_station = 100_000 // len(stations) + 1
    stations = stations[: 100_000 // per_station + 1]
    base = utcnow().replace(microsecond=0) - timedelta(hours=4)
    files = []
    total = 0
    for i, (_, topic) in enumerate(stations):
        n = min(per_station, 100_000 - total)
        total += n
        path = tmp_path / f"burst{i}.jsonl"
        path.write_text("".join(
            f'{{"ts":"{format_time(base + timedelta(seconds=k))}","seq":{k},"values":{{"cod":{k % 50}.5}}}}\n'
            for k in range(n)))
        files.append((topic, path))
    assert total == 100_000
    svc = IngestService(settings)
    svc.start()
    try:
        # mosquitto_pub (C) publishes at QoS 1 many times faster than a Python consumer reads.
        procs = [subprocess.Popen(["mosquitto_pub", "-p", str(services.mqtt), "-q", "1", "-V", "mqttv5",
                                   "-t", topic, "-l"], stdin=open(path, "rb"))
                 for topic, path in files]
        peak = [0]
        done = threading.Event()

        def sample() -> None:  # the bound on messages in flight must hold all through the burst
            while not done.wait(0.02):
                peak[0] = max(peak[0], svc.ingestor.in_flight)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            for p in procs:
                p.wait(120)
            assert all(p.returncode == 0 for p in procs)
            backlog = total - svc.stats.received
            # The broker held far more than the stock max_queued_messages (1000) for our session.
            assert backlog > 5_000, backlog
            wait_until(lambda: stored(influx) == total, timeout=150, what=f"{total} readings stored", interval=0.5)
        finally:
            done.set()
            sampler.join()
        max_in_flight = peak[0]
        assert max_in_flight <= 2 * settings.ingest.max_inflight
        assert svc.stats.written == total
    finally:
        svc.stop()
