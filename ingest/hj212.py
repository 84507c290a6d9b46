"""HJ 212-2017 data transmission: the one module that speaks the protocol (no sockets here).

Frame: ``##`` + 4-digit length of the UTF-8 data segment + segment + CRC (``%04X``) + CRLF.
The reference for every rule below is shared ``reference/standards.md`` §6.

>>> seg = "QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
>>> seg += "Flag=5;CP=&&RtdInterval=30&&"
>>> frame = encode_frame(seg)
>>> frame[:6], frame[-6:]
(b'##0101', b'1C80\\r\\n')
>>> [r.segment == seg for r in FrameDecoder().feed(frame)]
[True]
>>> p = parse_segment(seg)
>>> p.cn, p.mn, needs_answer(p.flag), p.cp.fields["RtdInterval"]
('1062', '010000A8900016F000169DC0', True, '30')
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from envmon.params import ParameterTable
from envmon.reading import FLAGS, Reading, ReadingError
from envmon.timeutil import CST

# Appendix A: the data segment is 0–1024 characters; we count its UTF-8 bytes, as the
# length field does.
MAX_SEGMENT = 1024
_HEAD = 6  # "##" + LLLL
_TAIL = 6  # CCCC + CRLF

FLAG_A = 0b01  # the receiver must answer
FLAG_D = 0b10  # PNUM/PNO present: one part of a split packet
FLAG_V2017 = 0b100  # version bits 000001 = HJ 212-2017; Flag=4 is "2017, no answer"

# Command codes (table 9) whose CP carries measured values, and where the value is.
CN_REALTIME = "2011"
CN_MINUTE = "2051"
CN_HOUR = "2061"
CN_DAY = "2031"
_VALUE_SUFFIXES: dict[str, tuple[str, ...]] = {
    CN_REALTIME: ("Rtd",),
    # Noise minute/hour/day data use ``-Data`` where water and air use ``-Avg``.
    CN_MINUTE: ("Avg", "Data"),
    CN_HOUR: ("Avg", "Data"),
    CN_DAY: ("Avg", "Data"),
}
DATA_CNS = frozenset(_VALUE_SUFFIXES)
ST_INTERACTION = "91"

# QnRtn (answer to a request, CN 9011).
QN_READY = 1
QN_REJECTED = 2
QN_PW_ERROR = 3
QN_MN_ERROR = 4
QN_ST_ERROR = 5
QN_FLAG_ERROR = 6
QN_QN_ERROR = 7
QN_CN_ERROR = 8
QN_CRC_ERROR = 9
QN_UNKNOWN = 100
QN_RTN_CODES = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 100})

FACTOR_SUFFIXES = frozenset({
    "Rtd", "Min", "Avg", "Max", "Cou", "ZsRtd", "ZsMin", "ZsAvg", "ZsMax",
    "Flag", "EFlag", "SampleTime", "Data", "DayData", "NightData", "Info", "SN",
})
# HJ/T 212-2005 had P (power failure); 2017 has no such flag, F (stopped) is the closest.
_FLAGS_2005 = {"P": "F"}

_ST = re.compile(r"^(?:\d{2}|[A-Z]\d)$")
_CN = re.compile(r"^\d{4}$")
_QN = re.compile(r"^\d{17}$")
_MN_EPC96 = re.compile(r"^[0-9A-Fa-f]{24}$")
_HEX = frozenset(b"0123456789abcdefABCDEF")


class Hj212Error(ValueError):
    """Anything this module refuses; the message says what and where."""


class FrameError(Hj212Error):
    """A data segment that cannot be framed (too long)."""


class SegmentError(Hj212Error):
    """A data segment that is not a usable packet.

    ``qn_rtn`` is the QnRtn an answer should carry; ``header`` is what could be read of the
    packet's address, so that an answer is possible (None when even that failed).
    """

    def __init__(self, message: str, *, qn_rtn: int = QN_REJECTED,
                 header: PacketHeader | None = None):
        super().__init__(message)
        self.qn_rtn = qn_rtn
        self.header = header


class EncodeError(Hj212Error):
    """Readings or fields that cannot be written as an HJ 212 packet."""


# --------------------------------------------------------------------------- CRC and frames


def crc16(data: bytes) -> int:
    """CRC of Appendix A ("ANSI CRC16"); NOT CRC-16/MODBUS (which gives 0x4B37 here).

    >>> hex(crc16(b"123456789"))
    '0x2f80'
    """
    reg = 0xFFFF
    for b in data:
        # HJ 212 shifts the register before mixing in the byte; Modbus XORs in place.
        reg = (reg >> 8) ^ b
        for _ in range(8):
            lsb = reg & 1
            reg >>= 1
            if lsb:
                reg ^= 0xA001
    return reg


def encode_frame(segment: str) -> bytes:
    """Wrap a data segment: ``##`` + length + segment + CRC + CRLF.

    >>> encode_frame("QN=1;CP=&&&&")
    b'##0012QN=1;CP=&&&&6900\\r\\n'
    """
    data = segment.encode("utf-8")
    if len(data) > MAX_SEGMENT:
        raise FrameError(f"data segment is {len(data)} bytes; HJ 212 allows {MAX_SEGMENT}")
    return b"##%04d%s%04X\r\n" % (len(data), data, crc16(data))


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame whose length, CRC and terminator checked out.

    >>> Frame("QN=1;CP=&&&&", b"##0012QN=1;CP=&&&&6900\\r\\n").segment
    'QN=1;CP=&&&&'
    """

    segment: str
    raw: bytes


