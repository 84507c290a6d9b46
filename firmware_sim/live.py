"""Live mode: one firmware node per station publishing to the MQTT broker.

A node samples at its medium's interval (paced by ``speed``: 150 means a simulated hour in
24 s), writes every sample to its disk queue first, publishes it (QoS 1, MQTT v1 payload
``{"ts", "seq", "values", "flags"}``) and deletes it only after the PUBACK. While the link
is down samples pile up on disk; after reconnect the backlog goes out as batches
``{"readings": [...]}``. A retained ``{"online": true}`` on the status topic announces the
node, and the same topic carries its Last Will ``{"online": false}``.

Nodes are driven by one scheduler thread (the caller's); paho runs one network thread per
node. That holds ~40 nodes at 150× on two cores with room to spare.

>>> LiveStats().published_readings
0
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from envmon.mqttio import MqttConfig, MqttError, Publish, Publisher
from envmon.paths import RUN_DIR
from envmon.stations import Registry, Station
from envmon.timeutil import format_time
from envmon.topics import data_topic, status_topic
from firmware_sim.clock import Clock
from firmware_sim.common import rng
from firmware_sim.engine import Simulation, generate
from firmware_sim.events import Outage
from firmware_sim.scenario import Scenario
from firmware_sim.store import DiskQueue

log = logging.getLogger(__name__)

ONLINE = b'{"online": true}'
OFFLINE = b'{"online": false}'


@dataclass
class LiveStats:
    """What a live run did.

    ``*_readings`` count parameter values (one :class:`~envmon.reading.Reading` each, what
    InfluxDB stores), ``*_samples`` sampling instants (one v1 payload each);
    ``published_*`` were acknowledged by the broker (live or inside batches), ``produced_*``
    sampled by the nodes. ``per_station`` counts published readings.

    >>> LiveStats().published_readings
    0
    """

    published_messages: int = 0
    published_readings: int = 0
    published_samples: int = 0
    produced_readings: int = 0
    produced_samples: int = 0
    per_station: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    batches: int = 0
    dropped: int = 0
    reconnects: int = 0
    outages: int = 0
    restarts: int = 0
    elapsed_s: float = 0.0
    hj212_frames: int = 0


class AnyNode(Protocol):
    """What the scheduler needs of a node (MQTT :class:`Node` or HJ 212 logger)."""

    station: Station
    clock: Clock
    queue: DiskQueue
    link_up: bool

    def connect(self) -> bool: ...
    def sample(self, t: float, values: dict[str, float], flags: dict[str, str]) -> None: ...
    def pump(self) -> None: ...
    @property
    def idle(self) -> bool: ...
    def cut_link(self) -> None: ...
    def restore_link(self) -> None: ...
    def power_off(self) -> None: ...
    def close(self, graceful: bool = True) -> None: ...


class Node:
    """The firmware of one station: sample → disk → publish → PUBACK → delete.

    >>> import tempfile
    >>> from envmon.stations import load_registry
    >>> n = Node(load_registry()["TZ_TOWN"], MqttConfig(port=1), tempfile.mkdtemp(),
    ...          client_id="doc", stats=LiveStats())
    >>> n.sample(1784037600.0, {"cod": 18.2}, {"cod": "N"}); len(n.queue)
    1
    >>> json.loads(n.queue.peek(1)[0][1])["seq"]
    1
    """

    def __init__(
        self,
        station: Station,
        mqtt: MqttConfig,
        store_dir: str | Path,
        *,
        client_id: str,
        stats: LiveStats,
        capacity: int = 5000,
        batch_max: int = 200,
        max_batches_in_flight: int = 4,
        clock: Clock | None = None,
    ):
        self.station = station
        self.mqtt = mqtt
        self.client_id = client_id
        self.stats = stats
        self.batch_max = batch_max
        self.max_in_flight = max_batches_in_flight
        self.clock = clock or Clock()
        self.queue = DiskQueue(Path(store_dir) / f"{station.id}.sqlite", capacity)
        self.seq = self.queue.get_meta("seq", 0)
        self.topic = data_topic(station)
        self.status = status_topic(station)
        self.pub: Publisher | None = None
        self.link_up = True  # False while a simulated link outage lasts
        self._inflight: list[tuple[Publish, list[int], int, bool]] = []
        self._sent_upto = 0
        self._announced = False
        self._was_connected = False
        self._next_try = 0.0
        self._backoff = 0.5

    # ---- connection --------------------------------------------------------------------

    def _on_connect(self, up: bool) -> None:
        # Runs on paho's thread: only flip flags; the scheduler thread does the work.
        if not up:
            self._announced = False

    def connect(self) -> bool:
        """Try once (the caller retries with backoff); True when connected."""
        if self.pub is not None and self.pub.connected.is_set():
            return True
        if time.monotonic() < self._next_try:
            return False
        if self.pub is None:
            self.pub = Publisher(
                self.mqtt,
                self.client_id,
                will=(self.status, OFFLINE, True),
                max_inflight=100,
                on_connect=self._on_connect,
            )
            try:
                self.pub.connect(timeout=5)
            except MqttError as err:
                log.warning("node %s: %s; retrying in %.1f s", self.station.id, err, self._backoff)
                self.pub = None
                self._next_try = time.monotonic() + self._backoff
                self._backoff = min(self._backoff * 2, 30.0)
                return False
        if self.pub.connected.is_set():
            self._backoff = 0.5
            return True
        return False

    def cut_link(self) -> None:
        """Simulated link outage: the socket dies without DISCONNECT (the broker sends the
        Last Will); samples keep going to disk."""
        self.link_up = False
        if self.pub is not None:
            self.pub.close(send_will=True)
            self.pub = None
        self._reset_inflight()

    def restore_link(self) -> None:
        self.link_up = True
        self.stats.reconnects += 1
        self._next_try = 0.0

    _hold_until = 0.0  # no new sends before this (after an undelivered publish)

    def _reset_inflight(self) -> None:
        # Unacknowledged messages are resent from disk after reconnect (at least once).
        self._inflight.clear()
        self._sent_upto = 0
        self._announced = False

    # ---- data --------------------------------------------------------------------------

    def sample(self, t: float, values: dict[str, float], flags: dict[str, str]) -> None:
        """Store one sampling instant. ``t`` is the instant as the node's clock reads it."""
        self.seq += 1
        payload = {
            "ts": format_time(datetime.fromtimestamp(t, UTC)),
            "seq": self.seq,
            "values": values,
            "flags": flags,
        }
        self.queue.put(json.dumps(payload, separators=(",", ":")))
        self.queue.set_meta("seq", self.seq)
        self.stats.produced_samples += 1
        self.stats.produced_readings += len(values)

    def pump(self) -> None:
        """Complete acknowledged publishes, then send what is on disk.

        A publish the broker acknowledged with "no matching subscribers" (MQTT 5 reason
        0x10: after a broker restart, before the consumers subscribe again) was not
        delivered: it stays on disk and goes out again a little later."""
        done = [x for x in self._inflight if x[0].done]
        undelivered = [x for x in done if not x[0].delivered]
        done = [x for x in done if x[0].delivered]
        if undelivered:
            self._inflight = [x for x in self._inflight if x not in undelivered]
            self._sent_upto = min(self._sent_upto, min(x[1][0] for x in undelivered) - 1)
            self._hold_until = time.monotonic() + 1.0
        for x in done:
            self._inflight.remove(x)
            self.queue.delete(x[1])
            self.stats.published_messages += 1
            self.stats.published_samples += len(x[1])
            self.stats.published_readings += x[2]
            self.stats.per_station[self.station.id] = (
                self.stats.per_station.get(self.station.id, 0) + x[2]
            )
            if x[3]:
                self.stats.batches += 1
        if not self.link_up:
            return
        if not self.connect():
            if self._was_connected:
                self._reset_inflight()
                self._was_connected = False
            return
        assert self.pub is not None
        if not self._was_connected:
            self._was_connected = True
            self._reset_inflight()
        if not self._announced:
            self.pub.publish(self.status, ONLINE, qos=1, retain=True)
            self._announced = True
        if time.monotonic() < self._hold_until:
            return
        while len(self._inflight) < self.max_in_flight:
            rows = self.queue.peek(self.batch_max, after=self._sent_upto)
            if not rows:
                break
            batch = len(rows) > 1  # a backlog (after an outage) goes out in batches
            body = '{"readings":[' + ",".join(p for _, p in rows) + "]}" if batch else rows[0][1]
            h = self.pub.publish(self.topic, body, qos=1)
            n_values = sum(len(json.loads(p)["values"]) for _, p in rows)
            self._inflight.append((h, [i for i, _ in rows], n_values, batch))
            self._sent_upto = rows[-1][0]
            if len(rows) == 1:
                break

    @property
    def idle(self) -> bool:
        return len(self.queue) == 0 and not self._inflight

    def power_off(self) -> None:
        """Power lost: no DISCONNECT, the broker publishes the Last Will; the disk survives."""
        self.stats.dropped += self.queue.dropped
        if self.pub is not None:
            self.pub.close(send_will=True)
            self.pub = None
        self.queue.close()

    def close(self, graceful: bool = True) -> None:
        self.stats.dropped += self.queue.dropped
        if self.pub is not None:
            if graceful and self.pub.connected.is_set():
                self.pub.publish(self.status, OFFLINE, qos=1, retain=True).wait(5)
            self.pub.close(send_will=not graceful)
            self.pub = None
        self.queue.close()


