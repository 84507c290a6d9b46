"""Firmware pieces without a broker: disk queue, node bookkeeping, clock, synthetic network."""

from __future__ import annotations

import json

from envmon.mqttio import MqttConfig
from envmon.stations import load_registry
from firmware_sim.clock import Clock
from firmware_sim.live import LiveStats, Node
from firmware_sim.store import DiskQueue
from firmware_sim.synthetic import extend_registry


def test_disk_queue_is_bounded_and_survives_restart(tmp_path) -> None:
    q = DiskQueue(tmp_path / "n.sqlite", capacity=100)
    for i in range(150):
        q.put(json.dumps({"seq": i}))
    assert len(q) == 100 and q.dropped == 50
    rows = q.peek(10)
    assert json.loads(rows[0][1])["seq"] == 50  # oldest dropped first
    q.delete([r[0] for r in rows])
    q.close()
    q2 = DiskQueue(tmp_path / "n.sqlite", capacity=100)
    assert len(q2) == 90 and q2.dropped == 50
    assert json.loads(q2.peek(1)[0][1])["seq"] == 60


def test_node_without_broker_keeps_everything_on_disk_and_seq_survives(tmp_path) -> None:
    st = load_registry()["TZ_TOWN"]
    stats = LiveStats()
    n = Node(st, MqttConfig(port=1), tmp_path, client_id="t", stats=stats)
    for k in range(30):
        n.sample(1784037600.0 + 300 * k, {"cod": 18.0 + k}, {"cod": "N"})
        n.pump()  # cannot connect: backs off, keeps the data
    assert len(n.queue) == 30 and stats.published_readings == 0
    n.close(graceful=False)
    n2 = Node(st, MqttConfig(port=1), tmp_path, client_id="t", stats=stats)
    assert len(n2.queue) == 30 and n2.seq == 30
    n2.sample(1784037600.0 + 300 * 30, {"cod": 1.0}, {"cod": "N"})
    last = json.loads(n2.queue.peek(100)[-1][1])
    assert (
        last["seq"] == 31
        and last["ts"].endswith("Z")
        and set(last) == {"ts", "seq", "values", "flags"}
    )
    n2.close(graceful=False)


def test_clock_drifts_and_syncs() -> None:
    c = Clock(drift_ppm=30.0, offset_s=1.0, sync_every_s=3600.0, sync_error_s=0.02, t0=0.0, seed=4)
    before = c.offset(3599.0)
    after = c.offset(3601.0)
    assert abs(before - (1.0 + 30e-6 * 3599)) < 1e-9
    assert abs(after) < 0.2 and c.syncs == 1
    assert c.offset(3601.0) == after  # deterministic


def test_synthetic_network_is_valid_and_reproducible() -> None:
    reg = load_registry()
    a = extend_registry(reg, {"water_chains": 5, "noise": 10, "air": 4}, seed=2, hj212_share=0.5)
    b = extend_registry(reg, {"water_chains": 5, "noise": 10, "air": 4}, seed=2, hj212_share=0.5)
    assert list(a) == list(b) and len(a) == len(reg) + 5 * 8 + 14
    assert [s.travel_minutes for s in a.values()] == [s.travel_minutes for s in b.values()]
    outfalls = [s for s in a.values() if s.id.startswith("SX_O")]
    assert {s.outfall_type for s in outfalls} == {"rain", "industrial", "sewage_plant"}
    assert any(s.hj212_mn for s in a.values() if s.id.startswith("SX_W"))
