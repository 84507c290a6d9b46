"""The HJ 212 gateway over real loopback TCP, with an in-memory publisher (our own port)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from envmon.params import load_parameters
from envmon.stations import Registry, parse_station
from envmon.timeutil import parse_time
from ingest.hj212 import FrameDecoder, Packet, build_data_segment, encode_frame, parse_segment
from ingest.hj212_gateway import Hj212Gateway

WATER_MN = "330421A0000000000000A001"
NOISE_MN = "330421A0000000000000B001"
REGISTRY = Registry([
    parse_station({"id": "T_WATER", "name": "测试断面", "medium": "water",
                   "kind": "river_section", "lat": 30.9, "lon": 120.9,
                   "jurisdiction": "jiashan", "river": "测试河", "waterbody": "river",
                   "target_class": "III", "hj212_mn": WATER_MN}),
    parse_station({"id": "T_NOISE", "name": "测试噪声", "medium": "noise", "kind": "noise",
                   "lat": 30.9, "lon": 120.9, "jurisdiction": "qingpu", "zone": "2",
                   "hj212_mn": NOISE_MN}),
])
PARAMS = load_parameters()

# standards.md §6.1 item 3, hourly water data with Flag=5.
HOURLY = (
    b"##0290QN=20250601120000000;ST=21;CN=2061;PW=123456;MN=330421A0000000000000A001;"
    b"Flag=5;CP=&&DataTime=20250601110000;w01001-Avg=7.42,w01001-Flag=N;w01009-Avg=6.85,"
    b"w01009-Flag=N;w01019-Avg=4.1,w01019-Flag=N;w21003-Avg=0.412,w21003-Flag=N;"
    b"w21011-Avg=0.118,w21011-Flag=N;w01014-Avg=520,w01014-Flag=N&&9B81\r\n"
)
ANSWER_9014 = (
    b"##0087QN=20250601120000000;ST=91;CN=9014;PW=123456;MN=330421A0000000000000A001;"
    b"Flag=4;CP=&&&&AF01\r\n"
)


def realtime(mn: str = WATER_MN, flag: int = 5, qn: str = "20250601120000000",
             value: float = 7.4) -> bytes:
    return encode_frame(build_data_segment(
        st="21", cn="2011", mn=mn, flag=flag, qn=qn,
        data_time=parse_time("2025-06-01T11:59:00+08:00"),
        factors={"w01001": {"Rtd": value, "Flag": "N"}}))


class Harness:
    def __init__(self, gw: Hj212Gateway, published: list, dead: list):
        self.gw, self.published, self.dead = gw, published, dead

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.gw.port)


def run(body: Callable[[Harness], Awaitable[None]], publish_error: Exception | None = None,
        **settings) -> Harness:
    published: list[tuple[str, bytes]] = []
    dead: list[tuple[str, bytes]] = []

    def publish(topic: str, payload: bytes) -> None:
        if publish_error is not None:
            raise publish_error
        published.append((topic, payload))

    async def main() -> Harness:
        gw = Hj212Gateway(REGISTRY, PARAMS, publish, host="127.0.0.1", port=0,
                          dead_letter=lambda reason, raw: dead.append((reason, raw)),
                          **settings)
        await gw.start()
        h = Harness(gw, published, dead)
        try:
            await asyncio.wait_for(body(h), 20)
        finally:
            await gw.close()
        return h

    return asyncio.run(main())


async def answer(reader: asyncio.StreamReader, timeout: float = 3.0) -> Packet:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout)
    (frame,) = FrameDecoder().feed(raw)
    return parse_segment(frame.segment)


async def closed(reader: asyncio.StreamReader, timeout: float = 3.0) -> bool:
    return await asyncio.wait_for(reader.read(), timeout) == b""


def test_good_packet_gets_9014_and_exactly_one_publish():
    async def body(h: Harness) -> None:
        reader, writer = await h.connect()
        writer.write(HOURLY)
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n"), 3)
        assert raw == ANSWER_9014
        writer.close()

    h = run(body)
    assert len(h.published) == 1
    topic, payload = h.published[0]
    assert topic == "envmon/v1/jiashan/water/T_WATER/data"
    assert json.loads(payload) == {
        "ts": "2025-06-01T03:00:00Z", "seq": 0,
        "values": {"ph": 7.42, "do": 6.85, "codmn": 4.1, "nh3n": 0.412, "tp": 0.118,
                   "cond": 520.0},
        "flags": {"ph": "N", "do": "N", "codmn": "N", "nh3n": "N", "tp": "N", "cond": "N"}}
    assert h.gw.counters["received"] == 1 and h.gw.counters["published"] == 1
    assert h.gw.counters["rejected_by_reason"] == {}


def test_flag_4_is_published_without_answer_and_seq_counts():
    async def body(h: Harness) -> None:
        reader, writer = await h.connect()
        writer.write(realtime(flag=4, value=7.1) + realtime(flag=4, value=7.2)
                     + realtime(flag=5, value=7.3))
        a = await answer(reader)  # only the third asked for an answer
        assert a.cn == "9014"
        assert [json.loads(p)["seq"] for _, p in h.published] == [0, 1, 2]
        assert [json.loads(p)["values"]["ph"] for _, p in h.published] == [7.1, 7.2, 7.3]

    run(body)


def test_bad_crc_answered_with_qnrtn_9_and_connection_survives():
    async def body(h: Harness) -> None:
        reader, writer = await h.connect()
        writer.write(HOURLY[:-6] + b"0000\r\n")
        a = await answer(reader)
        assert (a.st, a.cn, a.mn, a.qn, a.cp.fields) == (
            "91", "9011", WATER_MN, "20250601120000000", {"QnRtn": "9"})
        assert h.published == []
        writer.write(HOURLY)
        assert (await answer(reader)).cn == "9014"

    h = run(body)
    assert h.gw.counters["rejected_by_reason"] == {"bad_crc": 1}
    assert [reason for reason, _ in h.dead] == ["bad_crc"]
    assert len(h.published) == 1


def test_repeated_bad_frames_and_garbage_close_the_connection():
    async def body(h: Harness) -> None:
        reader, writer = await h.connect()
        writer.write((realtime(flag=4)[:-6] + b"0000\r\n") * 3)
        assert await closed(reader)
        reader2, writer2 = await h.connect()
        writer2.write(b"GET / HTTP/1.1\r\n" * 200)
        assert await closed(reader2)

    h = run(body, max_faults=3, max_garbage=1000)
    assert h.gw.counters["closed_by_reason"] == {"too_many_faults": 1, "garbage": 1}


def test_unknown_mn_rejected_and_answered_with_qnrtn_4():
    async def body(h: Harness) -> None:
        reader, writer = await h.connect()
        writer.write(realtime(mn="FFFFFFFFFFFFFFFFFFFFFFFF"))
        a = await answer(reader)
        assert (a.cn, a.cp.fields["QnRtn"]) == ("9011", "4")

    h = run(body)
    assert h.published == []
    assert h.gw.counters["rejected_by_reason"] == {"unknown_mn": 1}
    assert h.dead == [("unknown_mn", realtime(mn="FFFFFFFFFFFFFFFFFFFFFFFF"))]


def test_noise_packet_goes_to_the_noise_topic():
    async def body(h: Harness) -> None:
        reader, writer = await h.connect()
        writer.write(b"##0132QN=20250601230000000;ST=23;CN=2011;PW=123456;"
                     b"MN=330421A0000000000000B001;Flag=4;CP=&&DataTime=20250601230000;"
                     b"LA-Rtd=52.3,LA-Flag=N&&C741\r\n")
        writer.write(realtime(mn=NOISE_MN))  # a water factor from a noise logger
        await answer(reader)

    h = run(body)
    assert [t for t, _ in h.published] == ["envmon/v1/qingpu/noise/T_NOISE/data"]
    assert json.loads(h.published[0][1])["values"] == {"laeq": 52.3}
    assert h.gw.counters["rejected_by_reason"] == {"no_readings": 1}


def test_idle_connection_closed_while_another_keeps_working():
    async def body(h: Harness) -> None:
        idle_reader, _idle_writer = await h.connect()
        reader, writer = await h.connect()
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        async def closed_after() -> float:
            assert await closed(idle_reader)
            return loop.time() - t0

        idle_closed = asyncio.create_task(closed_after())
        for i in range(8):
            writer.write(realtime(qn=f"2025060112000000{i}"))
            assert (await answer(reader)).cn == "9014"
            await asyncio.sleep(0.1)
        assert 0.35 <= await idle_closed < 1.5
        assert not reader.at_eof()

    h = run(body, idle_timeout=0.4)
    assert h.gw.counters["closed_by_reason"].get("idle") == 1
    assert len(h.published) == 8


def test_slow_client_does_not_block_a_second_one():
    async def body(h: Harness) -> None:
        slow_reader, slow_writer = await h.connect()
        fast_reader, fast_writer = await h.connect()

        async def drip() -> None:
            for i in range(len(HOURLY)):
                slow_writer.write(HOURLY[i:i + 1])
                await slow_writer.drain()
                await asyncio.sleep(0.003)

        dripping = asyncio.create_task(drip())
        await asyncio.sleep(0.05)
        fast_writer.write(realtime())
        assert (await answer(fast_reader, timeout=0.5)).cn == "9014"
        assert not dripping.done()  # the fast client was served mid-drip
        await dripping
        assert await asyncio.wait_for(slow_reader.readuntil(b"\r\n"), 3) == ANSWER_9014

    h = run(body)
    assert len(h.published) == 2


def test_slow_loris_closed_after_frame_timeout():
    async def body(h: Harness) -> None:
        reader, writer = await h.connect()
        good_reader, good_writer = await h.connect()
        for b in HOURLY[:40]:
            if reader.at_eof():
                break
            writer.write(bytes([b]))
            await asyncio.sleep(0.05)
        assert await closed(reader)
        good_writer.write(realtime())
        assert (await answer(good_reader)).cn == "9014"

    h = run(body, frame_timeout=0.5)
    assert h.gw.counters["closed_by_reason"].get("slow_frame") == 1


def test_split_packet_is_reassembled():
    def part(pno: int, factors: dict) -> bytes:
        return encode_frame(build_data_segment(
            st="21", cn="2011", mn=WATER_MN, flag=7, pnum=2, pno=pno, qn="20250601120000000",
            data_time=parse_time("2025-06-01T11:59:00+08:00"), factors=factors))

    async def body(h: Harness) -> None:
        reader, writer = await h.connect()
        writer.write(part(1, {"w01001": {"Rtd": 7.4, "Flag": "N"}}))
        assert (await answer(reader)).cn == "9014"
        assert h.published == []
        # The second part may come on a new connection (the logger reconnected).
        reader2, writer2 = await h.connect()
        writer2.write(part(2, {"w21003": {"Rtd": 0.41, "Flag": "M"}}))
        assert (await answer(reader2)).cn == "9014"

    h = run(body)
    assert len(h.published) == 1
    doc = json.loads(h.published[0][1])
    assert doc["values"] == {"ph": 7.4, "nh3n": 0.41}
    assert doc["flags"] == {"ph": "N", "nh3n": "M"}
    assert doc["ts"] == "2025-06-01T03:59:00Z"


def test_publish_failure_is_not_answered_so_the_logger_resends():
    async def body(h: Harness) -> None:
        reader, writer = await h.connect()
        writer.write(HOURLY)
        try:
            await answer(reader, timeout=0.3)
        except TimeoutError:
            return
        raise AssertionError("a packet that was not published must not be answered")

    h = run(body, publish_error=ConnectionError("broker down"))
    assert h.gw.counters["rejected_by_reason"] == {"publish_failed": 1}


def test_connections_beyond_the_limit_are_closed():
    async def body(h: Harness) -> None:
        reader, writer = await h.connect()
        writer.write(realtime())
        await answer(reader)  # the first connection is surely registered now
        extra_reader, _ = await h.connect()
        assert await closed(extra_reader)
        writer.write(realtime())
        assert (await answer(reader)).cn == "9014"

    h = run(body, max_connections=1)
    assert h.gw.counters["closed_by_reason"].get("too_many_connections") == 1