def run_live(
    scenario: Scenario,
    registry: Registry,
    mqtt: MqttConfig,
    *,
    speed: float,
    progress: bool = True,
    stop: threading.Event | None = None,
    store_dir: str | Path | None = None,
    client_prefix: str = "envmon-sim-",
    stations: list[str] | None = None,
    sim: Simulation | None = None,
    drain_timeout: float = 120.0,
    hj212: tuple[str, int] | None = None,
    on_instant: Callable[[float], None] | None = None,
) -> LiveStats:
    """Run one node per station in (accelerated) real time; return after every sample was
    acknowledged by the broker (or ``drain_timeout`` s after the end: then ``failed`` says
    how many were not).

    With ``hj212=(host, port)`` the stations that have an ``hj212_mn`` in the registry are
    data loggers talking HJ 212-2017 to the gateway there instead of MQTT nodes.
    """
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed!r}")
    sim = sim or generate(scenario, registry, stations=stations)
    stop = stop or threading.Event()
    # Without a store_dir each run gets fresh node disks (a new simulated timeline must not
    # inherit another run's backlog); removed at the end when everything was delivered.
    fresh = store_dir is None
    store = (
        Path(store_dir)
        if store_dir
        else Path(tempfile.mkdtemp(prefix=f"{scenario.name}-", dir=_ensure(RUN_DIR / "sim-nodes")))
    )
    stats = LiveStats()
    g = rng(scenario.seed, "clocks")
    t_start = scenario.start.timestamp()
    # History before live_from is on the nodes' disks already; the clock starts at live_from.
    t0 = scenario.live_from.timestamp() if scenario.live_from else t_start
    clocks = {sid: Clock.random(g, t_start, i) for i, sid in enumerate(sim.data)}

    def make(sid: str) -> AnyNode:
        st = sim.registry[sid]
        if hj212 is not None and st.hj212_mn:
            from firmware_sim.hj212node import Hj212Node

            return Hj212Node(
                st, hj212, store, stats=stats, capacity=scenario.queue_capacity, clock=clocks[sid]
            )
        return Node(
            st,
            mqtt,
            store,
            client_id=f"{client_prefix}{sid}",
            stats=stats,
            capacity=scenario.queue_capacity,
            clock=clocks[sid],
        )

    nodes: dict[str, AnyNode | None] = {sid: make(sid) for sid in sim.data}
    # Outages become actions on the nodes: link cuts and power cycles (node restarts).
    actions: list[tuple[float, str, str]] = []
    for ev in sim.events:
        if isinstance(ev, Outage):
            for sid in ev.targets:
                if sid in nodes:
                    a, b = ("cut", "restore") if ev.cause == "link" else ("power_off", "power_on")
                    actions += [(ev.start, a, sid), (ev.end, b, sid)]
    # An outage over before the live part began is history: its gap is already in the backlog.
    actions = sorted(a for a in actions if a[0] >= t0)
    wall0 = time.monotonic()
    bar = None
    total_min = (scenario.end.timestamp() - t0) / 60
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=round(total_min), unit="sim-min", desc=f"live {scenario.name} ×{speed:g}")
    done_min = 0

    def pump_all() -> None:
        for n in nodes.values():
            if n is not None:
                n.pump()

    def wait_until(t_sim: float) -> None:
        target = wall0 + (t_sim - t0) / speed
        while not stop.is_set():
            now = time.monotonic()
            if now >= target:
                return
            pump_all()
            stop.wait(min(0.05, target - now))

    for n in nodes.values():
        if n is not None:
            n.connect()
    ai = 0
    for t, sid, values, flags in sim.instants():
        if stop.is_set():
            break
        if t < t0:
            # Backfill: sampled while nobody was watching, stored, sent as batches on connect.
            backlog = nodes.get(sid)
            if backlog is not None:
                backlog.sample(t, values, flags)
            continue
        # The node samples when its own clock reads t: true time t - offset.
        node = nodes.get(sid)
        off = node.clock.offset(t) if node is not None else 0.0
        while ai < len(actions) and actions[ai][0] <= t:
            ta, what, asid = actions[ai]
            ai += 1
            wait_until(ta)
            _act(what, asid, nodes, make, stats)
        wait_until(t - off)
        node = nodes.get(sid)
        if node is None:
            continue  # powered off: nothing is sampled
        node.sample(t, values, flags)
        node.pump()
        if on_instant:
            on_instant(t)
        if bar is not None:
            m = int((t - t0) // 60)
            if m > done_min:
                bar.update(m - done_min)
                done_min = m
    while ai < len(actions) and not stop.is_set():
        _act(actions[ai][1], actions[ai][2], nodes, make, stats)
        ai += 1
    for sid, n in nodes.items():  # a node still down at the end comes back to drain
        if n is None:
            nodes[sid] = make(sid)
        elif not n.link_up:
            n.restore_link()
    deadline = time.monotonic() + drain_timeout
    while time.monotonic() < deadline and not all(n is None or n.idle for n in nodes.values()):
        pump_all()
        time.sleep(0.02)
    stats.failed += sum(len(n.queue) for n in nodes.values() if n is not None)
    for n in nodes.values():
        if n is not None:
            n.close(graceful=True)
    if bar is not None:
        bar.update(max(0, round(total_min) - done_min))
        bar.close()
    stats.elapsed_s = time.monotonic() - wall0
    if fresh and stats.failed == 0:
        shutil.rmtree(store, ignore_errors=True)
    return stats


def _ensure(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return d


def _act(
    what: str,
    sid: str,
    nodes: dict[str, AnyNode | None],
    make: Callable[[str], AnyNode],
    stats: LiveStats,
) -> None:
    n = nodes.get(sid)
    if what == "cut" and n is not None:
        n.cut_link()
        stats.outages += 1
    elif what == "restore" and n is not None:
        n.restore_link()
    elif what == "power_off" and n is not None:
        n.power_off()
        nodes[sid] = None
        stats.outages += 1
    elif what == "power_on" and n is None:
        nodes[sid] = make(sid)  # a fresh process: queue and seq come back from disk
        stats.restarts += 1


__all__ = ["LiveStats", "Node", "run_live"]
