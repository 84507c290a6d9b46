"""HJ 212 packets → readings: CP forms, flags, time semantics, answers, split packets, encoder."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envmon.params import load_parameters
from envmon.reading import Reading
from envmon.timeutil import parse_time
from ingest.hj212 import (
    EncodeError,
    FrameDecoder,
    Reassembler,
    SegmentError,
    answer_9011,
    answer_9014,
    build_data_segment,
    needs_answer,
    packet_to_readings,
    parse_cp,
    parse_segment,
    peek_header,
    readings_to_packet,
)

PARAMS = load_parameters()
MN = "330421A0000000000000A001"
HEAD = f"QN=20250601120000000;ST=21;CN={{cn}};PW=123456;MN={MN};Flag=5;CP=&&"


def packet(cn: str, cp: str):
    return parse_segment(HEAD.format(cn=cn) + cp + "&&")


def test_header_fields_and_flag_bits():
    p = packet("2061", "DataTime=20250601110000;w01001-Avg=7.42,w01001-Flag=N")
    assert (p.qn, p.st, p.cn, p.pw, p.mn, p.flag) == (
        "20250601120000000", "21", "2061", "123456", MN, 5)
    assert p.pnum is None and p.pno is None and p.quirks == ()
    assert needs_answer(p.flag) and not p.is_split


def test_quirks_are_recorded_not_rejected():
    p = parse_segment("QN=2021;ST=21;CN=2011;MN=ZLDSZ20210127;Flag=8;PNO=1;X=1;"
                      "CP=&&DataTime=2021;w01001-Rtd=1,w01001-Foo=2;junk&&")
    text = "\n".join(p.quirks)
    for expected in ("not 24 hex", "version bits 000010", "QN '2021'", "no PW",
                     "PNUM/PNO without the D bit", "unknown header field X",
                     "unknown factor suffix in w01001-Foo", "'junk' is not key=value",
                     "DataTime '2021'"):
        assert expected in text
    assert p.cp.data_time is None


def test_2005_packet_without_qn_and_flag():
    p = parse_segment("ST=31;CN=2011;PW=123456;MN=63010000020001;CP=&&B02-Rtd=9.8&&")
    assert p.flag == 0 and not needs_answer(p.flag)
    assert p.cp.factors == {"B02": {"Rtd": "9.8"}}


@pytest.mark.parametrize("segment, rtn", [
    ("ST=21;CN=2011;Flag=5;CP=&&&&", 4),
    ("ST=2x;CN=2011;MN=A;Flag=5;CP=&&&&", 5),
    ("ST=21;CN=201;MN=A;Flag=5;CP=&&&&", 8),
    ("ST=21;CN=2011;MN=A;Flag=300;CP=&&&&", 6),
    ("ST=21;CN=2011;MN=A;Flag=7;PNUM=2;PNO=3;CP=&&&&", 6),
    ("ST=21;CN=2011;MN=A;Flag=5;CP=&&DataTime=1", 2),
    ("ST=21;CN=2011;MN=A;Flag=5", 2),
])
def test_invalid_segments_raise_with_qn_rtn(segment, rtn):
    with pytest.raises(SegmentError) as info:
        parse_segment(segment)
    assert info.value.qn_rtn == rtn


def test_segment_error_keeps_the_address_for_an_answer():
    with pytest.raises(SegmentError) as info:
        parse_segment("QN=20250601120000000;ST=21;CN=20x1;PW=1;MN=AB;Flag=5;CP=&&&&")
    assert info.value.header == peek_header(
        "QN=20250601120000000;ST=21;CN=20x1;PW=1;MN=AB;Flag=5;CP=&&&&")
    answer = answer_9011(info.value.header, info.value.qn_rtn)
    assert b";CN=9011;" in answer and b"QnRtn=8" in answer and b"Flag=4;" in answer


def test_cp_factor_forms():
    cp = parse_cp("DataTime=20250601000000;w01018-Rtd=20.1,w01018-Min=18,w01018-Avg=19.5,"
                  "w01018-Max=21,w01018-Cou=3.2,w01018-Flag=N,w01018-EFlag=A01,"
                  "w01018-SampleTime=20250601000500;L5-Data=60;Leq-Data=55.2;"
                  "Ld-DayData=58.1;Ln-NightData=49.3;Ldn-Data=57;RtdInterval=30")
    assert cp.factors["w01018"] == {"Rtd": "20.1", "Min": "18", "Avg": "19.5", "Max": "21",
                                    "Cou": "3.2", "Flag": "N", "EFlag": "A01",
                                    "SampleTime": "20250601000500"}
    assert cp.factors["Ld"] == {"DayData": "58.1"}
    assert cp.factors["Ln"] == {"NightData": "49.3"}
    assert cp.fields == {"DataTime": "20250601000000", "RtdInterval": "30"}
    assert cp.data_time == parse_time("2025-06-01T00:00:00+08:00")


def test_2011_is_the_sampling_instant_and_flags_are_carried():
    p = packet("2011", "DataTime=20250601115930;w01001-Rtd=7.4,w01001-Flag=N;"
                       "w21003-Rtd=0.41,w21003-Flag=M;w01018-Rtd=19,w01018-Flag=T;"
                       "w01009-Avg=6.1")
    readings, problems = packet_to_readings(p, "TZ_TOWN", PARAMS)
    t = parse_time("2025-06-01T11:59:30+08:00")
    assert readings == [Reading("TZ_TOWN", t, "ph", 7.4, "N"),
                        Reading("TZ_TOWN", t, "nh3n", 0.41, "M"),
                        Reading("TZ_TOWN", t, "cod", 19.0, "T")]
    assert problems == ["w01009: no Rtd value for CN 2011"]


@pytest.mark.parametrize("cn", ["2051", "2061", "2031"])
def test_aggregates_are_stamped_at_the_period_start(cn):
    p = packet(cn, "DataTime=20250601110000;w21003-Min=0.3,w21003-Avg=0.412,w21003-Max=0.5,"
                   "w21003-Flag=D")
    readings, problems = packet_to_readings(p, "TZ_TOWN", PARAMS)
    assert readings == [Reading("TZ_TOWN", parse_time("2025-06-01T03:00:00Z"), "nh3n", 0.412,
                                "D")]
    assert problems == []


def test_noise_realtime_and_interval_forms():
    rt = parse_segment("ST=23;CN=2011;PW=1;MN=B;Flag=4;CP=&&DataTime=20250601230000;"
                       "LA-Rtd=52.3,LA-Flag=N&&")
    assert packet_to_readings(rt, "N1", PARAMS)[0] == [
        Reading("N1", parse_time("2025-06-01T15:00:00Z"), "laeq", 52.3)]
    hour = parse_segment("ST=23;CN=2061;PW=1;MN=B;Flag=4;CP=&&DataTime=20250601220000;"
                         "L5-Data=60.1;L50-Data=50;Leq-Data=55.5;LMx-Data=71.2;"
                         "Ld-DayData=58;Ln-NightData=49&&")
    readings, problems = packet_to_readings(hour, "N1", PARAMS)
    t = parse_time("2025-06-01T22:00:00+08:00")
    assert readings == [Reading("N1", t, "laeq", 55.5), Reading("N1", t, "lmax", 71.2)]
    # Codes without a parameter are reported, never silently dropped.
    assert problems == ["unknown factor code 'L5'", "unknown factor code 'L50'",
                        "unknown factor code 'Ld'", "unknown factor code 'Ln'"]


def test_unknown_codes_bad_values_and_flags_are_problems():
    p = packet("2011", "DataTime=20250601115900;w99999-Rtd=1;w01001-Rtd=abc;"
                       "w01009-Rtd=6,w01009-Flag=X;w01018-Rtd=nan;w21003-Rtd=0.2,w21003-Flag=P")
    readings, problems = packet_to_readings(p, "TZ_TOWN", PARAMS)
    assert [(r.parameter, r.flag) for r in readings] == [("nh3n", "F")]
    assert problems == [
        "unknown factor code 'w99999'", "w01001: value 'abc' is not a number",
        "w01009: unknown data flag 'X'",
        "w01018: value of cod is not a finite number: nan",
        "w21003: 2005 flag P read as F"]


def test_non_data_cn_and_missing_datatime():
    assert packet_to_readings(packet("2021", "DataTime=20250601110000"), "S", PARAMS) == (
        [], ["CN 2021 carries no readings"])
    assert packet_to_readings(packet("2011", "w01001-Rtd=7"), "S", PARAMS) == (
        [], ["CN 2011 packet without a valid DataTime"])


def test_answers():
    p = packet("2061", "DataTime=20250601110000")
    assert answer_9014(p) == (
        b"##0087QN=20250601120000000;ST=91;CN=9014;PW=123456;MN=330421A0000000000000A001;"
        b"Flag=4;CP=&&&&AF01\r\n")
    answer = parse_segment(FrameDecoder().feed(answer_9011(p, 9))[0].segment)
    assert (answer.st, answer.cn, answer.qn, answer.flag, answer.cp.fields) == (
        "91", "9011", p.qn, 4, {"QnRtn": "9"})
    with pytest.raises(EncodeError):
        answer_9011(p, 42)


def _part(pno: int, cp: str, pnum: int = 2, qn: str = "20250601120000000"):
    return parse_segment(f"QN={qn};ST=21;CN=2011;PW=1;MN={MN};Flag=7;PNUM={pnum};PNO={pno};"
                         f"CP=&&DataTime=20250601115900;{cp}&&")


def test_reassembly_joins_parts_in_any_order_and_expires():
    r = Reassembler(timeout=10, max_pending=2)
    assert r.add(_part(2, "w01009-Rtd=6.8"), now=0) is None
    assert r.add(_part(2, "w01009-Rtd=9.9"), now=0) is None  # a resent part: first kept
    whole = r.add(_part(1, "w01001-Rtd=7.4,w01001-Flag=N"), now=1)
    assert whole is not None and whole.flag == 5 and whole.pnum is None
    readings, problems = packet_to_readings(whole, "TZ_TOWN", PARAMS)
    assert {(x.parameter, x.value) for x in readings} == {("ph", 7.4), ("do", 6.8)}
    assert problems == []
    # An incomplete group is dropped after the timeout; the oldest when too many wait.
    assert r.add(_part(1, "w01001-Rtd=1", qn="20250601120000001"), now=0) is None
    assert r.add(_part(2, "w01001-Rtd=1", qn="20250601120000001"), now=20) is None
    assert r.dropped == 1
    r.add(_part(1, "w01001-Rtd=1", pnum=3, qn="20250601120000002"), now=21)
    r.add(_part(1, "w01001-Rtd=1", pnum=3, qn="20250601120000003"), now=21)
    assert r.dropped == 2
    unsplit = packet("2011", "")
    assert r.add(unsplit, now=22) is unsplit


def test_encoder_reproduces_the_verified_hourly_packet():
    seg = build_data_segment(
        st="21", cn="2061", mn=MN, flag=5, qn="20250601120000000",
        data_time=parse_time("2025-06-01T11:00:00+08:00"),
        factors={code: {"Avg": v, "Flag": "N"} for code, v in [
            ("w01001", 7.42), ("w01009", 6.85), ("w01019", 4.1), ("w21003", 0.412),
            ("w21011", 0.118), ("w01014", 520.0)]})
    assert seg.endswith("w01014-Avg=520,w01014-Flag=N&&")
    assert parse_segment(seg).cp.factors["w21003"] == {"Avg": "0.412", "Flag": "N"}
    from tests.unit.test_hj212_codec import PROJECT_2061
    assert seg.encode() == PROJECT_2061[6:-6]


def test_encoder_refuses_bad_input():
    t = parse_time("2025-06-01T03:00:00Z")
    with pytest.raises(EncodeError):
        readings_to_packet([], mn=MN, st="21", params=PARAMS)
    with pytest.raises(EncodeError):
        readings_to_packet([Reading("A", t, "level", 1.0)], mn=MN, st="21", params=PARAMS)
    with pytest.raises(EncodeError):
        readings_to_packet([Reading("A", t, "ph", 7.0)], mn=MN, st="21", params=PARAMS,
                           cn="2061")
    with pytest.raises(EncodeError):
        build_data_segment(st="21", cn="2011", mn=MN, data_time=t, flag=6,
                           factors={"w01001": {"Rtd": 7}})
    with pytest.raises(EncodeError):
        build_data_segment(st="21", cn="2011", mn=MN, data_time=t,
                           factors={"w01001": {"Info": "a;b"}})


def test_hourly_encoder_aggregates_and_rolls_up_flags():
    start = parse_time("2025-06-01T11:00:00+08:00")
    rs = [Reading("A", parse_time(f"2025-06-01T11:{m:02d}:00+08:00"), "nh3n", v, f)
          for m, v, f in [(0, 0.3, "N"), (20, 0.5, "N"), (40, 0.4, "M")]]
    rs += [Reading("A", start, "laeq", 50.0), Reading("A", start, "laeq", 60.0)]
    frame = readings_to_packet(rs, mn=MN, st="21", params=PARAMS, cn="2061", data_time=start)
    p = parse_segment(FrameDecoder().feed(frame)[0].segment)
    assert p.cp.factors["w21003"] == {"Min": "0.3", "Avg": "0.4", "Max": "0.5", "Flag": "M"}
    assert p.cp.factors["Leq"] == {"Data": "57.4", "Flag": "N"}  # energy mean, not 55
    readings, _ = packet_to_readings(p, "A", PARAMS)
    assert {(r.parameter, r.value, r.flag, r.time) for r in readings} == {
        ("nh3n", 0.4, "M", start), ("laeq", 57.4, "N", start)}


names = st.sampled_from(["ph", "do", "cond", "turb", "codmn", "cod", "nh3n", "tp", "tn", "flow"])
values = st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 4))
flags = st.sampled_from("NFMSDCTB")


@given(st.dictionaries(names, st.tuples(values, flags), min_size=1),
       st.datetimes(min_value=parse_time("2000-01-01T00:00:00Z").replace(tzinfo=None),
                    max_value=parse_time("2099-01-01T00:00:00Z").replace(tzinfo=None)))
def test_realtime_readings_round_trip(data, when):
    t = when.replace(microsecond=0, tzinfo=parse_time("2000-01-01T00:00:00Z").tzinfo)
    rs = [Reading("TZ_TOWN", t, name, v, f) for name, (v, f) in data.items()]
    frame = readings_to_packet(rs, mn=MN, st="21", params=PARAMS)
    (decoded,) = FrameDecoder().feed(frame)
    back, problems = packet_to_readings(parse_segment(decoded.segment), "TZ_TOWN", PARAMS)
    assert back == rs and problems == []
