"""Offline driver of the pure core: a readings CSV (DESIGN.md format) → alerts JSONL.

Streams the file: memory stays constant in its size. Rows may come in any order within a
station, so a bounded reorder buffer (a heap over data time, ``reorder_s`` deep) restores
time order before the monitor sees them.
"""

from __future__ import annotations

import csv
import heapq
import json
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from analytics.monitor import Monitor, MonitorConfig
from analytics.permits import Permits
from envmon.alerts import Alert, Event
from envmon.reading import FLAGS, Reading, ReadingError
from envmon.stations import Registry
from envmon.timeutil import TimeFormatError, format_time, parse_time


@dataclass
class ReplayResult:
    readings: int = 0
    bad_rows: Counter = field(default_factory=Counter)
    alerts: int = 0
    by_kind: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0


UNKNOWN_KEYS = 20  # unknown station ids counted one by one; the rest together


def read_csv(fh: TextIO, bad: Counter, stations: Container[str] | None = None) -> Iterator[Reading]:
    """The readings of a CSV (DESIGN.md format), in file order. A row that cannot be a
    reading is skipped and counted in ``bad`` under its reason (a short row, a time or value
    that does not parse, a reading that breaks an invariant, a station not in ``stations``
    when given), never passed on.

    >>> import io
    >>> bad = Counter()
    >>> rows = io.StringIO("time,station,parameter,value,flag\\n2026-07-14T00:00:00Z,TZ_TOWN,cod,18.2,N\\n"
    ...                    "2026-07-14T00:00:00Z,NOPE,cod,1,N\\n2026-07-14T00:05:00Z,TZ_TOWN,cod,abc,N\\n")
    >>> [r.value for r in read_csv(rows, bad, {"TZ_TOWN"})], dict(bad)
    ([18.2], {'unknown station NOPE': 1, 'value not a number': 1})
    """
    reader = csv.reader(fh)
    header = next(reader, None)
    if header is None:
        return
    cols = [c.strip() for c in header]
    try:
        it, ist, ip, iv, ifl = (cols.index(c) for c in ("time", "station", "parameter", "value", "flag"))
    except ValueError as err:
        raise ValueError(f"readings CSV needs the header time,station,parameter,value,flag; got {header}") from err
    cache: dict[str, Any] = {}
    # Station ids and parameter names a Reading has already accepted: a file repeats a few
    # dozen of each millions of times, and checking them once is enough (the value and the
    # flag are checked on every row, as Reading checks them).
    known: set[tuple[str, str]] = set()
    unknown: set[str] = set()  # station ids not in ``stations``, counted by name
    for row in reader:
        try:
            ts = row[it]
            t = cache.get(ts)
            if t is None:
                if len(cache) > 4096:
                    cache.clear()
                t = cache[ts] = parse_time(ts)
            sid, p, v, flag = row[ist], row[ip], float(row[iv]), row[ifl] or "N"
            if (sid, p) in known and math.isfinite(v) and flag in FLAGS:
                yield Reading.trusted(sid, t, p, v, flag)
                continue
            r = Reading(sid, t, p, v, flag)
            if stations is not None and sid not in stations:
                # Checked here, off the fast path above: a known station's pair joins
                # ``known`` once, an unknown station's never does.
                if sid in unknown or len(unknown) < UNKNOWN_KEYS:
                    unknown.add(sid)
                    bad[f"unknown station {sid}"] += 1
                else:
                    bad["unknown station (others)"] += 1
                continue
            if len(known) < 100_000:
                known.add((sid, p))
            yield r
        except IndexError:
            bad["row shorter than the header"] += 1
        except TimeFormatError:
            bad["time not ISO 8601 with an offset"] += 1
        except ReadingError as err:
            bad[err.reason] += 1
        except ValueError:
            bad["value not a number"] += 1


