"""Prometheus self-metrics of ingest: received, written, rejected by reason, retries,
spool size, write latency and lag between reading time and write time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

from ingest.pipeline import Ingestor


class IngestCollector:
    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor

    def collect(self):  # noqa: ANN201 - prometheus collector protocol
        s = self.ingestor.stats
        w = self.ingestor.worker
        c = CounterMetricFamily("envmon_ingest_received_messages", "MQTT messages received", labels=["worker"])
        c.add_metric([w], s.received)
        yield c
        c = CounterMetricFamily("envmon_ingest_written_readings", "readings written to InfluxDB", labels=["worker"])
        c.add_metric([w], s.written)
        yield c
        c = CounterMetricFamily("envmon_ingest_rejected", "rejected items by reason", labels=["worker", "reason"])
        for reason, n in sorted(s.rejected.items()):
            c.add_metric([w, reason], n)
        yield c
        c = CounterMetricFamily("envmon_ingest_retries", "InfluxDB write retries", labels=["worker"])
        c.add_metric([w], s.retries)
        yield c
        g = GaugeMetricFamily("envmon_ingest_spool_bytes", "bytes in the disk spool", labels=["worker"])
        g.add_metric([w], self.ingestor.spool.bytes)
        yield g
        g = GaugeMetricFamily("envmon_ingest_lag_seconds", "reading time to write time, last batch",
                              labels=["worker"])
        g.add_metric([w], s.lag_seconds)
        yield g
        lat = list(s.write_seconds)
        sm = SummaryMetricFamily("envmon_ingest_write_seconds", "InfluxDB write latency", labels=["worker"])
        sm.add_metric([w], count_value=len(lat), sum_value=sum(lat))
        yield sm


def metrics_registry(ingestor: Ingestor) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(IngestCollector(ingestor))
    return reg


def serve_metrics(ingestor: Ingestor, port: int, addr: str = "127.0.0.1") -> None:
    start_http_server(port, addr=addr, registry=metrics_registry(ingestor))
