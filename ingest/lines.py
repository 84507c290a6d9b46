"""Readings → line protocol: one point per (station, time), fields = parameters.

A (station, time) pair written twice is the same point in InfluxDB, so QoS 1 redelivery
and store-and-forward backfill are harmless.

>>> from envmon.stations import load_registry
>>> from envmon.timeutil import parse_time
>>> t = parse_time("2026-07-14T02:00:00+08:00")
>>> lines = to_lines([Reading("TZ_TOWN", t, "cod", 18.2), Reading("TZ_TOWN", t, "do", 6.0, "T")],
...                  load_registry())
>>> lines[0].split(" ")[1]
'cod=18.2,do=6.0,do_flag="T"'
"""

from __future__ import annotations

from collections.abc import Iterable

from envmon.influx import line
from envmon.reading import Reading
from envmon.stations import Registry
from envmon.timeutil import epoch_ns

PRECISION = "ms"


def to_lines(readings: Iterable[Reading], registry: Registry) -> list[str]:
    points: dict[tuple[str, int], dict[str, object]] = {}
    for r in readings:
        key = (r.station, epoch_ns(r.time) // 1_000_000)
        fields = points.setdefault(key, {})
        fields[r.parameter] = float(r.value)
        if r.flag != "N":
            fields[f"{r.parameter}_flag"] = r.flag
    out = []
    for (sid, ts_ms), fields in points.items():
        st = registry[sid]
        out.append(line(st.medium, st.tags(), fields, ts_ms))
    return out