FaultKind = Literal["garbage", "bad_length", "oversize", "bad_crc", "bad_encoding", "truncated"]


@dataclass(frozen=True, slots=True)
class FrameFault:
    """Bytes the decoder threw away, and why.

    ``garbage``: bytes outside any frame; ``bad_length``: the length field is not 4 digits or
    the CRC/CRLF is not where it says; ``oversize``: a length above 1024; ``bad_crc``;
    ``bad_encoding``: the segment is not UTF-8; ``truncated``: the stream ended mid-frame.
    ``segment`` is the decoded segment when the frame was whole (so a bad-CRC packet can
    still be answered with QnRtn=9). ``raw`` holds the discarded bytes: the frame, the
    header, or for garbage everything up to the next ``##``.

    >>> FrameDecoder().feed(b"xx")[0].kind
    'garbage'
    """

    kind: FaultKind
    detail: str
    raw: bytes = b""
    segment: str | None = None


DecodeResult = Frame | FrameFault


class FrameDecoder:
    """Streaming frame decoder for one TCP connection.

    ``feed`` takes whatever the socket returned and gives back the frames and faults found
    so far, in stream order; a partial frame waits for the next ``feed``. It never raises on
    bad input: after a fault it resynchronises on the next ``##`` after the bad frame's first
    byte (a stray ``#`` before a real frame must not hide it). Its buffer never holds more than one
    maximal frame plus the last chunk.

    >>> d = FrameDecoder()
    >>> f = encode_frame("QN=1;CP=&&&&")
    >>> d.feed(b"noise" + f[:9])
    [FrameFault(kind='garbage', detail='5 bytes before ##', raw=b'noise', segment=None)]
    >>> [r.segment for r in d.feed(f[9:])]
    ['QN=1;CP=&&&&']
    >>> d.feed(f[:-6] + b"8a42\\r\\n")[0].kind
    'bad_crc'
    """

    def __init__(self, *, max_segment: int = MAX_SEGMENT):
        self.max_segment = max_segment
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back because they may be the start of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[DecodeResult]:
        self._buf += data
        return self._scan(final=False)

    def finish(self) -> list[DecodeResult]:
        """End of stream: report the partial frame and look for frames inside it."""
        return self._scan(final=True)

    def _scan(self, *, final: bool) -> list[DecodeResult]:
        out: list[DecodeResult] = []
        buf = self._buf
        while buf:
            start = buf.find(b"##")
            if start < 0:
                # A trailing "#" may be the first half of the next "##".
                keep = 1 if buf.endswith(b"#") and not final else 0
                if len(buf) > keep:
                    out.append(_garbage(buf[: len(buf) - keep]))
                    del buf[: len(buf) - keep]
                break
            if start:
                out.append(_garbage(buf[:start]))
                del buf[:start]
            if len(buf) < _HEAD:
                if final:
                    out.append(FrameFault("truncated", "stream ended in a frame header",
                                          bytes(buf)))
                    del buf[:]
                break
            length_field = bytes(buf[2:_HEAD])
            if not length_field.isdigit():
                out.append(FrameFault("bad_length", f"length field {length_field!r}",
                                      bytes(buf[:_HEAD])))
                del buf[:1]
                continue
            n = int(length_field)
            if n > self.max_segment:
                out.append(FrameFault("oversize", f"segment length {n} > {self.max_segment}",
                                      bytes(buf[:_HEAD])))
                del buf[:1]
                continue
            total = _HEAD + n + _TAIL
            if len(buf) < total:
                if final:
                    out.append(FrameFault("truncated", f"stream ended {total - len(buf)} bytes "
                                          "before the end of the frame", bytes(buf[:total])))
                    del buf[:1]
                    continue
                break
            result = _check(bytes(buf[:total]), n)
            out.append(result)
            if isinstance(result, Frame) or result.kind == "bad_encoding":
                del buf[:total]  # the CRC vouches for the length
            elif result.kind == "bad_crc":
                # Well-formed but damaged: skip it whole unless another "##" starts inside
                # it (then the length may be the damaged part and a frame may hide there).
                inner = buf.find(b"##", 1, total)
                del buf[:inner if inner > 0 else total]
            else:
                del buf[:1]
        return out


