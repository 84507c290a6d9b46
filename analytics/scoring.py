"""Score alerts against simulator ground truth (pure; used by ``envmon bench detect``).

An alert *matches* an event when its kind answers the event's type, its station is one the
event names (``stations``) and it was raised (data time) between the event's start and its
end plus a grace period, or was already open there when the event reached that station
(raised before, its condition still seen at or after the arrival: the policy updates an open
alert, it does not repeat it, so an event during an open alert is answered by that alert,
with no delay; these are counted apart as ``already_open``). Per event type: recall, recall
within the delay target, and the delay from the event reaching its first station
(``arrivals`` when the truth has them) to the first matching alert. Pollution alerts
(``illegal_discharge``) that match no discharge count as false alerts per station-day;
those that fall on a sensor fault count as faults reported as pollution. Source
localisation compares ``suspected_source`` with the truth's ``source``; for a pipe straight
into a river (no ``source``, the truth's ``segment`` instead) with the segment, or with the
reach above its lower station (``"..<station>"``, DESIGN.md's segment without an upper end:
below a confluence the core cannot tell the branches apart), and an outfall named for it is
wrong.

>>> ev = {"id": "e1", "type": "illegal_discharge", "stations": ["A", "B"], "start": "2026-07-14T16:30:00Z",
...       "end": "2026-07-14T18:00:00Z", "source": "OF1", "parameters": ["cond"],
...       "arrivals": {"B": "2026-07-14T16:50:00Z"}}
>>> al = {"id": "a1", "kind": "illegal_discharge", "station": "B", "start": "2026-07-14T16:55:00Z",
...       "raised_at": "2026-07-14T17:05:00Z", "suspected_source": "OF1", "confidence": 0.9}
>>> r = score([ev], [al], station_days=10)
>>> r.by_type["illegal_discharge"].recall, r.by_type["illegal_discharge"].delays_min, r.source_right
(1.0, [15.0], 1.0)
>>> [(o.event["id"], o.delay_min, o.within(30)) for o in r.outcomes]
[('e1', 15.0, True)]
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from envmon.timeutil import parse_time

# Which alert kinds answer which truth event types.
ANSWERS: dict[str, tuple[str, ...]] = {
    "illegal_discharge": ("illegal_discharge",),
    "dry_weather_flow": ("dry_weather_flow", "illegal_discharge"),
    "sensor_fault": ("sensor_fault",),
    "station_offline": ("station_offline",),
    "noise_night_burst": ("noise_night_burst",),
    "noise_exceedance": ("exceedance", "noise_night_burst"),
    "air_episode": ("exceedance", "anomaly"),
}
POLLUTION = "illegal_discharge"


@dataclass
class TypeScore:
    events: int = 0
    detected: int = 0
    within_target: int = 0
    already_open: int = 0  # answered by an alert open at the station before the event came
    delays_min: list[float] = field(default_factory=list)
    # truth's "cause" (an outage's) or "fault" (a sensor fault's kind): [events, detected]
    by_cause: dict[str, list[int]] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return self.detected / self.events if self.events else float("nan")

    @property
    def recall_within(self) -> float:
        return self.within_target / self.events if self.events else float("nan")

    def delay_pct(self, q: float) -> float:
        if not self.delays_min:
            return float("nan")
        d = sorted(self.delays_min)
        return d[min(len(d) - 1, round(q * (len(d) - 1)))]


@dataclass(frozen=True)
class Outcome:
    """What became of one truth event: the delay of its first matching alert from the event
    reaching its first station (``None``: never answered; 0 when an alert already open there
    answered it)."""

    event: Mapping[str, Any]
    delay_min: float | None
    # A detected discharge with a source to find (an outfall, or a pipe's river segment):
    # what its pollution alerts named as the suspected source, and whether that was right
    # (None: nothing to judge).
    named: tuple[str, ...] = ()
    localised: bool | None = None

    def within(self, target_min: float) -> bool:
        return self.delay_min is not None and self.delay_min <= target_min


@dataclass
class DetectScore:
    by_type: dict[str, TypeScore]
    false_pollution: int
    station_days: float
    faults: int
    faults_as_pollution: int
    source_total: int
    source_exact: int
    alerts: int
    unmatched_by_kind: dict[str, int]
    outcomes: list[Outcome] = field(default_factory=list)  # one per truth event, in its order
    faults_as_pollution_by_kind: dict[str, int] = field(default_factory=dict)  # truth's "fault" -> faults
    # Dry-weather-flow alerts at an outfall where nothing flowed but its meter's noise: no
    # dry-weather flow and no discharge there (a discharge into a rain outfall in dry
    # weather is dry-weather flow too), in ``rain_outfall_days``.
    false_dry_weather_flow: int = 0
    rain_outfall_days: float = 0.0
    # Pipes straight into a river (truth's ``segment``, no ``source``), detected: how many,
    # and how many of them a matching alert localised to their segment.
    segment_total: int = 0
    segment_right: int = 0

    @property
    def false_pollution_per_station_day(self) -> float:
        return self.false_pollution / self.station_days if self.station_days else float("nan")

    @property
    def faults_as_pollution_share(self) -> float:
        return self.faults_as_pollution / self.faults if self.faults else float("nan")

    @property
    def source_right(self) -> float:
        return self.source_exact / self.source_total if self.source_total else float("nan")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a share ``k`` of ``n`` (95 % for ``z`` = 1.96): the range of
    true rates these counts do not rule out. A bench's recall is a count of events, and 268 of
    280 within the target is 95.7 % but also consistent with 92.7 %: a target is shown met
    only when the whole interval clears it (Wilson 1927; unlike the normal approximation it
    stays inside 0–1 and is sound near them).

    >>> [round(x, 3) for x in wilson(268, 280)]
    [0.927, 0.975]
    >>> wilson(0, 10)[0], round(wilson(10, 10)[0], 3), wilson(0, 0)
    (0.0, 0.722, (nan, nan))
    """
    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= k <= n:
        raise ValueError(f"a share needs 0 <= k <= n, got {k} of {n}")
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    den = 1 + z * z / n
    return max(0.0, (centre - spread) / den), min(1.0, (centre + spread) / den)


