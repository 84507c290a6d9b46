"""The ingest pipeline with fakes of our own ports (InfluxDB client, MQTT message): ack only
after the write, 4xx isolation to dead letters, outage → spool → broker holds the rest."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from envmon.influx import InfluxRejected, InfluxUnavailable
from envmon.params import load_parameters
from envmon.settings import IngestSettings
from envmon.stations import load_registry
from envmon.timeutil import format_time, utcnow
from ingest.deadletter import DeadLetters
from ingest.pipeline import Ingestor

REG = load_registry()
PARAMS = load_parameters()
TOPIC = "envmon/v1/jiashan/water/TZ_TOWN/data"


class FakeInflux:
    """Records written lines; ``down`` makes it unavailable, ``bad`` lines make it reject."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.metrics: list[str] = []
        self.down = False
        self.bad = "cod=66.6"
        self.calls = 0
        self.lock = threading.Lock()

    def write_lines(self, lines, precision: str = "s", database=None) -> None:
        with self.lock:
            lines = list(lines)
            if lines and all(ln.startswith("ingest,") for ln in lines):
                self.metrics += lines  # the writer's own self-metrics, not data
                return
            self.calls += 1
            if self.down:
                raise InfluxUnavailable("connection refused")
            if any(self.bad in ln for ln in lines):
                raise InfluxRejected(400, "field type conflict")
            self.lines += list(lines)


class FakeMessage:
    def __init__(self, payload: bytes, topic: str = TOPIC):
        self.topic, self.payload, self.qos, self.acked = topic, payload, 1, 0

    def ack(self) -> None:
        self.acked += 1

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        pass


def body(i: int, cod: float = 10.0, **extra) -> bytes:
    ts = format_time(utcnow().replace(microsecond=0) - timedelta(seconds=3600 - i))
    return json.dumps({"ts": ts, "seq": i, "values": {"cod": cod, "do": 6.5}, **extra}).encode()


def wait_until(cond, timeout: float = 10.0, what=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out {what()}"
        time.sleep(0.01)


@pytest.fixture
def make(tmp_path: Path):
    made: list[Ingestor] = []

    def _make(**kw) -> tuple[Ingestor, FakeInflux]:
        cfg = dataclasses.replace(IngestSettings(), spool_dir=str(tmp_path / "spool"), batch_age_s=0.05,
                                  dead_letter_file=str(tmp_path / "dead.jsonl"), **kw)
        influx = FakeInflux()
        ing = Ingestor(cfg, REG, PARAMS, influx, dead_letters=DeadLetters(cfg.dead_letter_file))  # type: ignore[arg-type]
        ing.start()
        made.append(ing)
        return ing, influx

    yield _make
    for ing in made:
        ing.stop(flush=False, timeout=5)


def test_ack_only_after_the_write(make) -> None:
    ing, influx = make()
    influx.down = True
    ing.spool.max_bytes = 0  # nowhere to spool: nothing may be acknowledged
    msgs = [FakeMessage(body(i)) for i in range(10)]
    for m in msgs:
        ing.handle(m)
    wait_until(lambda: ing.stats.retries >= 2)
    assert all(m.acked == 0 for m in msgs)
    influx.down = False
    wait_until(lambda: all(m.acked == 1 for m in msgs))
    assert len(influx.lines) == 10 and ing.stats.written == 20


def test_bad_line_isolated_and_dead_lettered_rest_written(make, tmp_path: Path) -> None:
    ing, influx = make()
    msgs = [FakeMessage(body(i, cod=66.6 if i == 7 else 10.0)) for i in range(16)]
    for m in msgs:
        ing.handle(m)
    wait_until(lambda: all(m.acked == 1 for m in msgs))
    assert len(influx.lines) == 15 and ing.stats.written == 30
    assert ing.stats.rejected == {"write_rejected": 1}
    dead = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert dead[0]["reason"] == "write_rejected" and "cod=66.6" in dead[0]["payload"]


def test_outage_spools_to_its_bound_then_drains_in_order(make) -> None:
    ing, influx = make(max_inflight=8)  # flush every 4 messages
    influx.down = True
    ing.spool.max_bytes = 3 * 4 * 120  # about three batches of four lines
    msgs = [FakeMessage(body(i)) for i in range(40)]
    for k in range(0, 24, 4):  # as the broker would deliver them: a window at a time
        for m in msgs[k:k + 4]:
            ing.handle(m)
        wait_until(lambda: not ing._batch.messages or ing.spool.bytes + 600 > ing.spool.max_bytes)
    wait_until(lambda: ing.stats.spooled_batches >= 2 and ing.stats.retries >= 3,
               what=lambda: (ing.stats.snapshot(), ing.spool.bytes))
    acked = sum(m.acked for m in msgs)
    assert 0 < acked < 24  # what is spooled is acknowledged, the rest is not
    assert ing.spool.bytes <= ing.spool.max_bytes
    influx.down = False
    for m in msgs[24:]:
        ing.handle(m)
    wait_until(lambda: all(m.acked == 1 for m in msgs))
    assert len(ing.spool) == 0 and ing.stats.written == 80
    times = [int(ln.rsplit(" ", 1)[1]) for ln in influx.lines]
    spooled = times[: ing.stats.spooled_batches * 4]
    assert spooled == sorted(spooled)  # spool drained oldest first
    assert sorted(set(times)) == sorted({int(ln.rsplit(" ", 1)[1]) for ln in influx.lines})


def test_rejected_messages_are_acked_counted_and_never_stop_the_pipeline(make) -> None:
    ing, _ = make()
    bad = [FakeMessage(b"{nope"), FakeMessage(body(1), topic="envmon/v1/jiashan/water/NOPE/data"),
           FakeMessage(json.dumps({"ts": format_time(utcnow() + timedelta(minutes=6)),
                                   "values": {"cod": 1.0}}).encode())]
    good = FakeMessage(body(2))
    for m in [*bad, good]:
        ing.handle(m)
    wait_until(lambda: good.acked == 1)
    assert all(m.acked == 1 for m in bad)
    assert dict(ing.stats.rejected) == {"malformed_payload": 1, "unknown_station": 1, "future_timestamp": 1}


def test_database_missing_is_not_the_datas_fault(make) -> None:
    ing, influx = make()
    ing.spool.max_bytes = 0
    original = influx.write_lines

    def missing_db(lines, precision="s", database=None):
        raise InfluxRejected(404, "database not found")

    influx.write_lines = missing_db  # type: ignore[method-assign]
    m = FakeMessage(body(1))
    ing.handle(m)
    wait_until(lambda: ing.stats.retries >= 2)
    assert m.acked == 0 and not ing.stats.rejected  # kept, not dead-lettered
    influx.write_lines = original  # type: ignore[method-assign]
    wait_until(lambda: m.acked == 1)
