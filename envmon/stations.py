"""Station registry: ``seeds/stations.toml`` exactly as DESIGN.md fixes it.

>>> reg = load_registry()
>>> reg["TP_JINZE"].name
'太浦河金泽'
>>> [s.id for s in reg.downstream_chain("LXT_LUXU")][:2]
['LXT_TAOZHUANG', 'TZ_TOWN']
>>> sorted(o.id for o in reg.outfalls_into("TZ_TOWN"))
['OF_TZ_RAIN']
>>> reg["HQT_HENGGANG"].visible_to("qingpu")
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from envmon.paths import STATIONS_FILE
from envmon.tomlfile import read_toml

STATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
JURISDICTIONS = ("jiashan", "qingpu", "wujiang")
JURISDICTION_ZH = {"jiashan": "嘉善", "qingpu": "青浦", "wujiang": "吴江"}
KINDS = {
    "water": ("river_section", "boundary_section", "lake", "outfall"),
    "noise": ("noise",),
    "air": ("air",),
}
CLASSES = ("I", "II", "III", "IV", "V")
WATERBODIES = ("river", "lake")
OUTFALL_TYPES = ("rain", "sewage_plant", "industrial")
NOISE_ZONES = ("0", "1", "2", "3", "4a", "4b")


class RegistryError(ValueError):
    """A registry entry that breaks the contract; the message names the station and key."""


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    name: str
    medium: str
    kind: str
    lat: float
    lon: float
    jurisdiction: str
    river: str | None = None
    downstream: str | None = None
    travel_minutes: float | None = None
    target_class: str | None = None
    waterbody: str | None = None
    discharges_into: str | None = None
    outfall_type: str | None = None
    zone: str | None = None
    shared_with: tuple[str, ...] = ()
    hj212_mn: str | None = None
    note: str | None = None
    extra: tuple[tuple[str, object], ...] = field(default=(), compare=False)

    @property
    def is_outfall(self) -> bool:
        return self.kind == "outfall"

    @property
    def jurisdictions(self) -> tuple[str, ...]:
        """Every jurisdiction that may see this station."""
        return (self.jurisdiction, *[j for j in self.shared_with if j != self.jurisdiction])

    def visible_to(self, jurisdiction: str) -> bool:
        return jurisdiction in self.jurisdictions

    def tags(self) -> dict[str, str]:
        """InfluxDB tags: from the registry, never from a payload."""
        t = {"station": self.id, "jurisdiction": self.jurisdiction, "kind": self.kind}
        if self.river:
            t["river"] = self.river
        if self.zone:
            t["zone"] = self.zone
        return t


def _req(entry: dict, key: str, sid: str, types: type | tuple[type, ...]) -> object:
    if key not in entry:
        raise RegistryError(f"station {sid!r}: missing required key {key!r}")
    value = entry[key]
    if not isinstance(value, types) or isinstance(value, bool):
        raise RegistryError(f"station {sid!r}: key {key!r} has bad value {value!r}")
    return value


def _choice(entry: dict, key: str, sid: str, allowed: Iterable[str], required: bool = True) -> str | None:
    if key not in entry and not required:
        return None
    value = str(_req(entry, key, sid, str))
    if value not in allowed:
        raise RegistryError(
            f"station {sid!r}: key {key!r} has bad value {value!r} (allowed: {', '.join(allowed)})"
        )
    return value  # type: ignore[return-value]


def parse_station(entry: dict) -> Station:
    sid = entry.get("id", "<no id>")
    _req(entry, "id", sid, str)
    if not STATION_ID.match(sid):
        raise RegistryError(f"station {sid!r}: key 'id' must match [A-Za-z0-9_-]{{1,32}}")
    name = _req(entry, "name", sid, str)
    medium = _choice(entry, "medium", sid, KINDS)
    kind = _choice(entry, "kind", sid, KINDS[medium])  # type: ignore[index]
    lat = float(_req(entry, "lat", sid, (int, float)))  # type: ignore[arg-type]
    lon = float(_req(entry, "lon", sid, (int, float)))  # type: ignore[arg-type]
    if not (-90 <= lat <= 90) or not (-180 <= lon <= 180):
        raise RegistryError(f"station {sid!r}: lat/lon ({lat}, {lon}) outside WGS 84 ranges")
    jur = _choice(entry, "jurisdiction", sid, JURISDICTIONS)
    shared = entry.get("shared_with", [])
    if not isinstance(shared, list) or any(j not in JURISDICTIONS for j in shared):
        raise RegistryError(f"station {sid!r}: key 'shared_with' has bad value {shared!r}")
    kw: dict = {}
    if medium == "water":
        kw["river"] = _req(entry, "river", sid, str)
        kw["waterbody"] = _choice(entry, "waterbody", sid, WATERBODIES, required=kind != "outfall") or "river"
        if kind == "outfall":
            kw["discharges_into"] = _req(entry, "discharges_into", sid, str)
            kw["outfall_type"] = _choice(entry, "outfall_type", sid, OUTFALL_TYPES)
            kw["downstream"] = entry.get("downstream", kw["discharges_into"])
            kw["target_class"] = _choice(entry, "target_class", sid, CLASSES, required=False)
        else:
            kw["target_class"] = _choice(entry, "target_class", sid, CLASSES)
            kw["downstream"] = entry.get("downstream")
        if kw["downstream"] is not None:
            if not isinstance(kw["downstream"], str):
                raise RegistryError(f"station {sid!r}: key 'downstream' has bad value {kw['downstream']!r}")
            tm = _req(entry, "travel_minutes", sid, (int, float))
            if tm < 0:  # type: ignore[operator]
                raise RegistryError(f"station {sid!r}: key 'travel_minutes' must be >= 0, got {tm!r}")
            kw["travel_minutes"] = float(tm)  # type: ignore[arg-type]
    elif medium == "noise":
        zone = entry.get("zone")
        if isinstance(zone, int) and not isinstance(zone, bool):
            zone = str(zone)
        if zone not in NOISE_ZONES:
            raise RegistryError(
                f"station {sid!r}: key 'zone' has bad value {entry.get('zone')!r} "
                f"(allowed: {', '.join(NOISE_ZONES)})"
            )
        kw["zone"] = zone
    mn = entry.get("hj212_mn")
    if mn is not None and (not isinstance(mn, str) or not 1 <= len(mn) <= 24):
        raise RegistryError(f"station {sid!r}: key 'hj212_mn' has bad value {mn!r}")
    known = {"id", "name", "medium", "kind", "lat", "lon", "jurisdiction", "river", "downstream",
             "travel_minutes", "target_class", "waterbody", "discharges_into", "outfall_type",
             "zone", "shared_with", "hj212_mn", "note"}
    extra = tuple(sorted((k, v) for k, v in entry.items() if k not in known))
    return Station(id=sid, name=name, medium=medium, kind=kind, lat=lat, lon=lon,  # type: ignore[arg-type]
                   jurisdiction=jur, shared_with=tuple(shared), hj212_mn=mn,  # type: ignore[arg-type]
                   note=entry.get("note"), extra=extra, **kw)


# Sampling interval per medium when the registry does not say (DESIGN.md: a reading a minute).
DEFAULT_SAMPLING_S = {"water": 60.0, "noise": 60.0, "air": 60.0}


class Registry(Mapping[str, Station]):
    """All stations of a network, with the river topology derived from ``downstream``.

    ``sampling`` maps a medium to its nominal sampling interval in seconds (the optional
    top-level ``[sampling]`` table of the registry file; a station may override it with
    ``sampling_s``): completeness and offline checks use it.
    """

    def __init__(self, stations: Iterable[Station], source: str = "<memory>",
                 sampling: Mapping[str, float] | None = None):
        self.source = source
        self.sampling = {**DEFAULT_SAMPLING_S, **(sampling or {})}
        self._by_id: dict[str, Station] = {}
        for s in stations:
            if s.id in self._by_id:
                raise RegistryError(f"station {s.id!r}: duplicate id in {source}")
            self._by_id[s.id] = s
        for s in self._by_id.values():
            for key in ("downstream", "discharges_into"):
                target = getattr(s, key)
                if target is None:
                    continue
                if target not in self._by_id:
                    raise RegistryError(f"station {s.id!r}: key {key!r} names unknown station {target!r}")
                t = self._by_id[target]
                if t.medium != "water" or t.is_outfall:
                    raise RegistryError(f"station {s.id!r}: key {key!r} must name a water station, not {target!r}")
        self._by_mn = {s.hj212_mn: s for s in self._by_id.values() if s.hj212_mn}
        self._upstream: dict[str, list[Station]] = {}
        for s in self._by_id.values():
            if s.downstream and not s.is_outfall:
                self._upstream.setdefault(s.downstream, []).append(s)
        self._check_acyclic()

    def _check_acyclic(self) -> None:
        for s in self._by_id.values():
            seen = {s.id}
            cur = s
            while cur.downstream:
                if cur.downstream in seen:
                    raise RegistryError(f"station {s.id!r}: 'downstream' links form a cycle via {cur.downstream!r}")
                seen.add(cur.downstream)
                cur = self._by_id[cur.downstream]

    def __getitem__(self, sid: str) -> Station:
        return self._by_id[sid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def sampling_s(self, sid: str) -> float:
        """Nominal sampling interval of a station, in seconds."""
        st = self._by_id[sid]
        own = dict(st.extra).get("sampling_s")
        return float(own) if isinstance(own, (int, float)) and own > 0 else self.sampling[st.medium]

    def by_medium(self, medium: str) -> list[Station]:
        return [s for s in self._by_id.values() if s.medium == medium]

    def by_mn(self, mn: str) -> Station | None:
        return self._by_mn.get(mn)

    def downstream_chain(self, sid: str) -> list[Station]:
        """Stations below ``sid`` in flow order (for an outfall: from its receiving station)."""
        out = []
        cur = self._by_id[sid]
        while cur.downstream:
            cur = self._by_id[cur.downstream]
            out.append(cur)
        return out

    def travel_minutes_between(self, upstream: str, downstream: str) -> float | None:
        """Flow time from ``upstream`` to ``downstream``; None when not connected."""
        total = 0.0
        cur = self._by_id[upstream]
        while cur.downstream:
            total += cur.travel_minutes or 0.0
            if cur.downstream == downstream:
                return total
            cur = self._by_id[cur.downstream]
        return None

    def upstream_of(self, sid: str) -> list[Station]:
        """River/lake stations directly upstream (outfalls excluded)."""
        return list(self._upstream.get(sid, []))

    def outfalls_into(self, sid: str) -> list[Station]:
        return [s for s in self._by_id.values() if s.is_outfall and s.discharges_into == sid]

    def describe_source(self, source: str, *, ids: bool = True) -> str:
        """A suspected source (DESIGN.md: an outfall's id, or a river segment
        ``"<upstream id>..<station id>"``) in words for the officials and field teams who read
        the alert: a station by its name, a segment as the reach between two stations. A
        segment whose upstream end is empty (``"..<station id>"``: the core found no single
        station above it, at a headwater or below a confluence) is the reach above the
        station. ``ids`` adds each station's id after its name. Ids the registry does not know
        are shown as they are.

        >>> reg = load_registry()
        >>> reg.describe_source("OF_TZ_RAIN")
        '陶庄工业区雨水排口(OF_TZ_RAIN)'
        >>> reg.describe_source("LXT_TAOZHUANG..TZ_TOWN", ids=False)
        '芦墟塘陶庄枢纽至陶庄镇河之间河段'
        >>> reg.describe_source("..LXT_LUXU")
        '芦墟塘芦墟(LXT_LUXU)以上河段'
        """
        def place(sid: str) -> str:
            st = self._by_id.get(sid)
            if st is None:
                return sid
            return f"{st.name}({sid})" if ids else st.name

        if ".." not in source:
            return place(source)
        up, down = source.split("..", 1)
        if not up:
            return f"{place(down)}以上河段"
        return f"{place(up)}至{place(down)}之间河段"

    def visible_to(self, jurisdiction: str) -> list[Station]:
        return [s for s in self._by_id.values() if s.visible_to(jurisdiction)]


def load_registry(path: Path | str | None = None) -> Registry:
    p = Path(path) if path else STATIONS_FILE
    raw = read_toml(p, RegistryError, "station registry")
    entries = raw.get("station")
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{p}: no [[station]] tables")
    sampling = raw.get("sampling", {})
    if not isinstance(sampling, dict) or any(
            k not in DEFAULT_SAMPLING_S or not isinstance(v, (int, float)) or v <= 0 for k, v in sampling.items()):
        raise RegistryError(f"{p}: [sampling] must map water/noise/air to seconds > 0, got {sampling!r}")
    return Registry((parse_station(e) for e in entries), source=str(p), sampling=sampling)
