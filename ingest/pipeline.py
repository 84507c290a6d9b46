"""Ingest: MQTT (shared subscription, manual ack) → QC → batches → InfluxDB → ack.

A reading's way: :class:`envmon.mqttio.Consumer` yields a message → :meth:`Ingestor.handle`
decodes and checks it (:class:`ingest.decode.QualityGate`) → its lines join the open batch →
the writer thread writes the batch (:meth:`InfluxClient.write_lines`) → only then are the
batch's messages acknowledged (:meth:`Message.ack`).

Failures are classified (STYLE rule 10): InfluxDB refusing lines (4xx) splits the batch
until the bad lines are isolated and dead-lettered; InfluxDB being unavailable (429/5xx,
timeouts) is retried with backoff while the batch moves to a bounded disk spool; when the
spool is full nothing more is acknowledged, so the broker holds the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from envmon.influx import InfluxClient, InfluxRejected, InfluxUnavailable, line
from envmon.mqttio import Message
from envmon.params import ParameterTable
from envmon.settings import IngestSettings
from envmon.stations import Registry
from envmon.timeutil import utcnow
from ingest.deadletter import DeadLetters
from ingest.decode import QualityGate, Rejection
from ingest.lines import PRECISION, to_lines
from ingest.spool import Spool

log = logging.getLogger(__name__)


@dataclass
class Stats:
    received: int = 0  # messages
    readings_in: int = 0  # readings that passed QC
    written: int = 0  # readings accepted by InfluxDB (or spooled and later written)
    lines_written: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> count of rejected items
    late: int = 0
    out_of_range: int = 0
    retries: int = 0
    spooled_batches: int = 0
    acked: int = 0
    batches: int = 0
    write_seconds: list[float] = field(default_factory=list)
    lag_seconds: float = 0.0

    def snapshot(self) -> dict[str, object]:
        return {"received": self.received, "readings": self.readings_in, "written": self.written,
                "rejected": dict(self.rejected), "rejected_total": sum(self.rejected.values()),
                "late": self.late, "out_of_range": self.out_of_range, "retries": self.retries,
                "acked": self.acked, "batches": self.batches}


@dataclass
class _Batch:
    lines: list[str] = field(default_factory=list)
    readings: int = 0
    messages: list[Message] = field(default_factory=list)
    oldest: float = 0.0
    newest_data_time: float = 0.0


class Ingestor:
    """Decode, batch and write; acknowledge after the write. Thread-safe ``handle``."""

    def __init__(self, settings: IngestSettings, registry: Registry, params: ParameterTable,
                 influx: InfluxClient, *, dead_letters: DeadLetters | None = None,
                 on_readings: Callable[[list], None] | None = None, worker: str = "ingest-1"):
        self.settings = settings
        self.registry = registry
        self.influx = influx
        self.gate = QualityGate(registry, params, max_future_s=settings.max_future_s,
                                late_after_s=settings.late_after_s,
                                max_payload_bytes=settings.max_payload_bytes)
        self.dead = dead_letters or DeadLetters(settings.dead_letter_file)
        self.spool = Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
        self.on_readings = on_readings
        self.worker = worker
        self.stats = Stats()
        self._batch = _Batch()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._influx_down = False

    # -- called on the MQTT network thread -----------------------------------------------------
    def handle(self, msg: Message) -> None:
        decoded = self.gate.decode(msg.topic, msg.payload)
        if decoded.rejections:
            self.dead.write(decoded.rejections)
        with self._cond:
            self.stats.received += 1
            for rej in decoded.rejections:
                self.stats.rejected[rej.reason] += 1
            self.stats.late += decoded.late
            self.stats.out_of_range += decoded.out_of_range
            if not decoded.readings:
                # Nothing to store: the dead letter is written, the message is done.
                msg.ack()
                self.stats.acked += 1
                return
            self.stats.readings_in += len(decoded.readings)
            b = self._batch
            if not b.messages:
                b.oldest = time.monotonic()
            b.lines.extend(to_lines(decoded.readings, self.registry))
            b.readings += len(decoded.readings)
            b.messages.append(msg)
            b.newest_data_time = max(b.newest_data_time, max(r.time.timestamp() for r in decoded.readings))
            if len(b.lines) >= self.settings.batch_size or len(b.messages) >= self.settings.max_inflight // 2:
                self._cond.notify()
        if self.on_readings is not None:
            self.on_readings(decoded.readings)

    # -- writer thread --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self.worker}-writer", daemon=True)
        self._thread.start()

    def stop(self, flush: bool = True, timeout: float = 30.0) -> None:
        if flush:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with self._cond:
                    if not self._batch.messages:
                        break
                    self._cond.notify()
                time.sleep(0.05)
        self._stop.set()
        with self._cond:
            self._cond.notify()
        if self._thread:
            self._thread.join(timeout)
        self.dead.close()

    def _take(self) -> _Batch | None:
        with self._cond:
            while not self._stop.is_set():
                b = self._batch
                if b.messages:
                    age = time.monotonic() - b.oldest
                    if len(b.lines) >= self.settings.batch_size or age >= self.settings.batch_age_s \
                            or len(b.messages) >= self.settings.max_inflight // 2:
                        self._batch = _Batch()
                        return b
                    self._cond.wait(self.settings.batch_age_s - age)
                else:
                    self._cond.wait(0.5)
                    return None  # let the loop drain the spool between batches
        return None

    def _run(self) -> None:
        last_stats = 0.0
        while not self._stop.is_set():
            self._drain_spool()
            b = self._take()
            if b is not None:
                self._write_batch(b)
            if time.monotonic() - last_stats > 10:
                last_stats = time.monotonic()
                self._write_self_metrics()

    def _write_batch(self, b: _Batch) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                bad = self._write_isolating(b.lines)
            except InfluxUnavailable as err:
                self.stats.retries += 1
                if not self._influx_down:
                    log.warning("InfluxDB unavailable (%s); retrying, spooling up to %d bytes",
                                err, self.settings.spool_max_bytes)
                self._influx_down = True
                if self.spool.put(b.lines):
                    self.stats.spooled_batches += 1
                    self._ack(b)
                    return
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self._influx_down = False
            self.stats.write_seconds.append(time.perf_counter() - t0)
            if len(self.stats.write_seconds) > 10_000:
                del self.stats.write_seconds[:5_000]
            self.stats.batches += 1
            good = len(b.lines) - len(bad)
            self.stats.lines_written += good
            self.stats.written += b.readings if not bad else self._readings_in(b.lines, bad)
            self.stats.lag_seconds = max(0.0, utcnow().timestamp() - b.newest_data_time)
            if bad:
                self.dead.write([Rejection("write_rejected", msg, topic="", payload=ln[:300]) for ln, msg in bad])
                self.stats.rejected["write_rejected"] += len(bad)
            self._ack(b)
            return

    @staticmethod
    def _readings_in(lines: list[str], bad: list[tuple[str, str]]) -> int:
        bad_set = {ln for ln, _ in bad}
        return sum(_field_count(ln) for ln in lines if ln not in bad_set)

    def _ack(self, b: _Batch) -> None:
        for m in b.messages:
            m.ack()
        self.stats.acked += len(b.messages)

    def _write_isolating(self, lines: list[str]) -> list[tuple[str, str]]:
        """Write; on a 4xx split in halves to find the bad lines. Returns (line, error)."""
        try:
            self.influx.write_lines(lines, precision=PRECISION)
            return []
        except InfluxRejected as err:
            if len(lines) == 1:
                return [(lines[0], err.message[:300])]
            mid = len(lines) // 2
            return self._write_isolating(lines[:mid]) + self._write_isolating(lines[mid:])

    def _drain_spool(self) -> None:
        while not self._stop.is_set():
            item = self.spool.oldest()
            if item is None:
                return
            path, body = item
            try:
                lines = body.decode("utf-8").split("\n")
                bad = self._write_isolating(lines)
            except InfluxUnavailable:
                return
            if bad:
                self.dead.write([Rejection("write_rejected", m, topic="", payload=ln[:300]) for ln, m in bad])
            n = self._readings_in(lines, bad)
            self.stats.written += n
            self.spool.remove(path)
            self._influx_down = False

    def _write_self_metrics(self) -> None:
        s = self.stats
        try:
            self.influx.write_lines([line("ingest", {"worker": self.worker}, {
                "received": s.received, "written": s.written, "rejected": sum(s.rejected.values()),
                "retries": s.retries, "spool": self.spool.bytes, "lag_s": float(s.lag_seconds),
            }, int(time.time() * 1000))], precision="ms")
        except (InfluxUnavailable, InfluxRejected):
            pass


def _field_count(ln: str) -> int:
    """Number of parameter values in a line (flag fields are not readings)."""
    fields = ln.rsplit(" ", 2)[-2] if ln.count(" ") >= 2 else ""
    return sum(1 for f in _split_fields(fields) if "_flag=" not in f)


def _split_fields(s: str) -> list[str]:
    out, cur, in_str, esc = [], [], False, False
    for ch in s:
        if esc:
            cur.append(ch)
            esc = False
        elif ch == "\\":
            cur.append(ch)
            esc = True
        elif ch == '"':
            in_str = not in_str
            cur.append(ch)
        elif ch == "," and not in_str:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out
