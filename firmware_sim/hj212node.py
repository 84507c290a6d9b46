"""A data logger that speaks HJ 212-2017 over TCP instead of MQTT.

Same firmware discipline as the MQTT node (every sample to the disk queue first, deleted
only when acknowledged), but the acknowledgement is the platform's CN 9014 answer to an
upload with Flag=5 (2017, answer requested). Frames are built by :mod:`ingest.hj212`, the
one module that speaks the protocol. Values without an HJ 212 factor code (water level, the
rain gauge) are not sent, as a real logger configured for the table would not.

>>> import tempfile
>>> from envmon.stations import load_registry
>>> st = load_registry()["TP_DONGCAI"]
>>> n = Hj212Node(st, ("127.0.0.1", 1), tempfile.mkdtemp(), stats=LiveStats())
>>> n.sample(1784037600.0, {"ph": 7.4, "level": 3.1}, {"ph": "N", "level": "N"})
>>> n.stats.produced_readings     # no HJ 212 code for the water level: not configured
1
>>> frame = n.frame(n.queue.peek(1)[0][1])
>>> b"w01001-Rtd=7.4" in frame and b"ST=21" in frame and b"Flag=5" in frame
True
"""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path

from envmon.params import load_parameters
from envmon.reading import Reading
from envmon.stations import Station
from envmon.timeutil import parse_time
from firmware_sim.clock import Clock
from firmware_sim.live import LiveStats
from firmware_sim.store import DiskQueue
from ingest.hj212 import FLAG_A, FLAG_V2017, Frame, FrameDecoder, parse_segment, readings_to_packet

log = logging.getLogger(__name__)

# HJ 212-2017 table 5 system codes: surface water quality, air quality, acoustic
# environment, surface-water pollution source (outfalls).
ST_CODES = {"water": "21", "air": "22", "noise": "23", "outfall": "32"}
ANSWER_TIMEOUT_S = 5.0


class Hj212Node:
    """The HJ 212 flavour of :class:`firmware_sim.live.Node` (same methods).

    >>> import tempfile
    >>> from envmon.stations import load_registry
    >>> Hj212Node(load_registry()["OF_XT_WWTP"], ("127.0.0.1", 1), tempfile.mkdtemp(),
    ...           stats=LiveStats()).st      # an outfall: surface-water pollution source
    '32'
    """

    def __init__(
        self,
        station: Station,
        address: tuple[str, int],
        store_dir: str | Path,
        *,
        stats: LiveStats,
        capacity: int = 5000,
        clock: Clock | None = None,
        max_round_trips: int = 20,
    ):
        if not station.hj212_mn:
            raise ValueError(f"station {station.id!r} has no hj212_mn")
        self.station = station
        self.address = address
        self.stats = stats
        self.clock = clock or Clock()
        self.mn = station.hj212_mn
        self.st = ST_CODES["outfall" if station.is_outfall else station.medium]
        self.queue = DiskQueue(Path(store_dir) / f"{station.id}.sqlite", capacity)
        self.seq = self.queue.get_meta("seq", 0)
        self.params = load_parameters()
        self.link_up = True
        self.max_round_trips = max_round_trips
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder()
        self._next_try = 0.0
        self._backoff = 0.5

    def sample(self, t: float, values: dict[str, float], flags: dict[str, str]) -> None:
        from datetime import UTC, datetime

        from envmon.timeutil import format_time

        # The logger is configured with the factor table: it never has the others.
        values = {k: v for k, v in values.items() if k in self.params and self.params[k].hj212}
        flags = {k: f for k, f in flags.items() if k in values}
        self.seq += 1
        self.queue.put(
            json.dumps(
                {
                    "ts": format_time(datetime.fromtimestamp(t, UTC)),
                    "seq": self.seq,
                    "values": values,
                    "flags": flags,
                }
            )
        )
        self.queue.set_meta("seq", self.seq)
        self.stats.produced_samples += 1
        self.stats.produced_readings += len(values)

    def frame(self, payload: str) -> bytes:
        p = json.loads(payload)
        t = parse_time(p["ts"])
        rs = [
            Reading(self.station.id, t, k, float(v), p["flags"].get(k, "N"))
            for k, v in p["values"].items()
            if k in self.params and self.params[k].hj212
        ]
        return readings_to_packet(
            rs, mn=self.mn, st=self.st, params=self.params, flag=FLAG_V2017 | FLAG_A
        )

    def connect(self) -> bool:
        if self._sock is not None:
            return True
        if time.monotonic() < self._next_try:
            return False
        try:
            self._sock = socket.create_connection(self.address, timeout=3)
            self._decoder = FrameDecoder()
            self._backoff = 0.5
            return True
        except OSError as err:
            log.warning(
                "hj212 node %s: %s; retrying in %.1f s", self.station.id, err, self._backoff
            )
            self._next_try = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, 30.0)
            return False

    def _drop_connection(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _answered(self, qn: str) -> bool:
        assert self._sock is not None
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while time.monotonic() < deadline:
            self._sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self._sock.recv(4096)
            if not data:
                raise OSError("platform closed the connection")
            for r in self._decoder.feed(data):
                if isinstance(r, Frame):
                    pk = parse_segment(r.segment)
                    if pk.cn == "9014" and pk.qn == qn:
                        return True
                    if (
                        pk.cn == "9011"
                        and pk.qn == qn
                        and pk.cp.fields.get("QnRtn") not in (None, "1")
                    ):
                        # Refused for good (unknown MN, bad value): resending would not help.
                        self.stats.failed += 1
                        return True
        raise TimeoutError(f"no 9014 answer for QN {qn}")

    def pump(self) -> None:
        if not self.link_up or not self.connect():
            return
        for _ in range(self.max_round_trips):
            rows = self.queue.peek(1)
            if not rows:
                return
            rid, payload = rows[0]
            frame = self.frame(payload)
            qn = frame.split(b";", 1)[0].split(b"QN=")[1].decode()
            try:
                assert self._sock is not None
                self._sock.sendall(frame)
                self._answered(qn)
            except (OSError, TimeoutError) as err:
                log.warning("hj212 node %s: %s; reconnecting", self.station.id, err)
                self._drop_connection()
                self._next_try = time.monotonic() + self._backoff
                return
            self.queue.delete([rid])
            n = len(json.loads(payload)["values"])
            self.stats.published_messages += 1
            self.stats.published_samples += 1
            self.stats.published_readings += n
            self.stats.hj212_frames += 1
            sid = self.station.id
            self.stats.per_station[sid] = self.stats.per_station.get(sid, 0) + n

    @property
    def idle(self) -> bool:
        return len(self.queue) == 0

    def cut_link(self) -> None:
        self.link_up = False
        self._drop_connection()

    def restore_link(self) -> None:
        self.link_up = True
        self.stats.reconnects += 1
        self._next_try = 0.0

    def power_off(self) -> None:
        self.stats.dropped += self.queue.dropped
        self._drop_connection()
        self.queue.close()

    def close(self, graceful: bool = True) -> None:
        self.stats.dropped += self.queue.dropped
        self._drop_connection()
        self.queue.close()