def _t(x: Any) -> datetime:
    return x if isinstance(x, datetime) else parse_time(x)


def first_arrival(ev: Mapping[str, Any]) -> datetime:
    """When the event reached its first station (``arrivals``; its start without them): what
    detection delays run from."""
    arr = ev.get("arrivals") or {}
    times = [_t(v) for v in arr.values()] if arr else []
    return min(times) if times else _t(ev["start"])


def score(truth: Iterable[Mapping[str, Any]], alerts: Iterable[Mapping[str, Any]], *, station_days: float,
          grace: timedelta = timedelta(hours=2), delay_target_min: float = 30.0,
          rain_outfall_days: float = 0.0) -> DetectScore:
    events = list(truth)
    # One record per alert episode (a re-opened alert is a line of its own, same id): keyed
    # by position, so an episode that answers nothing is counted even if its id answered.
    alerts = [{**a, "raised_at": a.get("raised_at", a["start"]), "_n": n} for n, a in enumerate(alerts)]
    by_type: dict[str, TypeScore] = defaultdict(TypeScore)
    matched_alerts: set[int] = set()
    source_total = source_exact = segment_total = segment_right = 0
    outcomes: list[Outcome] = []
    for ev in events:
        ts = by_type[ev["type"]]
        ts.events += 1
        kinds = ANSWERS.get(ev["type"], ())
        stations = set(ev.get("stations") or [])
        start, end = _t(ev["start"]), _t(ev["end"]) + grace
        hits = [a for a in alerts if a["kind"] in kinds and a["station"] in stations
                and start - timedelta(minutes=10) <= _t(a["raised_at"]) <= end]
        arrivals = {k: _t(v) for k, v in (ev.get("arrivals") or {}).items()}
        open_before = [a for a in alerts if a["kind"] in kinds and a["station"] in stations and a.get("last_seen")
                       and _t(a["raised_at"]) < start - timedelta(minutes=10)
                       and _t(a["last_seen"]) >= arrivals.get(a["station"], start)]
        for a in hits:
            matched_alerts.add(a["_n"])
        why = ev.get("cause") or ev.get("fault")
        cause = ts.by_cause.setdefault(str(why), [0, 0]) if why else None
        if cause is not None:
            cause[0] += 1
        if not hits and not open_before:
            outcomes.append(Outcome(ev, None))
            continue
        ts.detected += 1
        if cause is not None:
            cause[1] += 1
        if open_before:
            ts.already_open += 1
            delay = 0.0
            hits = hits + open_before
        else:
            first = min(hits, key=lambda a: _t(a["raised_at"]))
            delay = (_t(first["raised_at"]) - first_arrival(ev)).total_seconds() / 60
        delay = max(0.0, delay)
        ts.delays_min.append(delay)
        if delay <= delay_target_min:
            ts.within_target += 1
        named = tuple(sorted({src for a in hits if a["kind"] == POLLUTION and (src := a.get("suspected_source"))}))
        localised: bool | None = None
        if ev["type"] == "illegal_discharge" and ev.get("source"):
            source_total += 1
            localised = ev["source"] in named
            source_exact += localised
        elif ev["type"] == "illegal_discharge" and ev.get("segment"):
            segment_total += 1
            localised = segment_named(ev["segment"], named)
            segment_right += localised
        outcomes.append(Outcome(ev, delay, named, localised))
    # Pollution alerts that answer no discharge-like event.
    discharge_like = [e for e in events if e["type"] in ("illegal_discharge", "dry_weather_flow")]
    faults = [e for e in events if e["type"] == "sensor_fault"]
    false_pollution = false_dwf = 0
    fault_hit: set[str] = set()
    unmatched: dict[str, int] = defaultdict(int)
    for a in alerts:
        if a["_n"] in matched_alerts:
            continue
        unmatched[a["kind"]] += 1
        if a["kind"] not in (POLLUTION, "dry_weather_flow"):
            continue
        t = _t(a["raised_at"])
        if any(a["station"] in (e.get("stations") or []) and _t(e["start"]) - timedelta(minutes=10) <= t
               <= _t(e["end"]) + grace for e in discharge_like):
            continue
        if a["kind"] == "dry_weather_flow":
            false_dwf += 1
            continue
        false_pollution += 1
        for f in faults:
            if a["station"] in (f.get("stations") or []) and _t(f["start"]) <= t <= _t(f["end"]) + grace:
                fault_hit.add(f["id"])
    return DetectScore(
        by_type=dict(by_type), false_pollution=false_pollution, station_days=station_days,
        faults=len(faults), faults_as_pollution=len(fault_hit), source_total=source_total,
        source_exact=source_exact, alerts=len(alerts), unmatched_by_kind=dict(unmatched), outcomes=outcomes,
        faults_as_pollution_by_kind=dict(Counter(str(f.get("fault")) for f in faults if f["id"] in fault_hit)),
        false_dry_weather_flow=false_dwf, rain_outfall_days=rain_outfall_days,
        segment_total=segment_total, segment_right=segment_right,
    )


def segment_named(segment: str, named: Iterable[str | None]) -> bool:
    """Whether an alert's ``suspected_source`` among ``named`` localises a pipe into the river
    ``segment`` (``"<upper>..<lower>"``): the segment itself, or the reach above its lower
    station (``"..<lower>"``). An outfall's id is not: the pipe is not an outfall.

    >>> segment_named("BH2..BH3", ["OF_BH3_RAIN"]), segment_named("BH2..BH3", ["..BH3", None])
    (False, True)
    >>> segment_named("NZ2..BH3", ["BH2..BH3"])
    False
    """
    lower = segment.split("..", 1)[-1]
    return any(n == segment or n == f"..{lower}" for n in named if n)
