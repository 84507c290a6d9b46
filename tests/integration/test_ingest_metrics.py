"""The Prometheus endpoint of ingest, scraped over HTTP while real messages flow."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from envmon.influx import InfluxClient
from envmon.mqttio import Publisher
from envmon.service import IngestService
from envmon.settings import Settings
from envmon.timeutil import format_time, utcnow
from ingest.metrics import serve_metrics

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(port: int, worker: str) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.labels.get("worker") != worker:
                continue
            key = s.name + "".join(f"[{k}={v}]" for k, v in sorted(s.labels.items()) if k not in ("worker",))
            out[key] = s.value
    return out


def test_metrics_endpoint_counts_received_written_rejected_and_lag(settings: Settings, influx: InfluxClient,
                                                                    mqtt_config, unique: str) -> None:
    svc = IngestService(settings)
    svc.start()
    port = _free_port()
    serve_metrics(svc.ingestor, port)
    worker = svc.worker
    pub = Publisher(mqtt_config, f"pub-{unique}")
    pub.connect()
    try:
        t0 = utcnow().replace(microsecond=0) - timedelta(minutes=30)
        n = 20
        for i in range(n):
            body = {"ts": format_time(t0 + timedelta(seconds=i)), "seq": i, "values": {"cod": 10.0, "do": 7.0}}
            assert pub.publish("envmon/v1/jiashan/water/TZ_TOWN/data", json.dumps(body)).wait(10)
        future = {"ts": format_time(utcnow() + timedelta(minutes=30)), "seq": 99, "values": {"cod": 1.0}}
        assert pub.publish("envmon/v1/jiashan/water/TZ_TOWN/data", json.dumps(future)).wait(10)
        assert pub.publish("envmon/v1/jiashan/water/TZ_TOWN/data", b"not json").wait(10)

        def ready() -> dict[str, float] | None:
            # The database first, then the scrape: counters move right after the write returns,
            # so a scrape taken before the count could miss a write the count already sees.
            if influx.count("water", "cod", f"time >= '{format_time(t0)}'") < n:
                return None
            m = _scrape(port, worker)
            ok = m.get("envmon_ingest_rejected_total[reason=future_timestamp]", 0) >= 1 \
                and m.get("envmon_ingest_rejected_total[reason=malformed_payload]", 0) >= 1 \
                and m.get("envmon_ingest_written_readings_total", 0) >= 2 * n
            return m if ok else None

        deadline = time.monotonic() + 20
        while (m := ready()) is None:
            assert time.monotonic() < deadline, "metrics never showed the published messages"
            time.sleep(0.1)
        # Other publishers on the shared broker can only add to these counters.
        assert m["envmon_ingest_received_messages_total"] >= n + 2
        assert m["envmon_ingest_written_readings_total"] >= 2 * n
        assert m["envmon_ingest_retries_total"] == 0
        assert m["envmon_ingest_spool_bytes"] == 0
        assert m["envmon_ingest_write_seconds_count"] >= 1 and m["envmon_ingest_write_seconds_sum"] > 0
        assert m["envmon_ingest_lag_seconds_per_message_count"] >= n
        # Readings were 30 min old when written: the lag histogram has them above 300 s.
        assert m["envmon_ingest_lag_seconds_per_message_bucket[le=300.0]"] < \
            m["envmon_ingest_lag_seconds_per_message_bucket[le=3600.0]"]
        assert 0 <= m["envmon_ingest_in_flight_messages"] <= settings.ingest.max_inflight
    finally:
        pub.close()
        svc.stop()
