"""Ingest against the real Mosquitto and influxd: good readings are all written, bad ones
are rejected with a counted reason and dead-lettered, and nothing stops the pipeline."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from envmon.influx import InfluxClient
from envmon.mqttio import Publisher
from envmon.service import IngestService
from envmon.settings import Settings
from envmon.timeutil import format_time, utcnow

pytestmark = pytest.mark.integration


def wait_until(cond, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_bad_messages_rejected_good_ones_all_written(settings: Settings, influx: InfluxClient,
                                                     mqtt_config, unique: str) -> None:
    svc = IngestService(settings)
    svc.start()
    pub = Publisher(mqtt_config, f"pub-{unique}")
    pub.connect()
    t0 = utcnow().replace(microsecond=0) - timedelta(hours=1)
    good = 0
    handles = []
    try:
        for i in range(30):
            ts = format_time(t0 + timedelta(minutes=i))
            body = {"ts": ts, "seq": i, "values": {"cod": 15.0 + i * 0.1, "nh3n": 0.3, "do": 6.0}}
            handles.append(pub.publish("envmon/v1/jiashan/water/TZ_TOWN/data", json.dumps(body)))
            good += 3
            if i % 5 == 0:
                handles.append(pub.publish("envmon/v1/jiashan/water/TZ_TOWN/data", b"{broken"))
                handles.append(pub.publish("envmon/v1/jiashan/water/NOT_THERE/data", json.dumps(body)))
                body2 = {**body, "station": "XT_TOWN"}
                handles.append(pub.publish("envmon/v1/jiashan/water/TZ_TOWN/data", json.dumps(body2)))
        assert all(h.wait(10) for h in handles)
        wait_until(lambda: svc.stats.received == len(handles) and svc.stats.acked == len(handles),
                   what="all messages acknowledged")
        since = format_time(t0 - timedelta(minutes=1))
        stored = sum(influx.count("water", f, f"time >= '{since}'") for f in ("cod", "nh3n", "do"))
        assert stored == good == svc.stats.written
        assert dict(svc.stats.rejected) == {"malformed_payload": 6, "unknown_station": 6, "station_mismatch": 6}
        dead = [json.loads(x) for x in open(settings.ingest.dead_letter_file, encoding="utf-8")]
        assert sorted({d["reason"] for d in dead}) == ["malformed_payload", "station_mismatch", "unknown_station"]
        assert len(dead) == 18
    finally:
        pub.close()
        svc.stop()


def test_redelivered_reading_is_the_same_point(settings: Settings, influx: InfluxClient, mqtt_config,
                                               unique: str) -> None:
    svc = IngestService(settings)
    svc.start()
    pub = Publisher(mqtt_config, f"pub-{unique}")
    pub.connect()
    try:
        ts = format_time(utcnow().replace(microsecond=0) - timedelta(minutes=5))
        body = json.dumps({"ts": ts, "seq": 1, "values": {"laeq": 52.5, "lmax": 70.1}})
        for _ in range(3):  # QoS 1 redelivery and backfill send the same reading again
            assert pub.publish("envmon/v1/jiashan/noise/NZ_JS_WEITANG/data", body).wait(10)
        wait_until(lambda: svc.stats.acked == 3, what="three acks")
        assert influx.count("noise", "laeq") == 1
        rows = list(influx.rows("SELECT laeq, zone, jurisdiction FROM noise"))
        assert rows[0]["laeq"] == 52.5 and rows[0]["zone"] == "1" and rows[0]["jurisdiction"] == "jiashan"
    finally:
        pub.close()
        svc.stop()
