"""HJ 212-2017 TCP gateway: data loggers connect, their uploads become MQTT v1 payloads.

Protocol rules live in :mod:`ingest.hj212`; this module only runs connections. ``publish``
is injected (the MQTT module owns paho), so the gateway is tested with an in-memory fake.

Per connection: frames are decoded as they stream in; a data packet from a registered MN
becomes one payload per DataTime on ``envmon/v1/{jurisdiction}/{medium}/{station}/data`` and
is answered with 9014 when its Flag asks. Refusals are counted by reason, dead-lettered and,
when the Flag asks and an address is readable, answered with 9011 and the QnRtn of the
standard (4 unknown MN, 9 bad CRC, 2 rejected). A connection is closed when no valid frame
arrived for ``idle_timeout`` seconds, when a started frame is not complete after
``frame_timeout`` (slow-loris), when it cannot take our answer within ``write_timeout``, or
after ``max_faults`` bad frames in a row. Nothing here blocks the event loop, so one
connection never holds up another.

>>> from envmon.params import load_parameters
>>> from envmon.stations import load_registry
>>> sent = []
>>> gw = Hj212Gateway(load_registry(), load_parameters(), lambda t, p: sent.append(t), port=0)
>>> gw.counters["received"], gw.listening
(0, False)
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from contextlib import suppress

from envmon.params import ParameterTable
from envmon.reading import Reading
from envmon.stations import Registry, Station
from envmon.timeutil import format_time
from envmon.topics import data_topic
from ingest.hj212 import (
    DATA_CNS,
    QN_CRC_ERROR,
    QN_MN_ERROR,
    QN_REJECTED,
    ST_INTERACTION,
    Frame,
    FrameDecoder,
    FrameFault,
    Packet,
    Reassembler,
    SegmentError,
    answer_9011,
    answer_9014,
    needs_answer,
    packet_to_readings,
    parse_segment,
    peek_header,
)

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], None]
DeadLetter = Callable[[str, bytes], None]

_READ_SIZE = 4096


class GatewayConfigError(ValueError):
    """A gateway setting out of range; the message names it."""


def _log_dead_letter(reason: str, raw: bytes) -> None:
    log.warning("hj212 dead letter (%s): %r", reason, raw[:300])


class Hj212Gateway:
    """Asyncio TCP server for HJ 212 data loggers.

    ``publish(topic, payload)`` must not block (paho's QoS 1 publish only queues); when it
    raises, the packet is not answered, so a logger that asked for an answer sends it again.
    ``dead_letter(reason, raw_bytes)`` receives every refused frame. ``counters`` holds
    ``received`` (valid frames), ``published`` (payloads), ``readings``, ``answers``,
    ``problems`` (unmapped codes, bad values), ``garbage_bytes``, ``connections``,
    ``open_connections``, ``rejected_by_reason``, ``ignored_by_cn`` and ``closed_by_reason``.
    Sockets open in :meth:`start`, never in the constructor.

    >>> Hj212Gateway(None, None, print, idle_timeout=0)
    Traceback (most recent call last):
    ...
    ingest.hj212_gateway.GatewayConfigError: idle_timeout must be > 0, got 0
    """

    def __init__(self, registry: Registry, params: ParameterTable, publish: Publish, *,
                 host: str = "127.0.0.1", port: int = 21212, idle_timeout: float = 600.0,
                 frame_timeout: float = 30.0, write_timeout: float = 10.0,
                 max_connections: int = 256, max_faults: int = 8,
                 max_garbage: int = 16384, reassembly_timeout: float = 120.0,
                 dead_letter: DeadLetter | None = None):
        for name, value in (("idle_timeout", idle_timeout), ("frame_timeout", frame_timeout),
                            ("write_timeout", write_timeout),
                            ("reassembly_timeout", reassembly_timeout)):
            if not value > 0:
                raise GatewayConfigError(f"{name} must be > 0, got {value!r}")
        for name, count in (("max_connections", max_connections), ("max_faults", max_faults),
                            ("max_garbage", max_garbage)):
            if count < 1:
                raise GatewayConfigError(f"{name} must be >= 1, got {count!r}")
        if not 0 <= port <= 65535:
            raise GatewayConfigError(f"port must be 0–65535, got {port!r}")
        self.registry = registry
        self.params = params
        self.host = host
        self.port = port
        self.idle_timeout = idle_timeout
        self.frame_timeout = frame_timeout
        self.write_timeout = write_timeout
        self.max_connections = max_connections
        self.max_faults = max_faults
        self.max_garbage = max_garbage
        self._publish = publish
        self._dead_letter = dead_letter or _log_dead_letter
        self._reassembler = Reassembler(timeout=reassembly_timeout)
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._closing = False
        self._seq: dict[str, int] = {}
        self.counters: dict = {
            "received": 0, "published": 0, "readings": 0, "answers": 0, "problems": 0,
            "garbage_bytes": 0, "connections": 0, "open_connections": 0,
            "rejected_by_reason": {}, "ignored_by_cn": {}, "closed_by_reason": {},
        }

    # ------------------------------------------------------------------ lifecycle

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Bind and listen; with ``port=0`` the chosen port is then in ``self.port``."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("hj212 gateway listening on %s:%d", self.host, self.port)

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening and end every connection."""
        server, self._server = self._server, None
        self._closing = True
        if server is not None:
            server.close()
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)
        if server is not None:
            await server.wait_closed()
        self._closing = False

    # ------------------------------------------------------------------ connections

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters["connections"] += 1
        peer = _peer(writer)
        if len(self._sessions) >= self.max_connections:
            self._bump("closed_by_reason", "too_many_connections")
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        self.counters["open_connections"] = len(self._sessions)
        reason = "internal_error"
        try:
            reason = await self._session(reader, writer, peer)
        except TimeoutError:
            reason = "write_timeout"
        except (ConnectionError, OSError):
            reason = "connection_error"
        except asyncio.CancelledError:
            reason = "shutdown"
            if not self._closing:
                raise
            # close() cancelled us; ending normally keeps Python 3.11's start_server from
            # logging the cancelled client task as an error.
        except Exception:
            # A bug met on one logger's data must end that connection, not the gateway.
            log.exception("hj212 connection %s failed", peer)
        finally:
            self._sessions.discard(task)
            self.counters["open_connections"] = len(self._sessions)
            self._bump("closed_by_reason", reason)
            log.info("hj212 connection %s closed: %s", peer, reason)
            writer.close()
            with suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       peer: str) -> str:
        loop = asyncio.get_running_loop()
        decoder = FrameDecoder()
        last_frame = loop.time()
        frame_started: float | None = None  # when the bytes held by the decoder began
        faults = garbage = 0
        while True:
            # "Idle" is no valid frame, not no bytes: a client dripping garbage is idle too.
            deadline, why = last_frame + self.idle_timeout, "idle"
            if frame_started is not None and frame_started + self.frame_timeout < deadline:
                deadline, why = frame_started + self.frame_timeout, "slow_frame"
            try:
                async with asyncio.timeout(deadline - loop.time()):
                    data = await reader.read(_READ_SIZE)
            except TimeoutError:
                return why
            if not data:
                return "peer_closed"
            got_frame = False
            for result in decoder.feed(data):
                if isinstance(result, Frame):
                    got_frame = True
                    faults = garbage = 0
                    await self._on_frame(result, writer, peer)
                elif result.kind == "garbage":
                    garbage += len(result.raw)
                    self.counters["garbage_bytes"] += len(result.raw)
                else:
                    faults += 1
                    await self._on_fault(result, writer, peer)
            now = loop.time()
            if got_frame:
                last_frame = now
            if not decoder.pending:
                frame_started = None
            elif frame_started is None or got_frame:
                frame_started = now
            if faults >= self.max_faults:
                return "too_many_faults"
            if garbage > self.max_garbage:
                return "garbage"

    async def _send(self, writer: asyncio.StreamWriter, frame: bytes) -> None:
        writer.write(frame)
        # A client that does not read its answers must not pin our buffers.
        async with asyncio.timeout(self.write_timeout):
            await writer.drain()
        self.counters["answers"] += 1

    # ------------------------------------------------------------------ frames and packets

    async def _on_fault(self, fault: FrameFault, writer: asyncio.StreamWriter,
                        peer: str) -> None:
        self._reject(fault.kind, fault.raw, f"{peer}: {fault.detail}")
        if fault.segment is None:
            return
        # Only a whole frame has an address to answer to; the standard drops bad-CRC
        # packets, and QnRtn=9 tells a logger that asked why it got no 9014.
        header = peek_header(fault.segment)
        if header is not None and needs_answer(header.flag):
            rtn = QN_CRC_ERROR if fault.kind == "bad_crc" else QN_REJECTED
            await self._send(writer, answer_9011(header, rtn))

    async def _on_frame(self, frame: Frame, writer: asyncio.StreamWriter, peer: str) -> None:
        self.counters["received"] += 1
        try:
            packet = parse_segment(frame.segment)
        except SegmentError as err:
            self._reject("bad_packet", frame.raw, f"{peer}: {err}")
            if err.header is not None and needs_answer(err.header.flag):
                await self._send(writer, answer_9011(err.header, err.qn_rtn))
            return
        if packet.st == ST_INTERACTION:
            # Answers to requests we never send; answering them would start a loop.
            self._bump("ignored_by_cn", packet.cn)
            return
        station = self.registry.by_mn(packet.mn)
        if station is None:
            self._reject("unknown_mn", frame.raw, f"{peer}: MN {packet.mn!r} not in registry")
            if needs_answer(packet.flag):
                await self._send(writer, answer_9011(packet, QN_MN_ERROR))
            return
        if packet.quirks:
            log.debug("hj212 %s (%s): %s", station.id, peer, "; ".join(packet.quirks))
        if not packet.cn.startswith("2"):
            # Parameter and control commands (1xxx, 3xxx) are ours to send, not to serve.
            self._bump("ignored_by_cn", packet.cn)
            if needs_answer(packet.flag):
                await self._send(writer, answer_9011(packet, QN_REJECTED))
            return
        whole = self._reassembler.add(packet, asyncio.get_running_loop().time())
        delivered = True
        if whole is None:
            pass  # a part of a split packet; the whole one is published with its last part
        elif whole.cn in DATA_CNS:
            delivered = self._deliver(whole, station, frame.raw, peer)
        else:
            self._bump("ignored_by_cn", whole.cn)
        if delivered and needs_answer(packet.flag):
            await self._send(writer, answer_9014(packet))

    def _deliver(self, packet: Packet, station: Station, raw: bytes, peer: str) -> bool:
        """Publish the packet's readings; False when publishing failed (no 9014 then)."""
        readings, problems = packet_to_readings(packet, station.id, self.params)
        kept = []
        for r in readings:
            if self.params[r.parameter].applies_to(station.medium):
                kept.append(r)
            else:
                problems.append(f"{r.parameter} is not a {station.medium} parameter")
        if problems:
            self.counters["problems"] += len(problems)
            log.info("hj212 %s (%s) CN %s: %s", station.id, peer, packet.cn, "; ".join(problems))
        if not kept:
            # Resending cannot help, so the packet is still answered as received.
            self._reject("no_readings", raw, f"{peer}: {station.id}: {'; '.join(problems)}")
            return True
        by_time: dict = {}
        for r in kept:
            by_time.setdefault(r.time, []).append(r)
        topic = data_topic(station)
        for t in sorted(by_time):
            payload = self._payload(station.id, by_time[t])
            try:
                self._publish(topic, payload)
            except Exception as err:
                # Injected publisher: whatever it raises, the logger keeps the data and
                # resends because we do not answer.
                log.warning("hj212 publish to %s failed: %s", topic, err)
                self._reject("publish_failed", raw, f"{topic}: {err}")
                return False
            self.counters["published"] += 1
            self.counters["readings"] += len(by_time[t])
        return True

    def _payload(self, station_id: str, readings: list[Reading]) -> bytes:
        # MQTT v1 (DESIGN.md). seq counts this gateway's payloads per station; a resent packet
        # gets a new seq but the same (station, ts), which storage treats as one point.
        seq = self._seq.get(station_id, 0)
        self._seq[station_id] = seq + 1
        doc = {"ts": format_time(readings[0].time), "seq": seq,
               "values": {r.parameter: r.value for r in readings},
               "flags": {r.parameter: r.flag for r in readings}}
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    # ------------------------------------------------------------------ bookkeeping

    def _reject(self, reason: str, raw: bytes, detail: str) -> None:
        self._bump("rejected_by_reason", reason)
        log.info("hj212 rejected (%s) %s", reason, detail)
        try:
            self._dead_letter(reason, raw)
        except Exception:
            # Injected sink: losing a dead letter must not cost the connection.
            log.exception("hj212 dead-letter sink failed")

    def _bump(self, group: str, key: str) -> None:
        counts = self.counters[group]
        counts[key] = counts.get(key, 0) + 1


def _peer(writer: asyncio.StreamWriter) -> str:
    addr = writer.get_extra_info("peername")
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)
