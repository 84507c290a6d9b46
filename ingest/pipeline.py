"""Ingest: MQTT (shared subscription, manual ack) → QC → batches → InfluxDB → ack.

A reading's way: :class:`envmon.mqttio.Consumer` yields a message → :meth:`Ingestor.handle`
decodes and checks it (:class:`ingest.decode.QualityGate`) and renders its lines
(:class:`ingest.lines.LineBuilder`) → the lines join the open batch → the writer thread
writes the batch (:meth:`InfluxClient.write_lines`, gzip) → only then are the batch's
messages acknowledged (:meth:`Message.ack`).

Failures are classified (STYLE rule 10):

- InfluxDB refusing lines (400, 422) splits the batch until the bad lines are isolated;
  those are dead-lettered and counted (``write_rejected``), the rest is written.
- InfluxDB unavailable (429, 5xx, timeouts, refused connections) — and 401/403/404, which
  are configuration faults (credentials, missing database), not bad data — is retried with
  exponential backoff. Meanwhile batches go to a bounded disk :class:`Spool` and are
  acknowledged once fsynced there; when the spool is full nothing more is acknowledged, so
  the broker keeps the rest (MQTT 5 Receive Maximum stops it sending more). On recovery the
  spool is drained oldest first before new batches.

Memory is bounded whatever the backlog: the broker sends at most ``max_inflight``
unacknowledged messages (Receive Maximum); as a second line of defence against a broker
that ignores it, :meth:`Ingestor.handle` blocks the network thread (TCP backpressure) when
twice that many are pending.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from envmon.influx import InfluxClient, InfluxRejected, InfluxUnavailable, line
from envmon.mqttio import Message
from envmon.params import ParameterTable
from envmon.settings import IngestSettings
from envmon.stations import Registry
from ingest.deadletter import DeadLetters
from ingest.decode import QualityGate, Rejection
from ingest.lines import LATE_FIELD, PRECISION, LineBuilder
from ingest.spool import Spool

log = logging.getLogger(__name__)

# Statuses that mean "the server or our configuration", never "this line": keep the data.
_NOT_THE_DATA = frozenset({401, 403, 404})
WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Fine below 2 s (live publish-to-stored delay), coarse above (backfill, late data).
LAG_BUCKETS = (0.01, 0.02, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
               30.0, 60.0, 300.0, 3600.0, 86400.0)


class Histogram:
    """Cumulative-bucket histogram (Prometheus semantics) filled by one thread.

    >>> h = Histogram((1.0, 2.0))
    >>> for v in (0.5, 1.5, 3.0):
    ...     h.observe(v)
    >>> h.cumulative(), h.count, h.sum
    ([('1.0', 1), ('2.0', 2), ('+Inf', 3)], 3, 5.0)
    """

    def __init__(self, buckets: Sequence[float]):
        self.buckets = tuple(buckets)
        self._counts = [0] * (len(self.buckets) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, v: float) -> None:
        self._counts[bisect.bisect_left(self.buckets, v)] += 1
        self.count += 1
        self.sum += v

    def cumulative(self) -> list[tuple[str, int]]:
        out, acc = [], 0
        for b, n in zip((*map(str, self.buckets), "+Inf"), self._counts, strict=True):
            acc += n
            out.append((b, acc))
        return out


@dataclass
class Stats:
    received: int = 0  # messages
    readings_in: int = 0  # readings that passed QC
    written: int = 0  # readings accepted by InfluxDB (directly or from the spool)
    lines_written: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> count of rejected items
    late: int = 0
    out_of_range: int = 0
    retries: int = 0
    spooled_batches: int = 0
    acked: int = 0
    batches: int = 0
    write_seconds: Histogram = field(default_factory=lambda: Histogram(WRITE_BUCKETS))
    lag: Histogram = field(default_factory=lambda: Histogram(LAG_BUCKETS))
    # Recent per-message lags (stored time − newest reading time), for percentiles in the bench.
    recent_lags: deque = field(default_factory=lambda: deque(maxlen=200_000))
    lag_seconds: float = 0.0  # newest reading of the last batch written

    def snapshot(self) -> dict[str, object]:
        return {"received": self.received, "readings": self.readings_in, "written": self.written,
                "rejected": dict(self.rejected), "rejected_total": sum(self.rejected.values()),
                "late": self.late, "out_of_range": self.out_of_range, "retries": self.retries,
                "acked": self.acked, "batches": self.batches, "spooled_batches": self.spooled_batches}


@dataclass
class _Batch:
    lines: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # readings per line
    readings: int = 0
    messages: list[Message] = field(default_factory=list)
    data_times: list[float] = field(default_factory=list)  # newest reading time per message
    oldest: float = 0.0


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
        self.lines = LineBuilder(registry, late_after_s=settings.late_after_s)
        self.dead = dead_letters or DeadLetters(settings.dead_letter_file, topic=settings.dead_letter_topic)
        self.spool = Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
        self.on_readings = on_readings
        self.worker = worker
        self.stats = Stats()
        self._batch = _Batch()
        self._writing = 0  # messages of the batch being written
        self._flush_messages = max(1, settings.max_inflight // 2)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._influx_down = False
        self._next_probe = 0.0
        self._backoff = 0.0

    @property
    def in_flight(self) -> int:
        """Messages held here, not yet acknowledged: the open batch and the one being written.

        (Not ``received - acked``: after a reconnect the broker redelivers what the old
        connection held, and those old deliveries are never acked on the new one.)"""
        return len(self._batch.messages) + self._writing

    @property
    def influx_down(self) -> bool:
        return self._influx_down

    # -- called on the MQTT network thread -----------------------------------------------------
    def handle(self, msg: Message) -> None:
        decoded = self.gate.decode(msg.topic, msg.payload)
        if decoded.rejections:
            if self.dead.publish is None and self.dead.topic:
                self.dead.publish = msg.publish  # the consumer's own connection
            self.dead.write(decoded.rejections)
        if decoded.readings:
            lines, counts, newest = self.lines.build(decoded.readings, time.time())
        with self._cond:
            s = self.stats
            s.received += 1
            for rej in decoded.rejections:
                s.rejected[rej.reason] += 1
            s.late += decoded.late
            s.out_of_range += decoded.out_of_range
            if not decoded.readings:
                # Nothing to store: the dead letter is written, the message is done.
                msg.ack()
                s.acked += 1
                return
            # Our own bound on messages held (open batch + the one being written): Receive
            # Maximum alone is not enough, Mosquitto 2.0.11 was measured sending a whole new
            # quota of messages after each PUBACK. Stop reading the socket rather than grow.
            while self.in_flight >= 2 * self.settings.max_inflight and not self._stop.is_set():
                self._cond.wait(0.5)
            s.readings_in += len(decoded.readings)
            b = self._batch
            if not b.messages:
                b.oldest = time.monotonic()
            b.lines += lines
            b.counts += counts
            b.readings += len(decoded.readings)
            b.messages.append(msg)
            b.data_times.append(newest)
            if len(b.lines) >= self.settings.batch_size or len(b.messages) >= self._flush_messages:
                self._cond.notify_all()
        if self.on_readings is not None:
            self.on_readings(decoded.readings)

    # -- writer thread --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self.worker}-writer", daemon=True)
        self._thread.start()

    def stop(self, flush: bool = True, timeout: float = 30.0) -> None:
        """Stop the writer; with ``flush`` first write (and ack) the open batch if InfluxDB
        lets us within ``timeout``. Whatever is not written stays unacknowledged: the broker
        redelivers it to the next session."""
        if flush:
            deadline = time.monotonic() + timeout
            with self._cond:
                while self._batch.messages and time.monotonic() < deadline:
                    self._cond.notify_all()
                    self._cond.wait(0.05)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout)
        self._write_self_metrics()
        self.dead.close()

    def _take(self) -> _Batch | None:
        with self._cond:
            while not self._stop.is_set():
                b = self._batch
                if b.messages:
                    age = time.monotonic() - b.oldest
                    if len(b.lines) >= self.settings.batch_size or age >= self.settings.batch_age_s \
                            or len(b.messages) >= self._flush_messages:
                        self._batch = _Batch()
                        self._cond.notify_all()  # wake a handler blocked on the second bound
                        return b
                    self._cond.wait(self.settings.batch_age_s - age)
                else:
                    self._cond.wait(0.5)
                    return None  # let the loop drain the spool between batches
        return None

    def _run(self) -> None:
        # Self-metrics at start, every 10 s and at stop: a short run still shows a rate.
        last_stats = 0.0
        while not self._stop.is_set():
            try:
                self._drain_spool()
                b = self._take()
                if b is not None:
                    self._write_batch(b)
                if time.monotonic() - last_stats > 10:
                    last_stats = time.monotonic()
                    self._write_self_metrics()
            except Exception:
                log.exception("ingest writer failed; unacknowledged messages will be redelivered")
                self._stop.wait(1.0)

    def _down(self, err: InfluxUnavailable) -> None:
        self.stats.retries += 1
        if not self._influx_down:
            log.warning("InfluxDB unavailable (%s); retrying with backoff, spooling up to %d bytes",
                        err, self.settings.spool_max_bytes)
        self._influx_down = True
        self._backoff = min(max(self._backoff * 2, 0.2), 10.0)
        self._next_probe = time.monotonic() + self._backoff

    def _up(self) -> None:
        if self._influx_down:
            log.warning("InfluxDB is back; %d spooled batches to drain", len(self.spool))
        self._influx_down = False
        self._backoff = 0.0

    def _write_batch(self, b: _Batch) -> None:
        self._writing = len(b.messages)
        try:
            self._write_batch_held(b)
        finally:
            with self._cond:
                self._writing = 0
                self._cond.notify_all()  # a network thread may wait for room

    def _write_batch_held(self, b: _Batch) -> None:
        while not self._stop.is_set():
            if self._influx_down and time.monotonic() < self._next_probe:
                # Known outage: do not hammer InfluxDB; spool if there is room, else wait.
                if self._spool(b):
                    return
                self._stop.wait(max(0.0, self._next_probe - time.monotonic()))
                continue
            t0 = time.perf_counter()
            try:
                good, bad = self._write_isolating(b.lines, b.counts)
            except InfluxUnavailable as err:
                self._down(err)
                if self._spool(b):
                    return
                continue
            self._up()
            now = time.time()
            s = self.stats
            s.write_seconds.observe(time.perf_counter() - t0)
            s.batches += 1
            s.lines_written += len(b.lines) - len(bad)
            s.written += good
            for t in b.data_times:
                s.lag.observe(now - t)
                s.recent_lags.append(now - t)
            s.lag_seconds = max(0.0, now - max(b.data_times))
            if bad:
                self._dead_lines(bad)
            self._ack(b)
            return

    def _spool(self, b: _Batch) -> bool:
        if not self.spool.put(b.lines, b.readings):
            return False
        self.stats.spooled_batches += 1
        self._ack(b)
        return True

    def _dead_lines(self, bad: list[tuple[str, str]]) -> None:
        self.dead.write([Rejection("write_rejected", err, topic="", payload=ln[:300]) for ln, err in bad])
        self.stats.rejected["write_rejected"] += len(bad)

    def _ack(self, b: _Batch) -> None:
        for m in b.messages:
            m.ack()
        with self._cond:
            self.stats.acked += len(b.messages)

    def _write_isolating(self, lines: list[str], counts: list[int] | None) -> tuple[int, list[tuple[str, str]]]:
        """Write; on a rejection split in halves to find the bad lines.

        Returns (readings written, [(bad line, error)]); ``counts`` None means unknown
        (spooled lines), then readings are counted from the lines.
        """
        try:
            self.influx.write_lines(lines, precision=PRECISION)
            return (sum(counts) if counts is not None else sum(map(_field_count, lines))), []
        except InfluxRejected as err:
            if err.status in _NOT_THE_DATA:
                raise InfluxUnavailable(f"InfluxDB refused the write for a non-data reason: {err}") from err
            if len(lines) == 1:
                return 0, [(lines[0], err.message[:300])]
            mid = len(lines) // 2
            g1, b1 = self._write_isolating(lines[:mid], counts[:mid] if counts is not None else None)
            g2, b2 = self._write_isolating(lines[mid:], counts[mid:] if counts is not None else None)
            return g1 + g2, b1 + b2

    def _drain_spool(self) -> None:
        while not self._stop.is_set():
            if self._influx_down and time.monotonic() < self._next_probe:
                return
            item = self.spool.oldest()
            if item is None:
                return
            path, body = item
            lines = body.decode("utf-8").split("\n")
            try:
                good, bad = self._write_isolating(lines, None)
            except InfluxUnavailable as err:
                self._down(err)
                return
            self._up()
            if bad:
                self._dead_lines(bad)
            else:
                good = self.spool.readings_of(path) or good
            self.stats.written += good
            self.stats.lines_written += len(lines) - len(bad)
            self.spool.remove(path)

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
    """Number of parameter values in a line we built (flag and late fields are not readings)."""
    fields = ln.rsplit(" ", 2)[-2] if ln.count(" ") >= 2 else ""
    return sum(1 for f in _split_fields(fields) if "_flag=" not in f and not f.startswith(f"{LATE_FIELD}="))


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