def _garbage(data: bytearray) -> FrameFault:
    return FrameFault("garbage", f"{len(data)} bytes before ##", bytes(data))


def _check(raw: bytes, n: int) -> DecodeResult:
    seg = raw[_HEAD:_HEAD + n]
    crc_field = raw[_HEAD + n:_HEAD + n + 4]
    if not set(crc_field) <= _HEX or raw[-2:] != b"\r\n":
        # The length pointed somewhere that is not CRC + CRLF: the length is wrong.
        return FrameFault("bad_length", f"no CRC and CRLF after the {n} bytes the length "
                          f"field announces (found {raw[_HEAD + n:]!r})", raw)
    text = seg.decode("utf-8", errors="replace")
    want, got = crc16(seg), int(crc_field, 16)
    if want != got:
        return FrameFault("bad_crc", f"CRC {crc_field.decode()} but the segment gives "
                          f"{want:04X}", raw, text)
    try:
        return Frame(seg.decode("utf-8"), raw)
    except UnicodeDecodeError as err:
        return FrameFault("bad_encoding", f"segment is not UTF-8: {err}", raw, text)


# --------------------------------------------------------------------------- packets


@dataclass(frozen=True, slots=True)
class PacketHeader:
    """The address part of a packet: enough to send an answer.

    >>> peek_header("QN=1;ST=21;CN=2011;PW=1;MN=AB;Flag=5;CP=&&oops")
    PacketHeader(qn='1', st='21', cn='2011', pw='1', mn='AB', flag=5)
    """

    qn: str
    st: str
    cn: str
    pw: str
    mn: str
    flag: int


@dataclass(frozen=True, slots=True)
class Cp:
    """The parsed ``CP=&&…&&`` content.

    ``factors`` maps a factor code to its sub-fields by suffix, as text
    (``{"w01001": {"Rtd": "7.1", "Flag": "N"}}``); ``fields`` holds the other items
    (``DataTime``, ``RtdInterval``, ``QnRtn`` …); ``data_time`` is ``DataTime`` as an aware
    UTC datetime (loggers send China Standard Time).

    >>> cp = parse_segment("ST=23;CN=2011;MN=A;Flag=4;CP=&&DataTime=20250601230000;"
    ...                    "LA-Rtd=52.3,LA-Flag=N&&").cp
    >>> cp.data_time.isoformat(), cp.factors["LA"]
    ('2025-06-01T15:00:00+00:00', {'Rtd': '52.3', 'Flag': 'N'})
    """

    data_time: datetime | None = None
    factors: dict[str, dict[str, str]] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Packet:
    """One parsed data segment. ``quirks`` lists what is off-standard but tolerated.

    >>> p = parse_segment("QN=20210301111100112;ST=21;CN=2011;PW=123456;MN=ZLDSZ20210127;"
    ...                   "Flag=8;CP=&&DataTime=20210301111100;w01001-Rtd=8.33&&")
    >>> p.flag, p.cp.factors["w01001"]["Rtd"]
    (8, '8.33')
    >>> for q in p.quirks: print(q)
    MN 'ZLDSZ20210127' is not 24 hex digits (EPC-96)
    Flag=8 has version bits 000010, HJ 212-2017 is 000001
    """

    qn: str
    st: str
    cn: str
    pw: str
    mn: str
    flag: int
    pnum: int | None = None
    pno: int | None = None
    cp: Cp = field(default_factory=Cp)
    quirks: tuple[str, ...] = ()

    @property
    def header(self) -> PacketHeader:
        return PacketHeader(self.qn, self.st, self.cn, self.pw, self.mn, self.flag)

    @property
    def is_split(self) -> bool:
        return bool(self.flag & FLAG_D)


def needs_answer(flag: int) -> bool:
    """The A bit: the sender waits for an answer (Flag=5 and 7 do, 4 and 6 do not).

    >>> [needs_answer(f) for f in (4, 5, 6, 7)]
    [False, True, False, True]
    """
    return bool(flag & FLAG_A)


