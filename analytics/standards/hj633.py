"""HJ 633 air quality index (AQI), editions 2012 and 2026 (default: 2026, in force 2026-03-01).

IAQI = (IAQI_hi − IAQI_lo)/(BP_hi − BP_lo)·(C − BP_lo) + IAQI_lo, rounded up (进位取整), and
AQI = max(IAQI). Arithmetic is exact (fractions of the decimal values), so a concentration on a
breakpoint gives exactly its IAQI and the round-up never sees binary noise such as
100.00000000000001. Pollutants use the project's names: pm25, pm10, so2, no2, o3 (µg/m³), co
(mg/m³).

What the editions do differently (all driven by ``seeds/standards/hj633-*.toml``):

- 2026: new PM breakpoints; PM 1 h values are scored on the daily breakpoints in real-time
  reports; concentrations are first rounded per GB/T 8170 (CO to 0.1, others to integers);
  SO2 1 h > 800 → IAQI 200, O3 8 h > 800 → IAQI 300; AQI reported within 1..500; a missing
  pollutant makes the AQI NA unless the others already give > 100.
- 2012: real-time PM IAQIs come from the 24 h sliding means; SO2 1 h > 800 has no 1 h IAQI
  (SO2 is reported from its 24 h value, key ``so2_24h``); O3 8 h > 800 has no 8 h IAQI (O3 is
  reported from its 1 h value); the daily report has 7 indicators (O3 max 1 h and max 8 h).

>>> iaqi("pm25", "24h", 75, edition="2012"), iaqi("pm25", "24h", 60), iaqi("pm25", "24h", 75)
(100, 100, 114)
>>> r = aqi_hourly({"pm25": 80, "pm10": 90, "so2": 10, "no2": 40, "co": 0.6, "o3": 120})
>>> r.aqi, r.primary, r.category_zh, r.colour
(119, ('pm25',), '轻度污染', (255, 126, 0))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from functools import cache
from itertools import pairwise
from typing import Any

from analytics.standards._tables import StandardsTableError, as_cst_date, load_table

EDITIONS = ("2012", "2026")
DEFAULT_EDITION = "2026"
POLLUTANTS = ("pm25", "pm10", "so2", "no2", "co", "o3")
AVERAGINGS = ("1h", "8h", "24h")
_PM = ("pm25", "pm10")


@dataclass(frozen=True, slots=True)
class Category:
    """One AQI level: 1..6 with its Chinese names and colour.

    >>> aqi_category(151)
    Category(level=4, level_zh='四级', category_zh='中度污染', colour_zh='红色',
             rgb=(255, 0, 0), aqi_max=200)
    """

    level: int
    level_zh: str
    category_zh: str
    colour_zh: str
    rgb: tuple[int, int, int]
    aqi_max: int


@dataclass(frozen=True)
class _Edition:
    edition: str
    iaqi: tuple[int, ...]
    breakpoints: dict[str, tuple[Fraction, ...]]
    so2_1h_over_800: str | int  # "use_24h" (2012) or the IAQI to report (2026)
    o3_8h_over_800: str | int  # "use_1h" (2012) or the IAQI to report (2026)
    pm_1h_on_24h: bool
    round_concentrations: bool
    decimals: dict[str, int]
    aqi_min: int
    aqi_max: int
    missing: str  # "max_of_available" | "na_unless_over_100"
    hourly_required: tuple[str, ...]
    hourly_optional: tuple[str, ...]
    daily_required: tuple[str, ...]
    daily_optional: tuple[str, ...]
    categories: tuple[Category, ...]


def _exact(value: float | int | Decimal) -> Fraction:
    # Through the decimal text: 0.1 is meant as one tenth, not as the nearest binary double.
    return Fraction(Decimal(repr(value)) if isinstance(value, float) else value)


@cache
def _edition(edition: str) -> _Edition:
    if edition not in EDITIONS:
        raise ValueError(f"HJ 633 edition must be one of {EDITIONS}, got {edition!r}")
    name = f"hj633-{edition}"
    raw: dict[str, Any] = load_table(name)
    levels = tuple(int(v) for v in raw["iaqi"])
    breakpoints: dict[str, tuple[Fraction, ...]] = {}
    for key, values in raw["breakpoints"].items():
        bps = tuple(_exact(v) for v in values)
        if not (2 <= len(bps) <= len(levels)) or any(a >= b for a, b in pairwise(bps)):
            raise StandardsTableError(f"{name}.toml breakpoints.{key}: must rise, ≤ 8 values")
        breakpoints[key] = bps
    rules, report = raw["rules"], raw["report"]
    categories = tuple(
        Category(
            level=c["level"],
            level_zh=c["level_zh"],
            category_zh=c["category_zh"],
            colour_zh=c["colour_zh"],
            rgb=(c["rgb"][0], c["rgb"][1], c["rgb"][2]),
            aqi_max=c["aqi_max"],
        )
        for c in raw["category"]
    )
    if report["missing"] not in ("max_of_available", "na_unless_over_100"):
        raise StandardsTableError(f"{name}.toml report.missing: {report['missing']!r}")
    return _Edition(
        edition=edition,
        iaqi=levels,
        breakpoints=breakpoints,
        so2_1h_over_800=rules["so2_1h_over_800"],
        o3_8h_over_800=rules["o3_8h_over_800"],
        pm_1h_on_24h=bool(rules["pm_1h_on_24h_breakpoints"]),
        round_concentrations=bool(rules["round_concentrations"]),
        decimals=dict(rules.get("decimals", {})),
        aqi_min=int(report["aqi_min"]),
        aqi_max=int(report["aqi_max"]),
        missing=report["missing"],
        hourly_required=tuple(report["hourly_required"]),
        hourly_optional=tuple(report["hourly_optional"]),
        daily_required=tuple(report["daily_required"]),
        daily_optional=tuple(report["daily_optional"]),
        categories=categories,
    )


def edition_for(at: date | datetime) -> str:
    """The HJ 633 edition in force on a date (2012 before 2026-03-01, 2026 from then).

    >>> edition_for(date(2026, 2, 28)), edition_for(date(2026, 3, 1))
    ('2012', '2026')
    """
    day = as_cst_date(at)
    in_force = [e for e in EDITIONS if load_table(f"hj633-{e}")["in_force_from"] <= day]
    return in_force[-1] if in_force else EDITIONS[0]


def round_gbt8170(value: float, decimals: int) -> float:
    """Round like GB/T 8170 数值修约: in one step, a dropped exact half goes to the even digit.

    GB/T 8170 rounds "四舍六入五成双": below 5 down, above 5 up, a 5 followed by non-zero
    digits up, and a bare 5 to the even neighbour. That is ROUND_HALF_EVEN on the DECIMAL value
    as reported, so the float is taken through its shortest repr (``round(2.675, 2)`` on the
    binary double would give 2.67 for the wrong reason). Rounding is done once from the original
    value, never in steps (35.46 → 35, whereas 35.46 → 35.5 → 36 would be wrong).

    >>> round_gbt8170(34.5, 0), round_gbt8170(35.5, 0), round_gbt8170(34.51, 0)
    (34.0, 36.0, 35.0)
    >>> round_gbt8170(0.25, 1), round_gbt8170(0.35, 1), round_gbt8170(2.675, 2)
    (0.2, 0.4, 2.68)
    """
    quantum = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_EVEN))


def _indicator(pollutant: str, averaging: str, ed: _Edition) -> str:
    if pollutant not in POLLUTANTS or averaging not in AVERAGINGS:
        raise ValueError(
            f"pollutant must be one of {POLLUTANTS} and averaging one of {AVERAGINGS}, "
            f"got {pollutant!r}, {averaging!r}"
        )
    key = f"{pollutant}_{averaging}"
    if pollutant in _PM and averaging == "1h":
        if not ed.pm_1h_on_24h:
            raise ValueError(
                f"HJ 633-{ed.edition} has no 1 h PM breakpoints; score the 24 h (sliding) mean"
            )
        key = f"{pollutant}_24h"
    if key not in ed.breakpoints:
        raise ValueError(f"HJ 633-{ed.edition} has no {averaging} breakpoints for {pollutant}")
    return key


def iaqi(
    pollutant: str, averaging: str, concentration: float, edition: str = DEFAULT_EDITION
) -> int | None:
    """Individual AQI of one concentration; None where the edition gives no index.

    ``averaging`` is "1h", "8h" (O3) or "24h". None only in 2012 for SO2 1 h > 800 (use the 24 h
    value) and O3 8 h > 800 (use the 1 h value). Above a column's top breakpoint: 500.

    Worked example (2012, PM2.5 24 h 35.1): 50 + (100−50)/(75−35)·(35.1−35) = 50.125 → 51.

    >>> iaqi("pm25", "24h", 35.1, edition="2012"), iaqi("so2", "1h", 801, edition="2012")
    (51, None)
    >>> iaqi("so2", "1h", 801), iaqi("o3", "8h", 900), iaqi("pm10", "1h", 120)
    (200, 300, 100)
    """
    ed = _edition(str(edition))
    key = _indicator(pollutant, averaging, ed)
    if isinstance(concentration, bool) or not isinstance(concentration, (int, float)):
        raise ValueError(f"{pollutant}: not a number: {concentration!r}")
    if not math.isfinite(concentration) or concentration < 0:
        raise ValueError(f"{pollutant}: concentration must be finite and ≥ 0: {concentration!r}")
    if ed.round_concentrations:
        places = ed.decimals.get(pollutant, ed.decimals.get("default", 0))
        c = _exact(round_gbt8170(concentration, places))
    else:
        c = _exact(concentration)
    if key == "so2_1h" and c > 800:
        rule = ed.so2_1h_over_800
        return None if rule == "use_24h" else int(rule)
    if key == "o3_8h" and c > 800:
        rule = ed.o3_8h_over_800
        return None if rule == "use_1h" else int(rule)
    bps = ed.breakpoints[key]
    if c > bps[-1]:
        return ed.aqi_max
    for i in range(1, len(bps)):
        if c <= bps[i]:
            lo_c, hi_c = bps[i - 1], bps[i]
            lo_i, hi_i = ed.iaqi[i - 1], ed.iaqi[i]
            return math.ceil(Fraction(hi_i - lo_i) / (hi_c - lo_c) * (c - lo_c) + lo_i)
    raise AssertionError("unreachable: c <= bps[-1] was checked")


def aqi_category(aqi: int, edition: str = DEFAULT_EDITION) -> Category:
    """The level (1..6), names and colour of an AQI value.

    >>> aqi_category(50).category_zh, aqi_category(51).category_zh, aqi_category(301).level
    ('优', '良', 6)
    """
    ed = _edition(str(edition))
    if isinstance(aqi, bool) or not isinstance(aqi, int) or not 0 <= aqi <= ed.aqi_max:
        raise ValueError(f"AQI must be an int 0..{ed.aqi_max}, got {aqi!r}")
    return next(c for c in ed.categories if aqi <= c.aqi_max)


@dataclass(frozen=True)
class AQIResult:
    """One AQI report. ``aqi`` None means NA (then level 0, category "NA", colour ()).

    ``iaqi`` maps each indicator (pollutant name; ``o3_8h`` for the O3 8-hour mean) to its IAQI
    or None. ``primary`` lists the pollutants with the highest IAQI when AQI > 50 (ties: all).

    >>> r = aqi_daily({"pm25": 20, "pm10": 40, "so2": 8, "no2": 30, "co": 0.5, "o3_8h": 90})
    >>> r.aqi, r.primary, r.level, r.category_zh
    (45, (), 1, '优')
    """

    aqi: int | None
    iaqi: dict[str, int | None] = field(hash=False)
    primary: tuple[str, ...]
    level: int
    category_zh: str
    colour: tuple[int, ...]
    edition: str = DEFAULT_EDITION


def _present(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _report(
    values: Mapping[str, float | None],
    ed: _Edition,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    averaging_of: Mapping[str, tuple[str, str]],
    what: str,
) -> AQIResult:
    allowed = required + optional
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"HJ 633-{ed.edition} {what} report takes {list(allowed)}, not {unknown}")
    present = {k: v for k, v in values.items() if _present(v)}
    scores: dict[str, int | None] = {}
    for key in allowed:
        if key == "so2_24h":  # not an indicator of its own; serves the 2012 SO2 1 h > 800 rule
            continue
        if key not in present:
            if key in required:
                scores[key] = None
            continue
        pollutant, averaging = averaging_of[key]
        value = present[key]
        assert value is not None
        scores[key] = iaqi(pollutant, averaging, value, ed.edition)
    if scores.get("so2") is None and "so2" in present and "so2_24h" in present:
        so2_24h = present["so2_24h"]
        assert so2_24h is not None
        scores["so2"] = iaqi("so2", "24h", so2_24h, ed.edition)

    scored = [s for s in scores.values() if s is not None]
    incomplete = any(scores.get(k) is None for k in required)
    top = max(scored) if scored else None
    if top is None or (incomplete and ed.missing == "na_unless_over_100" and top <= 100):
        return AQIResult(None, scores, (), 0, "NA", (), ed.edition)
    aqi = min(max(top, ed.aqi_min), ed.aqi_max)
    primary: tuple[str, ...] = ()
    if aqi > 50:
        leaders = {averaging_of[k][0] for k, s in scores.items() if s == top}
        primary = tuple(p for p in POLLUTANTS if p in leaders)
    cat = aqi_category(aqi, ed.edition)
    return AQIResult(aqi, scores, primary, cat.level, cat.category_zh, cat.rgb, ed.edition)


def aqi_hourly(values: Mapping[str, float | None], edition: str = DEFAULT_EDITION) -> AQIResult:
    """Real-time (hourly) AQI from one hour's values; None/NaN/absent = missing.

    2026: keys pm25, pm10, so2, no2, co, o3, all 1-hour means. 2012: pm25 and pm10 are the
    24 h sliding means, the gases 1-hour means; optional ``o3_8h`` (8 h sliding mean, also
    scored) and ``so2_24h`` (used only when SO2 1 h > 800). Unknown keys raise ValueError.

    >>> aqi_hourly({"pm25": 60, "pm10": 120, "so2": 5, "no2": 20, "co": 0.4, "o3": 60}).primary
    ('pm25', 'pm10')
    >>> aqi_hourly({"pm25": 60, "pm10": 50}).aqi is None
    True
    """
    ed = _edition(str(edition))
    pm = "1h" if ed.pm_1h_on_24h else "24h"
    averaging_of = {
        "pm25": ("pm25", pm),
        "pm10": ("pm10", pm),
        "so2": ("so2", "1h"),
        "no2": ("no2", "1h"),
        "co": ("co", "1h"),
        "o3": ("o3", "1h"),
        "o3_8h": ("o3", "8h"),
        "so2_24h": ("so2", "24h"),
    }
    return _report(values, ed, ed.hourly_required, ed.hourly_optional, averaging_of, "hourly")


def aqi_daily(
    daily_values: Mapping[str, float | None], edition: str = DEFAULT_EDITION
) -> AQIResult:
    """Daily AQI from daily values: 24 h means of pm25, pm10, so2, no2, co and ``o3_8h`` (the
    daily maximum 8-hour mean); 2012 also takes ``o3`` (the daily maximum 1-hour value).

    >>> aqi_daily({"pm25": 75, "pm10": 50, "so2": 10, "no2": 20, "co": 0.5, "o3_8h": 100,
    ...            "o3": 120}, edition="2012").aqi
    100
    """
    ed = _edition(str(edition))
    averaging_of = {
        "pm25": ("pm25", "24h"),
        "pm10": ("pm10", "24h"),
        "so2": ("so2", "24h"),
        "no2": ("no2", "24h"),
        "co": ("co", "24h"),
        "o3_8h": ("o3", "8h"),
        "o3": ("o3", "1h"),
    }
    return _report(daily_values, ed, ed.daily_required, ed.daily_optional, averaging_of, "daily")


def o3_8h_moving_average(
    hourly: Sequence[float | None], *, min_valid: int = 6
) -> list[float | None]:
    """8-hour moving means of hourly O3: item i is the mean of hours i−7..i.

    A window needs at least ``min_valid`` valid hours (GB 3095 data validity: 6 of 8 [M]);
    hours before the series starts count as missing, so the first 5 items are None.

    >>> o3_8h_moving_average([60.0, 60.0, 60.0, 120.0, 120.0, 120.0, None, 90.0])
    [None, None, None, None, None, 90.0, 90.0, 90.0]
    >>> o3_8h_moving_average([100.0, None, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0])[-1]
    100.0
    """
    if not 1 <= min_valid <= 8:
        raise ValueError(f"min_valid must be 1..8, got {min_valid!r}")
    out: list[float | None] = []
    for i in range(len(hourly)):
        window = [float(v) for v in hourly[max(0, i - 7) : i + 1] if v is not None and _present(v)]
        out.append(math.fsum(window) / len(window) if len(window) >= min_valid else None)
    return out
