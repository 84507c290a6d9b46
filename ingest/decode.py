"""Decode and check MQTT v1 payloads: the quality-control gate in front of InfluxDB.

Pure: no I/O. Every problem becomes a :class:`Rejection` with a reason code (counted and
dead-lettered by the pipeline); good values in the same message are kept. Tags written to
InfluxDB come from the registry, never from the payload.

>>> from envmon.stations import load_registry
>>> from envmon.params import load_parameters
>>> qc = QualityGate(load_registry(), load_parameters(), now=lambda: parse_time("2026-07-14T00:00:00Z"))
>>> out = qc.decode("envmon/v1/jiashan/water/TZ_TOWN/data",
...                 b'{"ts": "2026-07-13T23:55:00Z", "seq": 7, "values": {"cod": 18.2, "xyz": 1}}')
>>> [(r.parameter, r.value) for r in out.readings], [j.reason for j in out.rejections]
([('cod', 18.2)], ['unknown_parameter'])
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from envmon.params import Parameter, ParameterTable
from envmon.reading import FLAGS, Reading
from envmon.stations import STATION_ID, Registry, Station
from envmon.timeutil import TimeFormatError, parse_time, utcnow
from envmon.topics import TopicError, parse_topic

# Reason codes (also the label values of the rejected counter).
REASONS = {
    "bad_topic": "topic is not envmon/v1/<jurisdiction>/<medium>/<station>/data",
    "unknown_station": "station id is not in the registry",
    "topic_mismatch": "jurisdiction or medium in the topic does not match the registry",
    "station_mismatch": "payload names another station than its topic",
    "oversize": "payload larger than the limit",
    "malformed_payload": "payload is not UTF-8 JSON",
    "bad_schema": "payload is not {ts, seq, values, flags} or {readings: [...]}",
    "bad_timestamp": "ts missing or not ISO 8601 with an offset",
    "future_timestamp": "ts more than the allowed skew in the future",
    "unknown_parameter": "parameter not in the parameter table",
    "wrong_medium": "parameter does not belong to the station's medium",
    "bad_value": "value is not a finite number",
    "impossible_value": "value outside physical limits",
    "wrong_unit": "unit differs from the parameter table and cannot be converted",
    "bad_flag": "flag is not an HJ 212 data flag",
    "injection": "a name carries line-protocol or control characters",
    "write_rejected": "InfluxDB refused the line",
}
_SAFE_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_CONTROL = re.compile(r"[,= \"\\\n\r\t]")
# Units we convert instead of rejecting: (from, to) -> factor.
_UNIT_FACTORS = {("mS/cm", "µS/cm"): 1000.0, ("uS/cm", "µS/cm"): 1.0, ("ug/m3", "µg/m³"): 1.0,
                 ("µg/m3", "µg/m³"): 1.0, ("mg/m3", "mg/m³"): 1.0, ("m3/s", "L/s"): 1000.0,
                 ("dB", "dB(A)"): 1.0, ("dBA", "dB(A)"): 1.0, ("C", "°C"): 1.0, ("degC", "°C"): 1.0}


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    detail: str
    topic: str
    station: str | None = None
    parameter: str | None = None
    payload: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {"reason": self.reason, "detail": self.detail, "topic": self.topic}
        if self.station:
            d["station"] = self.station
        if self.parameter:
            d["parameter"] = self.parameter
        if self.payload:
            d["payload"] = self.payload
        return d


@dataclass(slots=True)
class Decoded:
    readings: list[Reading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    late: int = 0
    out_of_range: int = 0


class QualityGate:
    """Turns (topic, payload) into checked readings and counted rejections.

    The hot path of ingest (every message): what only depends on the topic or on a parameter
    name is checked once and remembered (a data topic that passed the topic checks; the
    parameters of each medium), and readings are built with :meth:`Reading.trusted`, since
    this gate has established every invariant that :class:`Reading` checks. Unusual input
    takes the slow path and is diagnosed exactly as before.
    """

    def __init__(self, registry: Registry, params: ParameterTable, *, max_future_s: float = 300.0,
                 late_after_s: float = 24 * 3600.0, max_payload_bytes: int = 256 * 1024,
                 now: Callable[[], datetime] = utcnow):
        self.registry = registry
        self.params = params
        self.max_future = timedelta(seconds=max_future_s)
        self.late_after = timedelta(seconds=late_after_s)
        self.max_payload_bytes = max_payload_bytes
        self.now = now
        # Topics that passed every topic check -> their station. At most one entry per
        # registered station (only good data topics are remembered).
        self._topics: dict[str, Station] = {}
        # medium -> {parameter name: Parameter} for names that pass every name check.
        self._names: dict[str, dict[str, Parameter]] = {}

    def _known(self, medium: str) -> dict[str, Parameter]:
        known = self._names.get(medium)
        if known is None:
            known = self._names[medium] = {
                name: p for name, p in self.params.items()
                if _SAFE_NAME.match(name) and not _CONTROL.search(name) and p.applies_to(medium)}
        return known

    def decode(self, topic: str, payload: bytes) -> Decoded:
        out = Decoded()

        def reject(reason: str, detail: str, station: str | None = None) -> Decoded:
            out.rejections.append(Rejection(reason, detail, topic, station, payload=_snippet(payload)))
            return out

        st = self._topics.get(topic)
        if st is None:
            try:
                parts = parse_topic(topic)
            except TopicError as err:
                return reject("bad_topic", str(err))
            if parts.leaf != "data":
                return reject("bad_topic", "readings are published on .../data")
            st = self.registry.get(parts.station)
            if st is None:
                return reject("unknown_station", f"station {parts.station!r} is not registered", parts.station)
            if st.jurisdiction != parts.jurisdiction or st.medium != parts.medium:
                return reject("topic_mismatch",
                              f"topic says {parts.jurisdiction}/{parts.medium}, registry says "
                              f"{st.jurisdiction}/{st.medium}", st.id)
            if STATION_ID.match(st.id):  # what Reading checks; a registry loaded from a file ensures it
                self._topics[topic] = st
        if len(payload) > self.max_payload_bytes:
            return reject("oversize", f"{len(payload)} bytes > {self.max_payload_bytes}", st.id)
        try:
            doc = json.loads(payload)
        except (UnicodeDecodeError, ValueError) as err:
            return reject("malformed_payload", str(err)[:200], st.id)
        if isinstance(doc, dict) and "readings" in doc:
            batch = doc["readings"]
            if not isinstance(batch, list):
                return reject("bad_schema", "'readings' must be a list", st.id)
        else:
            batch = [doc]
        now = self.now()
        for item in batch:
            self._one(item, st, topic, now, out, payload)
        return out

    def _one(self, item: Any, st: Station, topic: str, now: datetime, out: Decoded, payload: bytes) -> None:
        sid, medium = st.id, st.medium

        def reject(reason: str, detail: str, parameter: str | None = None) -> None:
            out.rejections.append(Rejection(reason, detail, topic, sid, parameter, _snippet(payload)))

        if not isinstance(item, dict) or not isinstance(item.get("values"), dict):
            return reject("bad_schema", "expected an object with 'ts' and a 'values' object")
        named = item.get("station")
        if named is not None and named != sid:
            return reject("station_mismatch", f"payload names {named!r}, topic {sid!r}")
        ts = item.get("ts")
        if not isinstance(ts, str):
            return reject("bad_timestamp", f"ts is {ts!r}")
        try:
            t = parse_time(ts)
        except TimeFormatError as err:
            return reject("bad_timestamp", str(err))
        if t - now > self.max_future:
            return reject("future_timestamp", f"ts {ts} is {(t - now).total_seconds():.0f} s ahead of the server clock")
        late = now - t > self.late_after
        flags = item.get("flags") or {}
        units = item.get("units") or {}
        if not isinstance(flags, dict) or not isinstance(units, dict):
            return reject("bad_schema", "'flags' and 'units' must be objects")
        known = self._known(medium)
        readings = out.readings
        for name, value in item["values"].items():
            p = known.get(name)
            if p is None:
                # Not a parameter of this medium: say exactly why.
                if not isinstance(name, str) or _CONTROL.search(name) or not name.isprintable():
                    reject("injection", f"parameter name {name!r} carries special characters")
                elif not _SAFE_NAME.match(name) or name not in self.params:
                    reject("unknown_parameter", f"{name!r} is not a known parameter", name)
                else:
                    q = self.params[name]
                    reject("wrong_medium", f"{name} is a {q.medium} parameter, station is {medium}", name)
                continue
            if value.__class__ is not float:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    reject("bad_value", f"{name}={value!r}", name)
                    continue
                try:
                    value = float(value)
                except OverflowError:  # an integer of hundreds of digits: not a measurement
                    reject("bad_value", f"{name} is an integer beyond any float", name)
                    continue
            if not math.isfinite(value):
                reject("bad_value", f"{name}={value!r}", name)
                continue
            if units:
                unit = units.get(name)
                if unit is not None and unit != p.unit:
                    factor = _UNIT_FACTORS.get((unit, p.unit))
                    if factor is None:
                        reject("wrong_unit", f"{name} in {unit!r}, expected {p.unit!r}", name)
                        continue
                    value *= factor
            flag = (flags.get(name, "N") or "N") if flags else "N"
            if not isinstance(flag, str) or flag not in FLAGS:
                reject("bad_flag", f"{name} flag {flag!r}", name)
                continue
            check = p.check(value)
            if check == "impossible":
                reject("impossible_value", f"{name}={value} outside [{p.phys_min}, {p.phys_max}]", name)
                continue
            if check == "out_of_range":
                out.out_of_range += 1
                if flag == "N":
                    flag = "T"
            readings.append(Reading.trusted(sid, t, name, value, flag))
            if late:
                out.late += 1


def _snippet(payload: bytes) -> str:
    """The start of a rejected payload, for the dead letter (computed only on rejection)."""
    return payload[:300].decode("utf-8", "replace")
