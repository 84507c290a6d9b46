"""Prometheus self-metrics of ingest: received, written, rejected by reason, retries,
spool size, messages in flight, write latency and lag between reading time and write time.

Read straight from :class:`ingest.pipeline.Stats` at scrape time (a custom collector), so
the hot path pays nothing for them.

>>> from prometheus_client import generate_latest
>>> from ingest.pipeline import Stats
>>> class FakeSpool:
...     bytes = 0
...     def __len__(self):
...         return 0
>>> class FakeIngestor:
...     stats, worker, spool, in_flight, influx_down = Stats(), "w1", FakeSpool(), 0, False
>>> b"envmon_ingest_written_readings_total" in generate_latest(metrics_registry(FakeIngestor()))
True
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

if TYPE_CHECKING:
    from ingest.pipeline import Histogram, Ingestor


def _histogram(name: str, doc: str, worker: str, h: Histogram) -> HistogramMetricFamily:
    m = HistogramMetricFamily(name, doc, labels=["worker"])
    m.add_metric([worker], h.cumulative(), sum_value=h.sum)
    return m


class IngestCollector:
    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor

    def collect(self) -> Iterator[Any]:
        ing = self.ingestor
        s = ing.stats
        w = ing.worker
        for name, doc, value in (
            ("envmon_ingest_received_messages", "MQTT messages received", s.received),
            ("envmon_ingest_received_readings", "readings that passed quality control", s.readings_in),
            ("envmon_ingest_written_readings", "readings written to InfluxDB", s.written),
            ("envmon_ingest_acked_messages", "MQTT messages acknowledged", s.acked),
            ("envmon_ingest_late_readings", "readings older than late_after_s (kept, marked late=1i)", s.late),
            ("envmon_ingest_out_of_range_readings", "readings beyond the instrument range (flagged T)",
             s.out_of_range),
            ("envmon_ingest_retries", "InfluxDB write retries (unavailable)", s.retries),
            ("envmon_ingest_spooled_batches", "batches put into the disk spool", s.spooled_batches),
        ):
            c = CounterMetricFamily(name, doc, labels=["worker"])
            c.add_metric([w], value)
            yield c
        c = CounterMetricFamily("envmon_ingest_rejected", "rejected items by reason", labels=["worker", "reason"])
        for reason, n in sorted(s.rejected.items()):
            c.add_metric([w, reason], n)
        yield c
        for name, doc, gauge in (
            ("envmon_ingest_spool_bytes", "bytes in the disk spool", ing.spool.bytes),
            ("envmon_ingest_spool_batches", "batches in the disk spool", len(ing.spool)),
            ("envmon_ingest_in_flight_messages", "messages received, not yet acknowledged", ing.in_flight),
            ("envmon_ingest_influx_down", "1 while InfluxDB is considered unavailable", int(ing.influx_down)),
            ("envmon_ingest_lag_seconds", "write time minus newest reading time, last batch", s.lag_seconds),
        ):
            g = GaugeMetricFamily(name, doc, labels=["worker"])
            g.add_metric([w], gauge)
            yield g
        yield _histogram("envmon_ingest_write_seconds", "InfluxDB write latency per batch", w, s.write_seconds)
        yield _histogram("envmon_ingest_lag_seconds_per_message",
                         "write time minus reading time, per message (publish-to-stored for live data)", w, s.lag)


def metrics_registry(ingestor: Ingestor) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(IngestCollector(ingestor))  # type: ignore[arg-type]
    return reg


def serve_metrics(ingestor: Ingestor, port: int, addr: str = "127.0.0.1") -> None:
    start_http_server(port, addr=addr, registry=metrics_registry(ingestor))