def _split_header(head: str, quirks: list[str]) -> dict[str, str]:
    items: dict[str, str] = {}
    for item in head.split(";"):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            quirks.append(f"header item {item!r} has no '='")
        elif key in items:
            quirks.append(f"header field {key} repeated; the first is used")
        else:
            items[key] = value
    return items


def peek_header(segment: str) -> PacketHeader | None:
    """Best-effort address of a damaged or invalid segment, or None without an MN.

    Used to answer packets we refuse (bad CRC, bad CP); the fields are not validated, and an
    unreadable Flag counts as 4 (2017, no answer).

    >>> peek_header("garbage") is None
    True
    """
    head = segment.split("CP=", 1)[0]
    items = _split_header(head, [])
    mn = items.get("MN", "")
    if not mn:
        return None
    try:
        flag = int(items.get("Flag", "4"))
    except ValueError:
        flag = FLAG_V2017
    if not 0 <= flag <= 255:
        flag = FLAG_V2017
    return PacketHeader(items.get("QN", ""), items.get("ST", ""), items.get("CN", ""),
                        items.get("PW", ""), mn, flag)


def parse_segment(segment: str) -> Packet:
    """Parse a data segment (``QN=…;ST=…;…;CP=&&…&&``) into a :class:`Packet`.

    Missing MN/ST/CN, a Flag outside 0–255 or bad PNUM/PNO raise :class:`SegmentError`
    carrying the QnRtn to answer with. Field-practice deviations (non-hex MN, other version
    bits, missing QN/PW, unknown suffixes) become ``quirks``.

    >>> parse_segment("ST=21;CN=20x1;MN=A;Flag=4;CP=&&&&")
    Traceback (most recent call last):
    ...
    ingest.hj212.SegmentError: CN '20x1' is not 4 digits
    """
    quirks: list[str] = []
    cp_at = segment.find("CP=&&")
    header = peek_header(segment)
    if cp_at < 0:
        raise SegmentError("no CP=&&…&& in the data segment", header=header)
    head, body = segment[:cp_at], segment[cp_at + 5:]
    if head and not head.endswith(";"):
        raise SegmentError("no ';' before CP=", header=header)
    if not body.endswith("&&"):
        raise SegmentError("CP does not end with &&", header=header)
    items = _split_header(head, quirks)
    for key in items.keys() - {"QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"}:
        quirks.append(f"unknown header field {key}")

    mn = items.get("MN", "")
    if not mn:
        raise SegmentError("no MN", qn_rtn=QN_MN_ERROR, header=header)
    if not _MN_EPC96.match(mn):
        quirks.append(f"MN {mn!r} is not 24 hex digits (EPC-96)")
    st = items.get("ST", "")
    if not _ST.match(st):
        raise SegmentError(f"ST {st!r} is not a system code", qn_rtn=QN_ST_ERROR, header=header)
    cn = items.get("CN", "")
    if not _CN.match(cn):
        raise SegmentError(f"CN {cn!r} is not 4 digits", qn_rtn=QN_CN_ERROR, header=header)
    qn = items.get("QN", "")
    if not qn:
        quirks.append("no QN")
    elif not _QN.match(qn):
        quirks.append(f"QN {qn!r} is not YYYYMMDDhhmmsszzz")
    if "PW" not in items:
        quirks.append("no PW")
    flag = _parse_flag(items.get("Flag"), quirks, header)
    pnum, pno = _parse_parts(items, flag, quirks, header)
    cp = parse_cp(body[:-2], quirks)
    return Packet(qn=qn, st=st, cn=cn, pw=items.get("PW", ""), mn=mn, flag=flag, pnum=pnum,
                  pno=pno, cp=cp, quirks=tuple(quirks))


def _parse_flag(text: str | None, quirks: list[str], header: PacketHeader | None) -> int:
    if text is None:
        # HJ/T 212-2005 packets often omit Flag: version 0, no answer wanted.
        quirks.append("no Flag (HJ/T 212-2005 style)")
        return 0
    if not text.isdigit() or not 0 <= int(text) <= 255:
        raise SegmentError(f"Flag {text!r} is not 0–255", qn_rtn=QN_FLAG_ERROR, header=header)
    flag = int(text)
    version = flag >> 2
    if version != 1:
        quirks.append(f"Flag={flag} has version bits {version:06b}, HJ 212-2017 is 000001")
    return flag


