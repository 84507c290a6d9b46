"""GB 18918-2002 discharge limits of municipal wastewater plants (grades 1A, 1B, 2, 3).

Used for ``sewage_plant`` outfalls. Limits are daily-mean maxima; NH3-N has a looser limit
when the water is at or below 12 °C, and TP a looser one for plants built before 2006.

>>> str(limit("cod", "1A")), str(limit("nh3n", "1B", water_temp=10.0)), limit("tn", "2")
('≤ 50 mg/L', '≤ 15 mg/L', None)
>>> sorted(exceeds({"cod": 55.0, "nh3n": 4.0, "tp": 0.6, "ph": 7.2}, "1A"))
['cod', 'tp']
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from analytics.standards._tables import Limit, check_finite, load_table

TABLE = "gb18918-2002"
GRADES = ("1A", "1B", "2", "3")


@cache
def _parameters() -> dict[str, dict[str, Any]]:
    return dict(load_table(TABLE)["parameter"])


def _grade(grade: str | int) -> str:
    g = str(grade).strip().upper()
    if g not in GRADES:
        raise ValueError(f"GB 18918 grade must be one of {GRADES}, got {grade!r}")
    return g


def parameters() -> tuple[str, ...]:
    """The parameters GB 18918 limits (project names).

    >>> parameters()
    ('cod', 'bod5', 'ss', 'tn', 'nh3n', 'tp', 'ph', 'fecal_coliform')
    """
    return tuple(_parameters())


def limit(
    parameter: str,
    grade: str | int,
    *,
    water_temp: float | None = None,
    plant_built_before_2006: bool = False,
) -> Limit | None:
    """The limit of one parameter at one grade; None where the grade sets none.

    ``water_temp`` (°C) selects the bracketed NH3-N limit at or below 12 °C; unknown
    temperature uses the normal (stricter) limit.

    >>> str(limit("ph", "3")), str(limit("tp", "1b", plant_built_before_2006=True))
    ('6–9', '≤ 1.5 mg/L')
    """
    g = _grade(grade)
    entry = _parameters().get(parameter)
    if entry is None:
        raise ValueError(f"GB 18918 does not limit {parameter!r}; it limits {parameters()}")
    unit = entry["unit"]
    if "range" in entry:
        lower, upper = entry["range"]
        return Limit(parameter, lower=float(lower), upper=float(upper), unit=unit)
    table = entry["max"]
    if water_temp is not None and "max_cold" in entry:
        if check_finite("temp", water_temp) <= entry["cold_at_or_below_c"]:
            table = entry["max_cold"]
    if plant_built_before_2006 and "max_before_2006" in entry:
        table = entry["max_before_2006"]
    if g not in table:
        return None
    return Limit(parameter, upper=float(table[g]), unit=unit)


def exceeds(
    values: Mapping[str, float | None],
    grade: str | int,
    *,
    plant_built_before_2006: bool = False,
) -> dict[str, Limit]:
    """The parameters of ``values`` that break their limit, each with the limit broken.

    Empty (falsy) when everything complies. Parameters GB 18918 does not limit (temp, flow,
    cond, ...) and missing values (None) are skipped; ``values["temp"]`` if present selects the
    cold-water NH3-N limit.

    >>> exceeds({"nh3n": 10.0, "temp": 11.0}, "1B"), list(exceeds({"nh3n": 10.0}, "1B"))
    ({}, ['nh3n'])
    """
    g = _grade(grade)
    temp = values.get("temp")
    broken: dict[str, Limit] = {}
    for parameter, value in values.items():
        if value is None or parameter not in _parameters():
            continue
        lim = limit(parameter, g, water_temp=temp, plant_built_before_2006=plant_built_before_2006)
        if lim is not None and not lim.met_by(check_finite(parameter, value)):
            broken[parameter] = lim
    return broken
