"""Discharge permits (排污许可证): the limits a permit sets on one outfall's daily means.

A national standard (GB 8978-1996 for a factory, GB 18918-2002 for a sewage plant) is the
floor every discharger must meet; the permit an ecology-environment bureau issues names the
limits this outfall is held to, often stricter (a local standard of the Taihu basin, or the
receiving water's capacity). Enforcement judges an outfall by its permit, so where a permit
is in force on a day, the core judges that day's means by the permit's limits, and by the
national standard for the items the permit does not list.

The file (``envmon replay --permits FILE``; live: ``[analytics] permits``) has one
``[[permit]]`` table per permit (see ``seeds/permits.sample.toml``)::

    [[permit]]
    outfall = "OF_YZ_IND"           # a sewage-plant or industrial outfall of the registry
    number = "EXAMPLE-330421-0001"  # the permit's number (排污许可证编号)
    holder = "某印染有限公司"
    issued_by = "嘉兴市生态环境局"
    valid_from = 2024-01-01         # TOML dates, CST days, both included
    valid_to = 2028-12-31
    basis = "GB 8978-1996 一级"      # the standard its limits come from
    [permit.limits]                 # daily means, in the parameter table's units
    cod = 50
    nh3n = 5
    ph = [6, 9]                     # a range: [lower, upper]

A rain outfall takes no permit: under "污水零直排" it may carry rain water only, and any
wastewater there is already an alert. Errors name the file, the permit and the fix.

>>> from envmon.stations import load_registry
>>> reg = load_registry()
>>> permits = parse_permits([{"outfall": "OF_YZ_IND", "number": "P-1", "valid_from": date(2026, 1, 1),
...                           "limits": {"cod": 50, "ph": [6, 9]}}], reg, "permits.toml")
>>> p = permits.in_force("OF_YZ_IND", date(2026, 7, 14))
>>> str(p.limits["cod"]), str(p.limits["ph"]), permits.in_force("OF_YZ_IND", date(2025, 12, 31))
('≤ 50 mg/L', '6–9', None)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from analytics.standards import Limit
from envmon.params import ParameterTable, load_parameters
from envmon.stations import Registry
from envmon.tomlfile import read_toml

KEYS = frozenset({"outfall", "number", "holder", "issued_by", "valid_from", "valid_to", "basis", "limits"})
# The outfalls a permit may belong to, and the national standard their days fall back to
# for the items a permit does not list (and that judges them without a permit).
STANDARD_BY_TYPE = {"industrial": "GB 8978-1996", "sewage_plant": "GB 18918-2002"}
PERMITTED_TYPES = tuple(STANDARD_BY_TYPE)


class PermitsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Permit:
    """One permit: its outfall, number, validity (CST days, both ends included; no end: in
    force until replaced) and its limits on daily means, by parameter."""

    outfall: str
    number: str
    valid_from: date
    limits: Mapping[str, Limit]
    valid_to: date | None = None
    holder: str = ""
    issued_by: str = ""
    basis: str = ""

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True, slots=True)
class Permits:
    """The permits of a network, by outfall (none: every outfall judged by its standard)."""

    by_outfall: Mapping[str, tuple[Permit, ...]] = field(default_factory=dict)

    def in_force(self, outfall: str, day: date) -> Permit | None:
        return next((p for p in self.by_outfall.get(outfall, ()) if p.in_force(day)), None)

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_outfall.values())


def load_permits(path: str | Path, registry: Registry, params: ParameterTable | None = None) -> Permits:
    """Read and check a permits file against the station registry and the parameter table."""
    data = read_toml(path, PermitsError, "permits file")
    unknown = set(data) - {"permit"}
    if unknown:
        raise PermitsError(f"{path}: unknown table(s) {', '.join(sorted(unknown))}; permits are [[permit]] tables")
    entries = data.get("permit", [])
    if not isinstance(entries, list):
        raise PermitsError(f"{path}: 'permit' must be an array of tables: write [[permit]]")
    return parse_permits(entries, registry, str(path), params)


def parse_permits(entries: list[Any], registry: Registry, where: str,
                  params: ParameterTable | None = None) -> Permits:
    """The permits of ``entries`` (the ``[[permit]]`` tables), checked; see the module doc."""
    params = params or load_parameters()
    by_outfall: dict[str, list[Permit]] = {}
    for i, e in enumerate(entries, 1):
        p = _permit(e, registry, params, f"{where}: permit {i}")
        for q in by_outfall.get(p.outfall, []):
            if _overlap(p, q):
                raise PermitsError(f"{where}: permit {i} ({p.number}) and {q.number} are both in force for "
                                   f"{p.outfall} on some day; end the older one (valid_to) before the newer begins")
        by_outfall.setdefault(p.outfall, []).append(p)
    return Permits({k: tuple(sorted(v, key=lambda p: p.valid_from)) for k, v in by_outfall.items()})


def _permit(e: Any, registry: Registry, params: ParameterTable, where: str) -> Permit:
    if not isinstance(e, dict):
        raise PermitsError(f"{where}: must be a table ([[permit]])")
    unknown = set(e) - KEYS
    if unknown:
        raise PermitsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(KEYS))})")
    for key in ("outfall", "number", "valid_from", "limits"):
        if key not in e:
            raise PermitsError(f"{where}: '{key}' is required")
    sid = e["outfall"]
    st = registry.get(sid) if isinstance(sid, str) else None
    if st is None:
        raise PermitsError(f"{where}: outfall {sid!r} is not a station of the registry; use its station id")
    if not st.is_outfall:
        raise PermitsError(f"{where}: {sid} is a {st.kind}, not an outfall; a permit belongs to an outfall")
    if st.outfall_type not in PERMITTED_TYPES:
        raise PermitsError(f"{where}: {sid} is a rain outfall, which takes no discharge permit (污水零直排: "
                           f"it carries rain water only); permits are for {' and '.join(PERMITTED_TYPES)} outfalls")
    strings = {k: e.get(k, "") for k in ("number", "holder", "issued_by", "basis")}
    for k, v in strings.items():
        if not isinstance(v, str) or (k == "number" and not v.strip()):
            raise PermitsError(f"{where}: '{k}' must be {'a non-empty' if k == 'number' else 'a'} string")
    start, end = _day(e["valid_from"], where, "valid_from"), None
    if "valid_to" in e:
        end = _day(e["valid_to"], where, "valid_to")
        if end < start:
            raise PermitsError(f"{where}: valid_to {end} is before valid_from {start}")
    lims = e["limits"]
    if not isinstance(lims, dict) or not lims:
        raise PermitsError(f"{where}: 'limits' must be a table with at least one parameter, e.g. cod = 50")
    limits = {p: _limit(p, v, params, where) for p, v in lims.items()}
    return Permit(sid, strings["number"].strip(), start, limits, end, strings["holder"], strings["issued_by"],
                  strings["basis"])


def _day(v: Any, where: str, key: str) -> date:
    if isinstance(v, datetime) or not isinstance(v, date):
        raise PermitsError(f"{where}: '{key}' must be a TOML date such as 2026-01-01 (no quotes, no time), got {v!r}")
    return v


def _limit(p: str, v: Any, params: ParameterTable, where: str) -> Limit:
    par = params.get(p)
    if par is None:
        raise PermitsError(f"{where}: limits.{p}: not a parameter of the parameter table "
                           f"(seeds/parameters.toml names, e.g. cod, nh3n, tp)")
    if not par.applies_to("water"):
        raise PermitsError(f"{where}: limits.{p}: not a water parameter")
    number = (int, float)
    if isinstance(v, number) and not isinstance(v, bool) and v > 0:
        return Limit(p, upper=float(v), unit=par.unit)
    if (isinstance(v, list) and len(v) == 2 and all(isinstance(x, number) and not isinstance(x, bool) for x in v)
            and v[0] < v[1]):
        return Limit(p, lower=float(v[0]), upper=float(v[1]), unit=par.unit)
    raise PermitsError(f"{where}: limits.{p}: expected a number > 0 (an upper limit) or [lower, upper], got {v!r}")


def _overlap(a: Permit, b: Permit) -> bool:
    return ((a.valid_to is None or b.valid_from <= a.valid_to)
            and (b.valid_to is None or a.valid_from <= b.valid_to))