def _parse_parts(items: dict[str, str], flag: int, quirks: list[str],
                 header: PacketHeader | None) -> tuple[int | None, int | None]:
    if not flag & FLAG_D:
        if "PNUM" in items or "PNO" in items:
            quirks.append("PNUM/PNO without the D bit in Flag; ignored")
        return None, None
    pnum, pno = items.get("PNUM", ""), items.get("PNO", "")
    if not (pnum.isdigit() and pno.isdigit() and 1 <= int(pno) <= int(pnum)):
        raise SegmentError(f"Flag={flag} announces a split packet but PNUM={pnum!r}, "
                           f"PNO={pno!r}", qn_rtn=QN_FLAG_ERROR, header=header)
    return int(pnum), int(pno)


def parse_data_time(text: str) -> datetime:
    """``YYYYMMDDhhmmss`` (or with ``zzz`` ms) in China Standard Time → aware UTC.

    >>> parse_data_time("20250601110000").isoformat()
    '2025-06-01T03:00:00+00:00'
    """
    if not text.isdigit() or len(text) not in (14, 17):
        raise SegmentError(f"DataTime {text!r} is not YYYYMMDDhhmmss")
    try:
        t = datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=CST)
    except ValueError as err:
        raise SegmentError(f"DataTime {text!r} is not a date") from err
    return (t + timedelta(milliseconds=int(text[14:] or 0))).astimezone(UTC)


def parse_cp(text: str, quirks: list[str] | None = None) -> Cp:
    """Parse the inside of ``CP=&&…&&``: items split by ``;``, a factor's fields by ``,``.

    Deviations are appended to ``quirks``; the first of repeated keys wins.

    >>> cp = parse_cp("DataTime=20250601000000;Leq-Data=55.1;Ld-DayData=58.0,Ld-Flag=N")
    >>> cp.factors
    {'Leq': {'Data': '55.1'}, 'Ld': {'DayData': '58.0', 'Flag': 'N'}}
    """
    if quirks is None:
        quirks = []
    factors: dict[str, dict[str, str]] = {}
    fields: dict[str, str] = {}
    for item in text.split(";"):
        for piece in item.split(","):
            if not piece:
                continue
            key, eq, value = piece.partition("=")
            if not eq or not key:
                quirks.append(f"CP item {piece!r} is not key=value")
                continue
            code, dash, suffix = key.rpartition("-")
            if dash and code:
                subs = factors.setdefault(code, {})
                if suffix not in FACTOR_SUFFIXES:
                    quirks.append(f"unknown factor suffix in {key}")
                if suffix in subs:
                    quirks.append(f"CP key {key} repeated; the first is used")
                else:
                    subs[suffix] = value
            elif key in fields:
                quirks.append(f"CP key {key} repeated; the first is used")
            else:
                fields[key] = value
    data_time = None
    if "DataTime" in fields:
        try:
            data_time = parse_data_time(fields["DataTime"])
        except SegmentError as err:
            quirks.append(str(err))
    return Cp(data_time=data_time, factors=factors, fields=fields)


# --------------------------------------------------------------------------- readings


def packet_to_readings(packet: Packet, station_id: str,
                       params: ParameterTable) -> tuple[list[Reading], list[str]]:
    """Readings of a data packet, and the problems met (unknown codes, bad values, flags).

    Time semantics (standards.md §6): for CN 2011 ``DataTime`` is the sampling instant. For
    2051/2061/2031 it is the START of the period the average covers, and we stamp the
    reading with that start, unchanged: it is the label the logger, its platform and the
    standard use, it matches InfluxDB ``GROUP BY time()`` buckets and our CST hour/day
    windows (``cst_hour_start``), and joint inspections compare values by that label. The
    price: an aggregate arrives one period after its timestamp, so a consumer must not read
    it as "known at" that time.

    >>> from envmon.params import load_parameters
    >>> p = parse_segment("ST=21;CN=2061;MN=A;Flag=4;CP=&&DataTime=20250601110000;"
    ...                   "w21003-Avg=0.412,w21003-Flag=T;w99999-Avg=1&&")
    >>> readings, problems = packet_to_readings(p, "TZ_TOWN", load_parameters())
    >>> [(r.parameter, r.value, r.flag, r.time.isoformat()) for r in readings]
    [('nh3n', 0.412, 'T', '2025-06-01T03:00:00+00:00')]
    >>> problems
    ["unknown factor code 'w99999'"]
    """
    suffixes = _VALUE_SUFFIXES.get(packet.cn)
    if suffixes is None:
        return [], [f"CN {packet.cn} carries no readings"]
    t = packet.cp.data_time
    if t is None:
        return [], [f"CN {packet.cn} packet without a valid DataTime"]
    readings: list[Reading] = []
    problems: list[str] = []
    seen: set[str] = set()
    for code, subs in packet.cp.factors.items():
        try:
            param = params.by_hj212(code)
        except KeyError:
            problems.append(f"unknown factor code {code!r}")
            continue
        text = next((subs[s] for s in suffixes if s in subs), None)
        if text is None:
            problems.append(f"{code}: no {'/'.join(suffixes)} value for CN {packet.cn}")
            continue
        try:
            value = float(text)
        except ValueError:
            problems.append(f"{code}: value {text!r} is not a number")
            continue
        flag = subs.get("Flag") or "N"
        if flag in _FLAGS_2005:
            problems.append(f"{code}: 2005 flag {flag} read as {_FLAGS_2005[flag]}")
            flag = _FLAGS_2005[flag]
        if flag not in FLAGS:
            problems.append(f"{code}: unknown data flag {flag!r}")
            continue
        if param.name in seen:
            problems.append(f"{code}: second value for {param.name}; the first is used")
            continue
        try:
            readings.append(Reading(station_id, t, param.name, value, flag))
        except ReadingError as err:
            problems.append(f"{code}: {err}")
            continue
        seen.add(param.name)
    return readings, problems


