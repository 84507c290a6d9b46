"""Readings → line protocol: one point per (station, time), fields = parameters.

A (station, time) pair written twice is the same point in InfluxDB, so QoS 1 redelivery
and store-and-forward backfill are harmless.

Very late data (reading time more than ``late_after_s`` before the moment it is stored; by
default 24 h, ``ingest.late_after_s``) is *kept* and marked with the integer field
``late=1i`` on its point. A field rather than a tag, so marking does not create a second
series per station (a tag would split every backfilled station's history in two) and
dashboards can count or exclude it: ``SELECT count(late) FROM water WHERE time > now() - 1d``
or ``... WHERE late <> 1`` (InfluxQL skips points without the field in that comparison, so
use ``WHERE late = 1`` to select the marked ones). Points that are not late carry no
``late`` field at all.

>>> from envmon.stations import load_registry
>>> from envmon.timeutil import parse_time
>>> t = parse_time("2026-07-14T02:00:00+08:00")
>>> lines = to_lines([Reading("TZ_TOWN", t, "cod", 18.2), Reading("TZ_TOWN", t, "do", 6.0, "T")],
...                  load_registry())
>>> lines[0].split(" ")[1]
'cod=18.2,do=6.0,do_flag="T"'
>>> b = LineBuilder(load_registry(), late_after_s=3600)
>>> lines, counts, newest = b.build([Reading("TZ_TOWN", t, "cod", 18.2)], now_s=t.timestamp() + 7200)
>>> lines[0].split(" ")[1], counts, newest == t.timestamp()
('cod=18.2,late=1i', [1], True)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from envmon.influx import line
from envmon.reading import Reading
from envmon.stations import Registry

PRECISION = "ms"
LATE_FIELD = "late"


class LineBuilder:
    """Builds the lines of one message at a time; the hot path of ingest.

    Per-station measurement and tag set are rendered once and cached (they come from the
    registry, never from the payload); the timestamp is converted once per point, not once
    per reading. Parameter names and flags were checked by the quality gate
    (``[a-z0-9_]`` and HJ 212 flags), so they need no escaping here.
    """

    def __init__(self, registry: Registry, *, late_after_s: float | None = None):
        self.registry = registry
        self.late_after_s = late_after_s
        self._prefix: dict[str, str] = {}

    def prefix(self, station: str) -> str:
        """``measurement,tags`` of a station, escaped exactly like :func:`envmon.influx.line`."""
        p = self._prefix.get(station)
        if p is None:
            st = self.registry[station]
            # Render through the shared serialiser once, then cut off the dummy field set.
            p = line(st.medium, st.tags(), {"x": 0.0}, 0).rsplit(" ", 2)[0]
            self._prefix[station] = p
        return p

    def build(self, readings: Iterable[Reading], now_s: float | None = None) -> tuple[list[str], list[int], float]:
        """Lines; parallel to them, how many readings each line carries; the newest reading
        time (epoch seconds; 0.0 when there are no readings), for the lag metrics."""
        # (station, time) -> {field key: rendered "key=value"}; a later value of the same key wins.
        points: dict[tuple[str, datetime], dict[str, str]] = {}
        flagged = set()  # points with a flag field (the others carry one reading per field)
        for r in readings:
            key = (r.station, r.time)
            fields = points.get(key)
            if fields is None:
                fields = points[key] = {}
            p = r.parameter
            fields[p] = f"{p}={float(r.value)!r}"
            if r.flag != "N":
                fields[p + "_flag"] = f'{p}_flag="{r.flag}"'
                flagged.add(key)
        lines: list[str] = []
        counts: list[int] = []
        newest = 0.0
        late_before = None if now_s is None or self.late_after_s is None else now_s - self.late_after_s
        for key, fields in points.items():
            sid, t = key
            ts = t.timestamp()
            if ts > newest:
                newest = ts
            body = ",".join(fields.values())
            if late_before is not None and ts < late_before:
                body += f",{LATE_FIELD}=1i"
            # Same arithmetic as envmon.timeutil.epoch_ns // 1e6, without the big integers.
            lines.append(f"{self.prefix(sid)} {body} {int(ts) * 1000 + t.microsecond // 1000}")
            counts.append(sum(1 for k in fields if not k.endswith("_flag")) if key in flagged else len(fields))
        return lines, counts, newest


def to_lines(readings: Iterable[Reading], registry: Registry) -> list[str]:
    """Lines without late marking (replay, tests): one per (station, time)."""
    return LineBuilder(registry).build(readings)[0]
