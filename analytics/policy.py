"""Alert policy: from per-evaluation conditions to alert events, without storms.

One open alert per (station, kind); a condition must hold ``raise_after`` evaluations in a
row before the alert is raised (minimum duration), or, for kinds with ``raise_s``, cover that
much data time (a station sampling hourly would otherwise wait an hour for its second
sample), and be absent ``clear_after`` evaluations
in a row before it clears (hysteresis). While open, an alert is *updated* only when what a
field team would read changes (severity, parameters, suspected source, confidence by 0.1 or
more), never repeated. A condition that comes back within ``rearm_s`` of clearing re-opens
the same alert instead of raising a new one.

>>> from envmon.timeutil import parse_time
>>> p = AlertPolicy()
>>> t = parse_time("2026-07-14T00:00:00Z")
>>> c = Condition("TZ_TOWN", "water", "illegal_discharge", ("nh3n",), "warning", "疑似偷排")
>>> [e.type for e in p.observe(c, t)], [e.type for e in p.observe(c, t)]
([], ['raised'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from envmon.alerts import Alert, Event, alert_id

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Condition:
    """One evaluation that found a condition active at a station."""

    station: str
    medium: str
    kind: str
    parameters: tuple[str, ...]
    severity: str
    message: str
    suspected_source: str | None = None
    confidence: float | None = None
    start: datetime | None = None  # data time of the first reading the condition is about
    details: dict[str, Any] = field(default_factory=dict, compare=False)
    # Evidence strong enough to raise at once (the instrument says so itself).
    min_hits: int | None = None
    # The data time one evaluation stands for: the station's sampling interval (s).
    interval_s: float | None = None


@dataclass(frozen=True, slots=True)
class KindPolicy:
    raise_after: int = 2
    clear_after: int = 3
    rearm_s: float = 3600.0
    # Raised with fewer than ``raise_after`` evaluations once the condition has held this
    # much data time (from its first evaluation to the end of the current one's interval):
    # the confirmation never waits past this for a station that samples slowly. None: by
    # evaluations only.
    raise_s: float | None = None


DEFAULT_KINDS = {
    "exceedance": KindPolicy(raise_after=1, clear_after=2, rearm_s=3 * 3600),
    # Half an hour: the field teams' timeliness target for a discharge (at a 5-min cadence
    # the evaluations decide first, as before; an hourly station raises on its first sample).
    "illegal_discharge": KindPolicy(raise_after=2, clear_after=6, rearm_s=2 * 3600, raise_s=1800.0),
    "dry_weather_flow": KindPolicy(raise_after=3, clear_after=6, rearm_s=6 * 3600),
    "noise_night_burst": KindPolicy(raise_after=1, clear_after=15, rearm_s=3600),
    "sensor_fault": KindPolicy(raise_after=3, clear_after=12, rearm_s=6 * 3600),
    "station_offline": KindPolicy(raise_after=1, clear_after=1, rearm_s=0),
    "anomaly": KindPolicy(raise_after=3, clear_after=6, rearm_s=3600),
}


@dataclass(slots=True)
class _State:
    hits: int = 0
    misses: int = 0
    first: datetime | None = None
    first_hit: datetime | None = None  # data time of this run's first evaluation
    alert: Alert | None = None
    cleared_at: datetime | None = None
    last_cleared: Alert | None = None


class AlertPolicy:
    """Turns conditions (and their absence) into raised/updated/cleared events."""

    def __init__(self, kinds: dict[str, KindPolicy] | None = None,
                 station_info: dict[str, tuple[str, str]] | None = None):
        self.kinds = {**DEFAULT_KINDS, **(kinds or {})}
        # station id -> (jurisdiction, name), for alert context
        self.station_info = station_info or {}
        self._states: dict[tuple[str, str], _State] = {}

    def open_alerts(self) -> list[Alert]:
        return [s.alert for s in self._states.values() if s.alert is not None]

    def is_open(self, station: str, kind: str) -> bool:
        return self.alert_of(station, kind) is not None

    def alert_of(self, station: str, kind: str) -> Alert | None:
        """The open alert of this station and kind, if any."""
        s = self._states.get((station, kind))
        return None if s is None else s.alert

    def observe(self, c: Condition, t: datetime) -> list[Event]:
        kp = self.kinds[c.kind]
        st = self._states.setdefault((c.station, c.kind), _State())
        st.misses = 0
        if st.hits == 0:
            st.first = c.start or t
            st.first_hit = t
        st.hits += 1
        if st.alert is None:
            if st.hits < (c.min_hits or kp.raise_after) and not self._covers_raise_s(kp, c, st, t):
                return []
            if st.last_cleared is not None and st.cleared_at is not None \
                    and t - st.cleared_at <= timedelta(seconds=kp.rearm_s):
                # Flapping: re-open the same alert rather than raising a new one.
                st.alert = self._merge(st.last_cleared.evolve(end=None), c, t)
                st.last_cleared = None
                return [Event("updated", st.alert)]
            start = st.first or t
            jur, name = self.station_info.get(c.station, (None, None))
            st.alert = Alert(
                id=alert_id(c.station, c.kind, start), kind=c.kind, station=c.station,
                medium=c.medium, parameters=c.parameters, start=start, severity=c.severity,
                message=c.message, suspected_source=c.suspected_source, confidence=c.confidence,
                jurisdiction=jur, station_name=name, last_seen=t, details=dict(c.details),
            )
            return [Event("raised", st.alert)]
        new = self._merge(st.alert, c, t)
        changed = (
            SEVERITY_RANK[new.severity] != SEVERITY_RANK[st.alert.severity]
            or new.parameters != st.alert.parameters
            or new.suspected_source != st.alert.suspected_source
            or abs((new.confidence or 0) - (st.alert.confidence or 0)) >= 0.1
        )
        st.alert = new
        return [Event("updated", new)] if changed else []

    @staticmethod
    def _covers_raise_s(kp: KindPolicy, c: Condition, st: _State, t: datetime) -> bool:
        """Has the condition covered ``kp.raise_s`` of data time, its current evaluation's
        sampling interval included?"""
        if kp.raise_s is None or c.interval_s is None or st.first_hit is None:
            return False
        return (t - st.first_hit).total_seconds() + c.interval_s >= kp.raise_s

    @staticmethod
    def _merge(a: Alert, c: Condition, t: datetime) -> Alert:
        sev = c.severity if SEVERITY_RANK[c.severity] >= SEVERITY_RANK[a.severity] else a.severity
        params = tuple(dict.fromkeys((*a.parameters, *c.parameters)))
        conf = c.confidence if c.confidence is not None else a.confidence
        if conf is not None and a.confidence is not None:
            conf = max(conf, a.confidence)
        return a.evolve(severity=sev, parameters=params, message=c.message, last_seen=t,
                        suspected_source=c.suspected_source or a.suspected_source,
                        confidence=conf, details={**a.details, **c.details})

    def absent(self, station: str, kind: str, t: datetime) -> list[Event]:
        """An evaluation found the condition not active."""
        st = self._states.get((station, kind))
        if st is None:
            return []
        st.hits = 0
        if st.alert is None:
            return []
        st.misses += 1
        if st.misses < self.kinds[kind].clear_after:
            return []
        cleared = st.alert.evolve(end=t)
        st.alert = None
        st.cleared_at = t
        st.last_cleared = cleared
        st.misses = 0
        return [Event("cleared", cleared)]