# --------------------------------------------------------------------------- answers


class _Addressed(Protocol):
    @property
    def qn(self) -> str: ...
    @property
    def pw(self) -> str: ...
    @property
    def mn(self) -> str: ...
    @property
    def flag(self) -> int: ...


def _answer(to: _Addressed, cn: str, cp: str) -> bytes:
    # Echo QN, PW and MN so the logger can match the answer; keep its version bits but
    # never ask for an answer to an answer.
    qn = f"QN={to.qn};" if to.qn else ""
    flag = to.flag & ~(FLAG_A | FLAG_D)
    return encode_frame(f"{qn}ST={ST_INTERACTION};CN={cn};PW={to.pw};MN={to.mn};"
                        f"Flag={flag};CP=&&{cp}&&")


def answer_9011(packet: _Addressed, qn_rtn: int) -> bytes:
    """Request answer (CN 9011) with QnRtn, e.g. 4 = MN error, 9 = CRC error.

    >>> answer_9011(PacketHeader("20250601120000000", "21", "2061", "123456", "AB", 5), 4)
    b'##0072QN=20250601120000000;ST=91;CN=9011;PW=123456;MN=AB;Flag=4;CP=&&QnRtn=4&&CAC1\\r\\n'
    """
    if qn_rtn not in QN_RTN_CODES:
        raise EncodeError(f"QnRtn {qn_rtn} is not one of {sorted(QN_RTN_CODES)}")
    return _answer(packet, "9011", f"QnRtn={qn_rtn}")


def answer_9014(packet: _Addressed) -> bytes:
    """Data answer (CN 9014): the upload arrived.

    >>> answer_9014(PacketHeader("20250601120000000", "21", "2061", "123456",
    ...                          "330421A0000000000000A001", 5))
    b'##0087QN=20250601120000000;ST=91;CN=9014;PW=123456;MN=330421A0000000000000A001;Flag=4;CP=&&&&AF01\\r\\n'
    """
    return _answer(packet, "9014", "")


# --------------------------------------------------------------------------- split packets


class Reassembler:
    """Joins the parts of split packets (Flag D bit, PNUM/PNO) into one packet.

    Parts belong together when MN, QN, CN and PNUM agree. A group that is not complete
    within ``timeout`` seconds, or the oldest when more than ``max_pending`` groups wait, is
    dropped and counted in ``dropped``. The first of repeated parts is kept.

    >>> def part(no, cp):
    ...     return parse_segment(f"QN=20250601120000000;ST=21;CN=2011;PW=1;MN=A;Flag=6;"
    ...                          f"PNUM=2;PNO={no};CP=&&DataTime=20250601115900;{cp}&&")
    >>> r = Reassembler()
    >>> r.add(part(2, "w01009-Rtd=6.8"), now=0.0) is None
    True
    >>> whole = r.add(part(1, "w01001-Rtd=7.4"), now=1.0)
    >>> whole.flag, whole.pnum, sorted(whole.cp.factors)
    (4, None, ['w01001', 'w01009'])
    """

    def __init__(self, *, timeout: float = 120.0, max_pending: int = 64):
        if timeout <= 0 or max_pending < 1:
            raise ValueError("Reassembler needs timeout > 0 and max_pending >= 1")
        self.timeout = timeout
        self.max_pending = max_pending
        self.dropped = 0
        # key -> (first seen, parts by PNO); dicts keep insertion order = age.
        self._groups: dict[tuple[str, str, str, int], tuple[float, dict[int, Packet]]] = {}

    def add(self, packet: Packet, now: float) -> Packet | None:
        """Take one part; return the whole packet when this part completes it."""
        if packet.pnum is None or packet.pno is None:
            return packet
        for key in [k for k, (t0, _) in self._groups.items() if now - t0 > self.timeout]:
            del self._groups[key]
            self.dropped += 1
        key = (packet.mn, packet.qn, packet.cn, packet.pnum)
        if key not in self._groups:
            while len(self._groups) >= self.max_pending:
                del self._groups[next(iter(self._groups))]
                self.dropped += 1
            self._groups[key] = (now, {})
        parts = self._groups[key][1]
        parts.setdefault(packet.pno, packet)
        if len(parts) < packet.pnum:
            return None
        del self._groups[key]
        return _merge([parts[i] for i in sorted(parts)])


