"""Quality control at the ingest gate: every bad input is rejected with a counted reason,
and the good values around it are kept."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envmon.params import load_parameters
from envmon.reading import Reading
from envmon.stations import load_registry
from envmon.timeutil import parse_time
from ingest.decode import REASONS, QualityGate
from ingest.lines import to_lines

NOW = parse_time("2026-07-14T00:00:00Z")
REG = load_registry()
GATE = QualityGate(REG, load_parameters(), now=lambda: NOW)
TOPIC = "envmon/v1/jiashan/water/TZ_TOWN/data"


def payload(**kw) -> bytes:
    doc = {"ts": "2026-07-13T23:55:00Z", "seq": 1, "values": {"cod": 18.2, "nh3n": 0.4}}
    doc.update(kw)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        ("envmon/v1/jiashan/water/TZ_TOWN", payload(), "bad_topic"),
        ("envmon/v1/jiashan/water/NOPE/data", payload(), "unknown_station"),
        ("envmon/v1/qingpu/water/TZ_TOWN/data", payload(), "topic_mismatch"),
        ("envmon/v1/jiashan/air/TZ_TOWN/data", payload(), "topic_mismatch"),
        (TOPIC, payload(station="XT_TOWN"), "station_mismatch"),
        (TOPIC, b"{not json", "malformed_payload"),
        (TOPIC, b"\xff\xfe", "malformed_payload"),
        (TOPIC, b"[1, 2]", "bad_schema"),
        (TOPIC, payload(ts="2026-07-13 23:55"), "bad_timestamp"),
        (TOPIC, payload(ts=17), "bad_timestamp"),
        (TOPIC, payload(ts="2026-07-14T00:10:00Z"), "future_timestamp"),
        (TOPIC, b"{" + b'"pad": "' + b"x" * 300_000 + b'"}', "oversize"),
    ],
)
def test_message_rejections(topic: str, body: bytes, reason: str) -> None:
    out = GATE.decode(topic, body)
    assert out.readings == []
    assert [r.reason for r in out.rejections] == [reason]
    assert reason in REASONS


@pytest.mark.parametrize(
    ("values", "extra", "reason"),
    [
        ({"xyz": 1.0}, {}, "unknown_parameter"),
        ({"pm25": 10.0}, {}, "wrong_medium"),
        ({"cod": "high"}, {}, "bad_value"),
        ({"cod": None}, {}, "bad_value"),
        ({"cod": 1e9}, {}, "impossible_value"),
        ({"ph": -1.0}, {}, "impossible_value"),
        ({"cod": 5.0}, {"units": {"cod": "g/L"}}, "wrong_unit"),
        ({"cod": 5.0}, {"flags": {"cod": "Q"}}, "bad_flag"),
        ({'cod,station=OF_XT_RAIN': 5.0}, {}, "injection"),
        ({"cod x=1": 5.0}, {}, "injection"),
        ({"cod\n": 5.0}, {}, "injection"),
    ],
)
def test_value_rejections_keep_the_good_values(values: dict, extra: dict, reason: str) -> None:
    body = payload(values={"do": 6.1, **values}, **extra)
    out = GATE.decode(TOPIC, body)
    assert [r.reason for r in out.rejections] == [reason]
    assert [(r.parameter, r.value) for r in out.readings] == [("do", 6.1)]


def test_out_of_range_kept_and_flagged_units_converted() -> None:
    out = GATE.decode(TOPIC, payload(values={"cod": 1500.0, "cond": 0.5}, units={"cond": "mS/cm"}))
    assert out.rejections == []
    got = {r.parameter: (r.value, r.flag) for r in out.readings}
    assert got == {"cod": (1500.0, "T"), "cond": (500.0, "N")}


def test_batch_backfill_and_late_data() -> None:
    body = json.dumps({"readings": [
        {"ts": "2026-07-10T00:00:00Z", "seq": 1, "values": {"cod": 10.0}},
        {"ts": "bad", "seq": 2, "values": {"cod": 11.0}},
        {"ts": "2026-07-13T23:59:00Z", "seq": 3, "values": {"cod": 12.0}, "flags": {"cod": "C"}},
    ]}).encode()
    out = GATE.decode(TOPIC, body)
    assert [(r.value, r.flag) for r in out.readings] == [(10.0, "N"), (12.0, "C")]
    assert [r.reason for r in out.rejections] == ["bad_timestamp"]
    assert out.late == 1


def test_tags_come_from_the_registry_not_the_payload() -> None:
    out = GATE.decode(TOPIC, payload(values={"cod": 1.0}, jurisdiction="qingpu", kind="x,y=z"))
    (ln,) = to_lines(out.readings, REG)
    assert ln.startswith("water,jurisdiction=jiashan,kind=river_section,river=陶庄塘,station=TZ_TOWN cod=1.0 ")


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(body: bytes) -> None:
    out = GATE.decode(TOPIC, body)
    # anything that is not a well-formed reading with values is rejected, with a known reason
    assert out.rejections or out.readings or b"values" in body
    for r in out.rejections:
        assert r.reason in REASONS


@given(st.dictionaries(st.text(max_size=40), st.one_of(st.floats(allow_nan=True), st.text(max_size=10),
                                                        st.integers(), st.none()), max_size=8))
def test_arbitrary_values_either_kept_or_rejected_with_reason(values: dict) -> None:
    out = GATE.decode(TOPIC, payload(values=values))
    assert len(out.readings) + len(out.rejections) == len(values)
    for ln in to_lines(out.readings, REG):
        # one space before fields, one before the timestamp: a name cannot add a tag or field
        assert ln.count(" ") == 2 or "\\ " in ln


def test_an_integer_beyond_any_float_is_a_bad_value_not_a_crash() -> None:
    # json.loads gives a Python int that float() cannot hold; it used to raise out of the
    # gate, leaving the message unacknowledged for good.
    body = b'{"ts": "2026-07-13T23:55:00Z", "values": {"do": 6.1, "cod": 1' + b"0" * 400 + b"}}"
    out = GATE.decode(TOPIC, body)
    assert [r.reason for r in out.rejections] == ["bad_value"]
    assert [(r.parameter, r.value) for r in out.readings] == [("do", 6.1)]


def test_a_topic_is_judged_the_same_every_time() -> None:
    # Good topics are remembered after their first check: the second answer is the first.
    for topic in (TOPIC, "envmon/v1/qingpu/water/TZ_TOWN/data", "envmon/v1/jiashan/water/NOPE/data"):
        first, second = GATE.decode(topic, payload()), GATE.decode(topic, payload())
        assert first == second


@given(st.dictionaries(st.sampled_from(["cod", "do", "ph", "pm25", "laeq", "flow", "x"]),
                       st.one_of(st.floats(allow_nan=True), st.integers(), st.booleans()), max_size=6),
       st.dictionaries(st.sampled_from(["cod", "do", "ph"]), st.sampled_from(["N", "T", "D", "C", "", "Q"])),
       st.dictionaries(st.sampled_from(["cod", "cond", "flow"]), st.sampled_from(["mg/L", "m3/s", "g/L"])))
def test_gate_readings_pass_the_checks_of_reading_itself(values: dict, flags: dict, units: dict) -> None:
    # The gate builds readings with Reading.trusted (no re-check): each must be one the
    # checking constructor accepts, with a float value.
    out = GATE.decode(TOPIC, payload(values=values, flags=flags, units=units))
    assert len(out.readings) + len(out.rejections) == len(values)
    for r in out.readings:
        assert type(r.value) is float
        assert Reading(r.station, r.time, r.parameter, r.value, r.flag) == r
