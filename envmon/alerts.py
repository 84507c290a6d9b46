"""Alerts: the contract of DESIGN.md ("Alerts") and the events the pure core emits.

>>> from envmon.timeutil import parse_time
>>> a = Alert(id="a1", kind="exceedance", station="TZ_TOWN", medium="water",
...           parameters=("nh3n",), start=parse_time("2026-07-14T02:00:00+08:00"),
...           severity="warning", message="氨氮超III类")
>>> a.to_dict()["start"]
'2026-07-13T18:00:00Z'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from envmon.timeutil import format_time, parse_time

KINDS = (
    "exceedance",
    "illegal_discharge",
    "dry_weather_flow",
    "noise_night_burst",
    "sensor_fault",
    "station_offline",
    "anomaly",
)
KIND_ZH = {
    "exceedance": "超标",
    "illegal_discharge": "疑似偷排",
    "dry_weather_flow": "晴天排水",
    "noise_night_burst": "夜间突发噪声",
    "sensor_fault": "设备故障",
    "station_offline": "站点离线",
    "anomaly": "数据异常",
}
SEVERITIES = ("info", "warning", "critical")
SEVERITY_ZH = {"info": "提示", "warning": "警告", "critical": "严重"}


class AlertError(ValueError):
    pass


def alert_id(station: str, kind: str, start: datetime) -> str:
    """Deterministic id: the same condition replayed gives the same id."""
    h = hashlib.sha1(f"{station}|{kind}|{format_time(start)}".encode()).hexdigest()[:12]
    return f"{kind[:4]}-{station}-{h}"


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    kind: str
    station: str
    medium: str
    parameters: tuple[str, ...]
    start: datetime
    severity: str
    message: str
    suspected_source: str | None = None
    confidence: float | None = None
    jurisdiction: str | None = None
    station_name: str | None = None
    last_seen: datetime | None = None  # data time of the latest supporting reading
    end: datetime | None = None  # data time when the condition cleared
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AlertError(f"unknown alert kind {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise AlertError(f"unknown severity {self.severity!r}")
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise AlertError(f"confidence {self.confidence} outside [0, 1]")

    def evolve(self, **changes: Any) -> Alert:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "station": self.station,
            "medium": self.medium,
            "parameters": list(self.parameters),
            "start": format_time(self.start),
            "severity": self.severity,
            "message": self.message,
        }
        if self.kind == "illegal_discharge" or self.suspected_source is not None:
            d["suspected_source"] = self.suspected_source
            d["confidence"] = self.confidence
        elif self.confidence is not None:
            d["confidence"] = self.confidence
        for key in ("jurisdiction", "station_name"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.last_seen is not None:
            d["last_seen"] = format_time(self.last_seen)
        if self.end is not None:
            d["end"] = format_time(self.end)
        if self.details:
            d["details"] = self.details
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alert:
        return cls(
            id=d["id"], kind=d["kind"], station=d["station"], medium=d["medium"],
            parameters=tuple(d.get("parameters", ())), start=parse_time(d["start"]),
            severity=d["severity"], message=d.get("message", ""),
            suspected_source=d.get("suspected_source"), confidence=d.get("confidence"),
            jurisdiction=d.get("jurisdiction"), station_name=d.get("station_name"),
            last_seen=parse_time(d["last_seen"]) if d.get("last_seen") else None,
            end=parse_time(d["end"]) if d.get("end") else None,
            details=d.get("details", {}),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """What the pure core emits: an alert was ``raised``, ``updated`` or ``cleared``."""

    type: str
    alert: Alert

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.type, **self.alert.to_dict()}