def _merge(parts: list[Packet]) -> Packet:
    first = parts[0]
    quirks = list(dict.fromkeys(q for p in parts for q in p.quirks))
    factors: dict[str, dict[str, str]] = {}
    fields: dict[str, str] = {}
    for p in parts:
        for key, value in p.cp.fields.items():
            if fields.setdefault(key, value) != value:
                quirks.append(f"parts disagree on {key}: {fields[key]!r} vs {value!r}")
        for code, subs in p.cp.factors.items():
            merged = factors.setdefault(code, {})
            for suffix, value in subs.items():
                merged.setdefault(suffix, value)
    data_time = next((p.cp.data_time for p in parts if p.cp.data_time), None)
    return replace(first, flag=first.flag & ~FLAG_D, pnum=None, pno=None,
                   cp=Cp(data_time, factors, fields), quirks=tuple(quirks))


# --------------------------------------------------------------------------- encoder


def format_data_time(t: datetime) -> str:
    """Aware datetime → ``YYYYMMDDhhmmss`` in China Standard Time.

    >>> from envmon.timeutil import parse_time
    >>> format_data_time(parse_time("2025-06-01T03:00:00Z"))
    '20250601110000'
    """
    if t.tzinfo is None:
        raise EncodeError("DataTime needs an aware datetime")
    return t.astimezone(CST).strftime("%Y%m%d%H%M%S")


def make_qn(t: datetime) -> str:
    """QN ``YYYYMMDDhhmmsszzz`` (CST, milliseconds) for a request sent at ``t``.

    >>> from envmon.timeutil import parse_time
    >>> make_qn(parse_time("2025-06-01T04:00:00.25Z"))
    '20250601120000250'
    """
    return format_data_time(t) + f"{t.microsecond // 1000:03d}"


def format_value(value: float) -> str:
    """A number as loggers write it: fixed point, no exponent, no trailing zeros.

    >>> [format_value(v) for v in (520.0, 0.412, 1e-05, -3)]
    ['520', '0.412', '0.00001', '-3']
    """
    if isinstance(value, bool) or not math.isfinite(value):
        raise EncodeError(f"cannot send {value!r} as an HJ 212 value")
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    elif text.endswith(".0"):
        text = text[:-2]
    return text


def build_data_segment(*, st: str, cn: str, mn: str, data_time: datetime | None,
                       factors: Mapping[str, Mapping[str, object]], pw: str = "123456",
                       qn: str | None = None, flag: int = FLAG_V2017, pnum: int | None = None,
                       pno: int | None = None) -> str:
    """Data segment for an upload: header, ``DataTime`` and the factors' fields in order.

    Numbers go through :func:`format_value`, other values are written as text.

    >>> from envmon.timeutil import parse_time
    >>> build_data_segment(st="23", cn="2011", mn="330421A0000000000000B001", flag=4,
    ...                    qn="20250601230000000", data_time=parse_time("2025-06-01T15:00:00Z"),
    ...                    factors={"LA": {"Rtd": 52.3, "Flag": "N"}})
    'QN=20250601230000000;ST=23;CN=2011;PW=123456;MN=330421A0000000000000B001;Flag=4;CP=&&DataTime=20250601230000;LA-Rtd=52.3,LA-Flag=N&&'
    """
    if not _ST.match(st) or not _CN.match(cn) or not mn or not 0 <= flag <= 255:
        raise EncodeError(f"bad header: ST={st!r} CN={cn!r} MN={mn!r} Flag={flag!r}")
    if bool(flag & FLAG_D) != (pnum is not None and pno is not None):
        raise EncodeError("PNUM and PNO go with the D bit of Flag, and only with it")
    head = [f"QN={qn}"] if qn else []
    head += [f"ST={st}", f"CN={cn}", f"PW={pw}", f"MN={mn}", f"Flag={flag}"]
    if pnum is not None:
        head += [f"PNUM={pnum}", f"PNO={pno}"]
    items = [f"DataTime={format_data_time(data_time)}"] if data_time is not None else []
    for code, subs in factors.items():
        parts = []
        for suffix, value in subs.items():
            text = format_value(value) if isinstance(value, int | float) else str(value)
            if any(c in text for c in ";,=&"):
                raise EncodeError(f"{code}-{suffix} value {text!r} contains CP syntax")
            parts.append(f"{code}-{suffix}={text}")
        items.append(",".join(parts))
    return ";".join(head) + ";CP=&&" + ";".join(items) + "&&"


