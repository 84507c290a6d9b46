"""Bootstrap: the one place that builds the object graph from settings (STYLE rule 11).

``IngestService``: MQTT (shared subscription) → QC → InfluxDB, ack after the write.
``AnalyticsService``: MQTT (its own shared group) → QC → ``Monitor`` → alert sinks
(SQLite store, MQTT alert topic, InfluxDB ``alerts``) and derived series to InfluxDB.
Both are thread-based and start no socket before :meth:`start`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from envmon.alerting.dispatcher import Dispatcher
from envmon.alerting.notifiers import MessageFormatter, build_notifier
from envmon.alerting.routing import RoutingError, load_routing
from envmon.alerting.store import AlertStore
from envmon.alerts import Event
from envmon.influx import InfluxClient, InfluxError, line
from envmon.mqttio import Consumer, Message, Publisher
from envmon.params import ParameterTable, load_parameters
from envmon.settings import Settings
from envmon.stations import Registry, load_registry
from envmon.timeutil import epoch_ns
from envmon.topics import DATA_FILTER, alert_topic, shared
from ingest.deadletter import DeadLetters
from ingest.decode import QualityGate
from ingest.pipeline import Ingestor

if TYPE_CHECKING:
    # Imported where AnalyticsService is built: an ingest-only worker (envmon run --only
    # ingest) would otherwise carry scikit-learn and SciPy, ~100 MB of its RSS.
    from analytics.monitor import Derived, MonitorConfig
    from analytics.permits import Permits

log = logging.getLogger(__name__)


class IngestService:
    def __init__(self, settings: Settings, registry: Registry | None = None,
                 params: ParameterTable | None = None, *, worker: str | None = None,
                 dead_letter_publish: Callable[[str, bytes], None] | None = None):
        self.settings = settings
        self.registry = registry or load_registry(settings.stations)
        self.params = params or load_parameters()
        cfg = settings.ingest
        self.worker = worker or cfg.client_id
        self.influx = InfluxClient(settings.influx)
        self.dead = DeadLetters(cfg.dead_letter_file, topic=cfg.dead_letter_topic, publish=dead_letter_publish)
        self.ingestor = Ingestor(cfg, self.registry, self.params, self.influx, dead_letters=self.dead,
                                 worker=self.worker)
        self.consumer = Consumer(settings.mqtt, self.worker, [shared(cfg.group, DATA_FILTER)],
                                 self.ingestor.handle, receive_maximum=cfg.max_inflight,
                                 session_expiry=cfg.session_expiry_s)

    def start(self) -> None:
        self.influx.wait_ready(30)
        self.influx.create_database()
        self.ingestor.start()
        self.consumer.start()

    def stop(self) -> None:
        self.consumer.stop()
        self.ingestor.stop()

    @property
    def stats(self):
        return self.ingestor.stats


def alert_line(event: Event, registry: Registry | None = None) -> str:
    """The ``alerts`` point of an alert event. With the registry, a suspected source also
    gets ``source_name``, the source in words (an outfall's name, a river segment as the
    reach between two stations), which the dashboards show: "..LXT_LUXU" means nothing to
    the bureau's staff."""
    a = event.alert
    t = a.start if event.type == "raised" else (a.end if event.type == "cleared" and a.end else a.last_seen or a.start)
    fields: dict[str, object] = {
        "id": a.id, "event": event.type, "message": a.message, "parameters": ",".join(a.parameters),
        "open": 0 if event.type == "cleared" else 1, "station_name": a.station_name or a.station,
    }
    if a.confidence is not None:
        fields["confidence"] = float(a.confidence)
    if a.suspected_source:
        fields["suspected_source"] = a.suspected_source
        if registry is not None:
            fields["source_name"] = registry.describe_source(a.suspected_source, ids=False)
    tags = {"station": a.station, "jurisdiction": a.jurisdiction or "", "kind": a.kind,
            "severity": a.severity, "medium": a.medium}
    return line("alerts", tags, fields, epoch_ns(t) // 1_000_000)


def derived_line(d: Derived) -> str:
    return line(d.measurement, d.tags, d.fields, epoch_ns(d.time) // 1_000_000)


def build_dispatcher(settings: Settings, registry: Registry, store: AlertStore) -> Dispatcher | None:
    """The alert dispatcher of ``settings.analytics.routing`` (None when not configured).

    A channel whose secrets are not in the environment is left out with a warning: a
    missing DingTalk token must not stop detection or the other channels.
    """
    if not settings.analytics.routing:
        return None
    routing = load_routing(settings.analytics.routing)
    fmt = MessageFormatter(link_base=routing.link_base, registry=registry)
    notifiers = {}
    for cid, ch in routing.channels.items():
        try:
            notifiers[cid] = build_notifier(cid, ch.type, ch.resolve(), formatter=fmt, mqtt=settings.mqtt)
        except (RoutingError, ValueError) as err:
            log.warning("alert channel %s disabled: %s", cid, err)
    return Dispatcher(store, routing, notifiers)


class AlertSinks:
    """Where events go: the store (directly, or through the dispatcher that also routes and
    notifies), MQTT, InfluxDB and any listeners (printing).

    A failing sink is logged and counted, never allowed to stop detection.
    """

    def __init__(self, registry: Registry, store: AlertStore | None, influx: InfluxClient | None,
                 publisher: Publisher | None, listeners: list[Callable[[Event], None]] | None = None,
                 dispatcher: Dispatcher | None = None):
        self.registry = registry
        self.store = store
        self.influx = influx
        self.publisher = publisher
        self.listeners = listeners or []
        self.dispatcher = dispatcher
        self.counts: Counter = Counter()
        self.failures: Counter = Counter()

    def __call__(self, events: list[Event]) -> None:
        if not events:
            return
        lines = []
        for e in events:
            self.counts[(e.type, e.alert.kind)] += 1
            if self.dispatcher is not None:
                self.dispatcher.submit(e)  # never blocks; stores, routes, notifies
            elif self.store is not None:
                try:
                    self.store.apply(e)
                except Exception:
                    self.failures["store"] += 1
                    log.exception("alert store failed on %s", e.alert.id)
            if self.publisher is not None:
                payload = json.dumps(e.to_dict(), ensure_ascii=False).encode()
                st = self.registry.get(e.alert.station)
                for jur in (st.jurisdictions if st else (e.alert.jurisdiction or "unknown",)):
                    try:
                        self.publisher.publish(alert_topic(jur, e.alert.station), payload, qos=1)
                    except Exception:
                        self.failures["mqtt"] += 1
                        log.exception("could not publish %s on MQTT", e.alert.id)
            lines.append(alert_line(e, self.registry))
            for fn in self.listeners:
                try:
                    fn(e)
                except Exception:
                    self.failures["listener"] += 1
                    log.exception("alert listener failed")
        if self.influx is not None:
            try:
                self.influx.write_lines(lines, precision="ms")
            except InfluxError:
                self.failures["influx"] += 1
                log.exception("could not write %d alert events to InfluxDB", len(lines))


class QueueWatch:
    """Is the live driver reading a queue? Yes while the last message it handled, no more
    than ``recent_s`` seconds of wall time ago, carried readings more than ``lag_s`` behind
    the clock it arrived on (the driver's clock: wall time in production, the simulated
    time in the demo). A live message is handled a second or so after it was sampled; a
    queue's (a restart's backlog, or a core that could not keep pace for a while) long
    after, back to back. A node's own store-and-forward batch also counts: harmless, since
    the newest reading read so far is then the others' live one.

    >>> from datetime import datetime, timedelta
    >>> w, t = QueueWatch(), datetime(2026, 7, 14, 2, 0)
    >>> w.handled(t, t - timedelta(seconds=1), at=100.0); w.behind(at=100.5)
    False
    >>> w.handled(t, t - timedelta(minutes=10), at=101.0); w.behind(at=101.5), w.behind(at=107.0)
    (True, False)
    """

    def __init__(self, lag_s: float = 30.0, recent_s: float = 5.0) -> None:
        self.lag_s, self.recent_s = lag_s, recent_s
        self._lag = 0.0
        self._at = float("-inf")

    def handled(self, received: datetime, newest: datetime, at: float) -> None:
        """A message handled at monotonic time ``at``, received on the driver's clock at
        ``received``, its newest reading sampled at ``newest``."""
        self._lag = (received - newest).total_seconds()
        self._at = at

    def behind(self, at: float) -> bool:
        return at - self._at < self.recent_s and self._lag > self.lag_s


class AnalyticsService:
    """Live driver of the pure core; the same ``Monitor`` that ``envmon replay`` runs."""

    def __init__(self, settings: Settings, registry: Registry | None = None,
                 params: ParameterTable | None = None, *, listeners: list[Callable[[Event], None]] | None = None,
                 monitor_config: MonitorConfig | None = None, client_id: str | None = None,
                 permits: Permits | None = None,
                 clock: Callable[[], datetime] | None = None):
        self.settings = settings
        self.registry = registry or load_registry(settings.stations)
        self.params = params or load_parameters()
        cfg = settings.analytics
        self.influx = InfluxClient(settings.influx)
        from analytics.monitor import Monitor, MonitorConfig
        from analytics.permits import load_permits

        if permits is None and cfg.permits:
            permits = load_permits(cfg.permits, self.registry, self.params)
        # Live, silence is judged on the driver's clock (wall time), not on data time: a
        # backlog arriving out of order must not make the other stations look silent.
        self.monitor = Monitor(self.registry, monitor_config or MonitorConfig(
            aqi_edition=cfg.aqi_edition, wwtp_grade=cfg.wwtp_grade, industrial_grade=cfg.industrial_grade,
            offline_clock="driver"), permits)
        self.clock = clock or (lambda: datetime.now(UTC))
        # Silence is not judged past what has been read while a queue is being read.
        self.queue_watch = QueueWatch()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.gate = QualityGate(self.registry, self.params, max_future_s=settings.ingest.max_future_s)
        self.store = AlertStore(cfg.alert_db, registry=self.registry)
        self.publisher = Publisher(settings.mqtt, (client_id or cfg.client_id) + "-pub")
        self.dispatcher = build_dispatcher(settings, self.registry, self.store)
        # With routing, MQTT alerts are one of its channels (broadcast): do not publish twice.
        mqtt_routed = self.dispatcher is not None and any(
            self.dispatcher.routing.channels[c].type == "mqtt" for c in self.dispatcher.routing.broadcast
            if c in self.dispatcher.routing.channels)
        self.sinks = AlertSinks(self.registry, self.store, self.influx, None if mqtt_routed else self.publisher,
                                listeners, dispatcher=self.dispatcher)
        self.consumer = Consumer(settings.mqtt, client_id or cfg.client_id, [shared(cfg.group, DATA_FILTER)],
                                 self._handle, receive_maximum=1000,
                                 session_expiry=settings.ingest.session_expiry_s)
        self._lock = threading.Lock()
        self.processed = 0
        self._derived_buf: list[str] = []
        self._last_flush = time.monotonic()

    def _handle(self, msg: Message) -> None:
        decoded = self.gate.decode(msg.topic, msg.payload)
        received = self.clock()
        with self._lock:
            events = []
            in_order = sorted(decoded.readings, key=lambda r: r.time)
            for r in in_order:
                events += self.monitor.process(r, received)
            if in_order:
                self.queue_watch.handled(received, in_order[-1].time, time.monotonic())
            self.processed += len(decoded.readings)
            self.sinks(events)
            self._derived_buf += [derived_line(d) for d in self.monitor.drain_derived()]
            if len(self._derived_buf) > 500 or time.monotonic() - self._last_flush > 2:
                self._flush_derived()
        msg.ack()

    def _flush_derived(self) -> None:
        if self._derived_buf:
            try:
                self.influx.write_lines(self._derived_buf, precision="ms")
                self._derived_buf = []
            except InfluxError:
                log.exception("could not write derived series; keeping %d lines", len(self._derived_buf))
        self._last_flush = time.monotonic()

    def warm(self) -> int:
        """Read the last ``warm_hours`` of stored readings back into the core before
        consuming, and return how many it read.

        A restarted core has empty baselines: for an hour (``min_history`` samples) it judges
        nothing, and for hours a bypass that began before the restart is learnt as the
        river's normal. Ingest kept writing meanwhile, so the readings are in InfluxDB. They
        go through the same core in time order; what it would have said about them is
        dropped (said before the restart, or about water that has passed), except for the
        conditions still present at the end: each is raised once. The store folds a raise
        into the record already open for that station and kind (nobody is paged twice); a
        condition that began while the core was down is a new alert, paged as any. Hourly
        series derived from them are written (InfluxDB keeps one point per series and time,
        so a rewrite changes nothing, and hours the core missed are filled). Readings the
        broker still holds for this service come next; those of a time already read are
        ignored by the core as late. Silence is judged from the restart on: a station read
        back is as if heard at the restart (after a whole-system outage the stored data end
        when it began, and every station would otherwise look silent until the broker's
        backlog comes in). A database that cannot answer leaves the core cold, logged, never
        stopped."""
        from envmon.history import HistoryError, HistoryRequest, RawRow, iter_rows, plan
        from envmon.reading import Reading

        hours = self.settings.analytics.warm_hours
        if hours <= 0:
            return 0
        now = self.clock()
        # An hour a query (per medium), as the history export reads, rows in time order.
        request = HistoryRequest(tuple(st.id for st in self.registry.values()), now - timedelta(hours=hours),
                                 now + timedelta(minutes=1), chunk=timedelta(hours=1))
        n = 0
        t0 = time.monotonic()
        with self._lock:
            try:
                for r in iter_rows(self.influx, plan(self.registry, request)):
                    assert isinstance(r, RawRow)  # a raw request yields raw rows
                    self.monitor.process(Reading.trusted(r.station, r.time, r.parameter, r.value, r.flag), now)
                    n += 1
            except (InfluxError, HistoryError, OSError) as err:
                log.warning("warm start: InfluxDB did not answer (%s); the core starts from %d readings", err, n)
            self._derived_buf += [derived_line(d) for d in self.monitor.drain_derived()]
            self._flush_derived()
            still = [Event("raised", a) for a in self.monitor.open_alerts()]
            self.sinks(still)
        log.info("warm start: %d readings of the last %.0f h in %.1f s; %d condition(s) still present",
                 n, hours, time.monotonic() - t0, len(still))
        return n

    def start(self) -> None:
        self.influx.wait_ready(30)
        self.influx.create_database()
        self.publisher.connect()
        if self.dispatcher is not None:
            self.dispatcher.start()
        self.warm()
        self.consumer.start()
        self._ticker = threading.Thread(target=self._tick_loop, name="analytics-clock", daemon=True)
        self._ticker.start()

    def _tick_loop(self) -> None:
        while not self._stop.wait(0.5):
            now = self.clock()
            if now is None:
                continue
            with self._lock:
                self.sinks(self.monitor.tick(now, behind=self.queue_watch.behind(time.monotonic())))

    def finish(self) -> None:
        """End of a bounded run (demo, tests): evaluate open snapshots, write what is left."""
        with self._lock:
            self.sinks(self.monitor.flush())
            self._derived_buf += [derived_line(d) for d in self.monitor.drain_derived()]
            self._flush_derived()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(5)
        self.consumer.stop()
        if self.dispatcher is not None:
            self.dispatcher.wait_idle(10)
            self.dispatcher.stop()
        self.publisher.close()
        self.store.close()
