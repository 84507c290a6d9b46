"""HJ 212 framing and CRC: the verified packets of standards.md §6.1 and stream properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.hj212 import (
    MAX_SEGMENT,
    Frame,
    FrameDecoder,
    FrameError,
    FrameFault,
    answer_9014,
    crc16,
    encode_frame,
    parse_segment,
)

# shared/reference/standards.md §6.1 "Packets verified", copied verbatim (CRLF added to #2,
# whose source shows it as a Java string escape).
OFFICIAL_1062 = (
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&1C80\r\n"
)
ALLTOBS_2011 = (
    b"##0435QN=20210301111100112;ST=21;CN=2011;PW=123456;MN=ZLDSZ20210127;Flag=8;"
    b"CP=&&DataTime=20210301111100;w01001-Rtd=8.33,w01001-Flag=N;w01009-Rtd=10.15,"
    b"w01009-Flag=N;w01010-Rtd=9.7,w01010-Flag=N;w01014-Rtd=1425,w01014-Flag=N;"
    b"w01003-Rtd=13.10,w01003-Flag=N;w21011-Rtd=0,w21011-Flag=N;w21001-Rtd=3.563168,"
    b"w21001-Flag=N;w21003-Rtd=0.09055002,w21003-Flag=N;w01019-Rtd=4.102818,w01019-Flag=N;"
    b"w01008-Rtd=0,w01008-Flag=N;w23002-Rtd=0,w23002-Flag=N&&7d00\r\n"
)
PROJECT_2061 = (
    b"##0290QN=20250601120000000;ST=21;CN=2061;PW=123456;MN=330421A0000000000000A001;"
    b"Flag=5;CP=&&DataTime=20250601110000;w01001-Avg=7.42,w01001-Flag=N;w01009-Avg=6.85,"
    b"w01009-Flag=N;w01019-Avg=4.1,w01019-Flag=N;w21003-Avg=0.412,w21003-Flag=N;"
    b"w21011-Avg=0.118,w21011-Flag=N;w01014-Avg=520,w01014-Flag=N&&9B81\r\n"
)
PROJECT_NOISE_2011 = (
    b"##0132QN=20250601230000000;ST=23;CN=2011;PW=123456;MN=330421A0000000000000B001;"
    b"Flag=4;CP=&&DataTime=20250601230000;LA-Rtd=52.3,LA-Flag=N&&C741\r\n"
)
PROJECT_ANSWER_9014 = (
    b"##0087QN=20250601120000000;ST=91;CN=9014;PW=123456;MN=330421A0000000000000A001;"
    b"Flag=4;CP=&&&&AF01\r\n"
)
VERIFIED = [OFFICIAL_1062, ALLTOBS_2011, PROJECT_2061, PROJECT_NOISE_2011, PROJECT_ANSWER_9014]


def _segment(packet: bytes) -> bytes:
    return packet[6:-6]


def test_crc_check_value_is_not_modbus():
    assert crc16(b"123456789") == 0x2F80
    assert crc16(b"") == 0xFFFF


@pytest.mark.parametrize("packet", VERIFIED, ids=["1062", "alltobs", "2061", "noise", "9014"])
def test_verified_packets_length_and_crc(packet):
    seg = _segment(packet)
    assert int(packet[2:6]) == len(seg)
    assert crc16(seg) == int(packet[-6:-2], 16)
    # Our encoder writes upper-case hex; the alltobs packet carries lower-case "7d00".
    assert encode_frame(seg.decode()) == packet[:-6] + packet[-6:-2].upper() + b"\r\n"
    results = FrameDecoder().feed(packet)
    assert results == [Frame(seg.decode(), packet)]


def test_verified_modbus_values_would_differ():
    # standards.md lists what Modbus would give; guard against "fixing" the CRC to Modbus.
    assert crc16(_segment(OFFICIAL_1062)) != 0x0759
    assert crc16(_segment(ALLTOBS_2011)) != 0xC170


def test_verified_answer_is_built_from_the_hourly_packet():
    packet = parse_segment(_segment(PROJECT_2061).decode())
    assert answer_9014(packet) == PROJECT_ANSWER_9014


def test_decoder_all_verified_packets_in_one_stream_split_bytewise():
    stream = b"".join(VERIFIED)
    d = FrameDecoder()
    frames = [r for i in range(len(stream)) for r in d.feed(stream[i:i + 1])]
    assert [f.raw for f in frames] == VERIFIED
    assert d.pending == 0


def test_encode_frame_refuses_oversize_and_counts_utf8_bytes():
    with pytest.raises(FrameError):
        encode_frame("x" * (MAX_SEGMENT + 1))
    assert encode_frame("水")[:6] == b"##0003"
    assert len(encode_frame("x" * MAX_SEGMENT)) == MAX_SEGMENT + 12


def _kinds(results):
    return [r.kind if isinstance(r, FrameFault) else "frame" for r in results]


def test_decoder_faults_and_resync():
    good = encode_frame("QN=1;CP=&&&&")
    bad_crc = good[:-6] + b"0000\r\n"
    lower = good[:-6] + good[-6:-2].lower() + b"\r\n"
    short_len = b"##0011" + good[6:]  # length one less than the segment
    oversize = b"##1025" + b"x" * 20
    not_digits = b"##01x3QN=1"
    stream = b"junk" + bad_crc + lower + short_len + oversize + not_digits + b"#" + good
    d = FrameDecoder()
    kinds = _kinds(d.feed(stream))
    assert kinds[0] == "garbage"
    assert [k for k in kinds if k != "garbage"] == [
        "bad_crc", "frame", "bad_length", "oversize", "bad_length", "bad_length", "frame"]
    assert d.pending == 0


def test_bad_crc_fault_keeps_the_segment_for_an_answer():
    bad = encode_frame("QN=1;MN=AB;Flag=5;CP=&&&&")[:-6] + b"ABCD\r\n"
    (fault,) = FrameDecoder().feed(bad)
    assert fault.kind == "bad_crc" and fault.segment == "QN=1;MN=AB;Flag=5;CP=&&&&"


def test_non_utf8_segment_is_a_fault_not_an_exception():
    seg = b"QN=\xff\xfe;CP=&&&&"
    raw = b"##%04d%s%04X\r\n" % (len(seg), seg, crc16(seg))
    assert _kinds(FrameDecoder().feed(raw)) == ["bad_encoding"]


def test_finish_reports_truncated_and_recovers_frames_inside():
    good = encode_frame("QN=2;CP=&&&&")
    d = FrameDecoder()
    # A header announcing more than ever arrives hides the good frame until the stream ends.
    assert d.feed(b"##0900" + good) == []
    kinds = _kinds(d.finish())
    assert kinds[0] == "truncated" and kinds[-1] == "frame"
    assert d.pending == 0


# ----------------------------------------------------------------- properties

segments = st.text(st.characters(codec="utf-8"), max_size=400).filter(
    lambda s: len(s.encode()) <= MAX_SEGMENT)
ascii_segments = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=1024)


@given(st.one_of(segments, ascii_segments))
def test_round_trip(segment):
    assert FrameDecoder().feed(encode_frame(segment)) == [Frame(segment, encode_frame(segment))]


def _frames(results):
    return [r.segment for r in results if isinstance(r, Frame)]


@given(st.lists(segments, max_size=5), st.data())
@settings(max_examples=200)
def test_split_at_arbitrary_points_gives_the_same_frames(segs, data):
    stream = b"".join(encode_frame(s) for s in segs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    d = FrameDecoder()
    results = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        results += d.feed(stream[a:b])
    assert _frames(results) == segs
    assert d.pending == 0


@given(st.lists(st.tuples(st.binary(max_size=60), segments), max_size=5), st.binary(max_size=60),
       st.data())
@settings(max_examples=300)
def test_garbage_between_frames_never_hides_valid_frames(pairs, tail, data):
    stream = b"".join(g + encode_frame(s) for g, s in pairs) + tail
    whole = FrameDecoder()
    whole_results = whole.feed(stream) + whole.finish()
    expected = _frames(whole_results)
    # Garbage may itself contain a frame-looking prefix, but every real frame is found, in
    # order (a subsequence check allows a lucky frame inside the garbage).
    it = iter(expected)
    assert all(any(s == e for e in it) for _, s in pairs)
    # Chunking does not change what is found.
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    d = FrameDecoder()
    results = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        results += d.feed(stream[a:b])
    results += d.finish()
    assert _frames(results) == expected
    assert [r.kind for r in results if isinstance(r, FrameFault) and r.kind != "garbage"] == [
        r.kind for r in whole_results if isinstance(r, FrameFault) and r.kind != "garbage"]


@given(segments, st.integers(0, 0xFFFF), st.booleans())
def test_mutated_crc_always_rejected(segment, crc, lower):
    frame = encode_frame(segment)
    if crc == int(frame[-6:-2], 16):
        crc ^= 0x0001
    text = b"%04x" % crc if lower else b"%04X" % crc
    results = FrameDecoder().feed(frame[:-6] + text + b"\r\n")
    assert not any(isinstance(r, Frame) for r in results)
    assert results[0].kind == "bad_crc"


@given(segments.filter(bool), st.data())
def test_mutated_segment_byte_always_rejected(segment, data):
    frame = bytearray(encode_frame(segment))
    n = len(segment.encode())
    i = data.draw(st.integers(6, 6 + n - 1))
    frame[i] ^= data.draw(st.integers(1, 255))
    d = FrameDecoder()
    results = d.feed(bytes(frame)) + d.finish()
    # CRC-16 detects every error burst of up to 16 bits.
    assert results[0].kind == "bad_crc"
    assert not any(isinstance(r, Frame) and r.segment == segment for r in results)