def _roll_up_flag(flags: Sequence[str]) -> str:
    # Wastewater rule of the standard (the strict one): any abnormal value makes the
    # aggregate abnormal; we report the most frequent abnormal flag.
    bad = Counter(f for f in flags if f != "N")
    return bad.most_common(1)[0][0] if bad else "N"


def _aggregate(code: str, values: list[float], noise: bool) -> dict[str, object]:
    if not noise:
        return {"Min": min(values), "Avg": round(sum(values) / len(values), 6),
                "Max": max(values)}
    if code == "LMx":
        return {"Data": max(values)}
    if code == "LMn":
        return {"Data": min(values)}
    # Levels add as energies: Leq over the period is the log of the mean power.
    mean = sum(10 ** (v / 10) for v in values) / len(values)
    return {"Data": round(10 * math.log10(mean), 1)}


def readings_to_packet(readings: Sequence[Reading], *, mn: str, st: str,
                       params: ParameterTable, cn: str = CN_REALTIME,
                       data_time: datetime | None = None, pw: str = "123456",
                       qn: str | None = None, flag: int = FLAG_V2017) -> bytes:
    """One station's readings as an upload frame, for a simulated data logger.

    CN 2011: the readings share one time, sent as ``-Rtd``/``-Flag``. CN 2051/2061/2031:
    ``data_time`` is the period START; the readings of the period are aggregated to
    ``-Min/-Avg/-Max`` (noise: energy-mean ``Leq-Data``, ``LMx-Data``) with the flag rolled
    up. QN defaults to the DataTime, which keeps the output deterministic.

    >>> from envmon.params import load_parameters
    >>> from envmon.timeutil import parse_time
    >>> t = parse_time("2025-06-01T15:00:00Z")
    >>> frame = readings_to_packet([Reading("N1", t, "laeq", 52.3)],
    ...                            mn="330421A0000000000000B001", st="23",
    ...                            params=load_parameters())
    >>> frame[-6:]
    b'C741\\r\\n'
    """
    if not readings:
        raise EncodeError("no readings to send")
    if len({r.station for r in readings}) != 1:
        raise EncodeError("one packet carries one station's readings")
    factors: dict[str, dict[str, object]] = {}
    if cn == CN_REALTIME:
        times = {r.time for r in readings}
        if len(times) != 1:
            raise EncodeError("CN 2011 readings must share one sampling time")
        data_time = data_time or times.pop()
        for r in readings:
            factors.setdefault(_code(params, r.parameter), {"Rtd": r.value, "Flag": r.flag})
    elif cn in DATA_CNS:
        if data_time is None:
            raise EncodeError(f"CN {cn} needs data_time, the start of the period")
        by_param: dict[str, list[Reading]] = {}
        for r in readings:
            by_param.setdefault(r.parameter, []).append(r)
        for name, rs in by_param.items():
            noise = params[name].medium == "noise" if name in params else False
            code = _code(params, name, aggregate=noise)
            subs = _aggregate(code, [r.value for r in rs], noise)
            subs["Flag"] = _roll_up_flag([r.flag for r in rs])
            factors[code] = subs
    else:
        raise EncodeError(f"CN {cn} is not a data upload ({', '.join(sorted(DATA_CNS))})")
    segment = build_data_segment(st=st, cn=cn, mn=mn, pw=pw, flag=flag, data_time=data_time,
                                 qn=qn or make_qn(data_time), factors=factors)
    return encode_frame(segment)


def _code(params: ParameterTable, name: str, *, aggregate: bool = False) -> str:
    if name not in params or not params[name].hj212:
        raise EncodeError(f"parameter {name!r} has no HJ 212 factor code")
    p = params[name]
    # Noise: real-time data is LA-Rtd, interval data is Leq-Data (N3.1).
    return (p.hj212_alt or p.hj212) if aggregate and p.hj212 == "LA" else p.hj212