def reorder(readings: Iterable[Reading], window_s: float) -> Iterator[Reading]:
    """Yield in nondecreasing time, holding at most ``window_s`` of data time.

    Ties keep their arrival order. A file is nearly always in time order already: while the
    held readings arrive in order they wait in a queue (first in, first out is then the
    time order), and only a reading older than the newest held one puts them in a heap
    until it has emptied.

    >>> from envmon.timeutil import parse_time
    >>> rs = [Reading("S", parse_time(f"2026-07-01T00:0{m}:00Z"), "cod", float(m)) for m in (1, 0, 2, 9)]
    >>> [r.value for r in reorder(rs, 300)]
    [0.0, 1.0, 2.0, 9.0]
    """
    queue: deque[tuple[float, int, Reading]] = deque()
    heap: list[tuple[float, int, Reading]] = []
    n = 0
    newest = float("-inf")
    for r in readings:
        ts = r.time.timestamp()
        if ts > newest:
            newest = ts
        item = (ts, n, r)
        n += 1
        if heap:
            heapq.heappush(heap, item)
        elif not queue or ts >= queue[-1][0]:
            queue.append(item)
        else:
            heap = list(queue)  # sorted, so already a heap
            queue.clear()
            heapq.heappush(heap, item)
        edge = newest - window_s
        if heap:
            while heap and heap[0][0] < edge:
                yield heapq.heappop(heap)[2]
        else:
            while queue and queue[0][0] < edge:
                yield queue.popleft()[2]
    yield from (r for _, _, r in queue)
    while heap:
        yield heapq.heappop(heap)[2]


def alert_record(a: Alert, raised_at: Any, reopened: bool = False) -> dict[str, Any]:
    """One line of the alerts file: one episode of an alert, from when it was raised (or
    re-opened) to when it cleared; ``raised_at`` is the data time the episode began."""
    d = a.to_dict()
    d["raised_at"] = format_time(raised_at)
    if reopened:
        d["reopened"] = True
    return d


def replay(path: str | Path, registry: Registry, *, alerts_out: TextIO | None = None,
           config: MonitorConfig | None = None, reorder_s: float = 900.0,
           progress: Callable[[int], None] | None = None,
           on_event: Callable[[Event], None] | None = None, permits: Permits | None = None) -> ReplayResult:
    monitor = Monitor(registry, config, permits)
    res = ReplayResult()
    raised_at: dict[str, Any] = {}
    reopened: set[str] = set()
    final: dict[str, Alert] = {}
    t0 = time.perf_counter()

    def handle(events: list[Event]) -> None:
        for e in events:
            if on_event:
                on_event(e)
            if e.type == "raised":
                raised_at[e.alert.id] = e.alert.last_seen or e.alert.start
                res.alerts += 1
                res.by_kind[e.alert.kind] += 1
            elif e.alert.id not in final:
                # Re-opened after it had cleared (the condition came back within the kind's
                # re-arm window): a new episode of the same alert, written as its own line.
                raised_at[e.alert.id] = e.alert.last_seen or e.alert.start
                reopened.add(e.alert.id)
            final[e.alert.id] = e.alert
            if e.type == "cleared" and alerts_out is not None:
                alerts_out.write(json.dumps(alert_record(e.alert, raised_at.get(e.alert.id, e.alert.start),
                                                         e.alert.id in reopened), ensure_ascii=False) + "\n")
                final.pop(e.alert.id, None)

    with open(path, encoding="utf-8", newline="") as fh:
        for r in reorder(read_csv(fh, res.bad_rows, registry), reorder_s):
            handle(monitor.process(r))
            res.readings += 1
            if progress and res.readings % 50_000 == 0:
                progress(50_000)
    handle(monitor.flush())
    if alerts_out is not None:
        # Alerts still open at the end, as the policy holds them: an evaluation that changes
        # nothing a field team reads emits no event, but it moves ``last_seen``.
        current = {a.id: a for a in monitor.open_alerts()}
        for a in final.values():
            a = current.get(a.id, a)
            alerts_out.write(json.dumps(alert_record(a, raised_at.get(a.id, a.start), a.id in reopened),
                                        ensure_ascii=False) + "\n")
    res.seconds = time.perf_counter() - t0
    return res
