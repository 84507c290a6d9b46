"""The parameter table (``seeds/parameters.toml``): names, units, ranges, HJ 212 codes.

>>> table = load_parameters()
>>> table["nh3n"].unit, table["nh3n"].hj212
('mg/L', 'w21003')
>>> table.by_hj212("w01018").name
'cod'
>>> table["cod"].check(2e6)
'impossible'
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from envmon.paths import PARAMETERS_FILE

MEDIA = ("water", "noise", "air")
# Rain intensity (the ``rain`` parameter, mm/h) that counts as rain: the analytics core's
# wet-weather rules and the simulator's truth (``raining``) read the same threshold.
RAIN_MM_H = 0.5


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    medium: str  # water | noise | air | any
    unit: str
    label_zh: str
    range_min: float
    range_max: float
    phys_min: float
    phys_max: float
    hj212: str = ""
    hj212_alt: str = ""

    def check(self, value: float) -> str:
        """'ok', 'out_of_range' (kept, flagged) or 'impossible' (rejected)."""
        if not (self.phys_min <= value <= self.phys_max):
            return "impossible"
        if not (self.range_min <= value <= self.range_max):
            return "out_of_range"
        return "ok"

    def applies_to(self, medium: str) -> bool:
        return self.medium == "any" or self.medium == medium


class ParameterTable(Mapping[str, Parameter]):
    def __init__(self, params: list[Parameter]):
        self._by_name = {p.name: p for p in params}
        self._by_code: dict[str, Parameter] = {}
        for p in params:
            for code in (p.hj212, p.hj212_alt):
                if code:
                    self._by_code[code] = p

    def __getitem__(self, name: str) -> Parameter:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def by_hj212(self, code: str) -> Parameter:
        return self._by_code[code]

    def for_medium(self, medium: str) -> list[Parameter]:
        return [p for p in self._by_name.values() if p.applies_to(medium)]

    def label(self, name: str) -> str:
        """The parameter's Chinese name (``label_zh``), for what officials and field teams
        read; a name the table lacks is shown as it is.

        >>> t = load_parameters()
        >>> t.label("nh3n"), t.label("cod"), t.label("xyz")
        ('氨氮', '化学需氧量', 'xyz')
        """
        p = self._by_name.get(name)
        return p.label_zh if p is not None else name


class ParameterTableError(ValueError):
    pass


def _load(path: Path) -> ParameterTable:
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    params = []
    for i, entry in enumerate(raw.get("parameter", [])):
        try:
            params.append(Parameter(**entry))
        except TypeError as err:
            raise ParameterTableError(f"{path}: parameter #{i + 1} ({entry.get('name')}): {err}") from err
    return ParameterTable(params)


@lru_cache(maxsize=8)
def load_parameters(path: Path | str | None = None) -> ParameterTable:
    return _load(Path(path) if path else PARAMETERS_FILE)
