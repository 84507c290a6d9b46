"""GB 3095 ambient-air concentration limits, 2012 and 2026 editions (grade 1 and 2).

GB 3095—2026 (in force 2026-03-01) has transitional limits up to 2030-12-31 and final limits
from 2031-01-01; ``limits`` picks the stage by date. Units µg/m³, CO mg/m³. Periods: "annual",
"24h", "8h" (daily maximum 8-hour mean), "1h".

>>> from datetime import date
>>> limits("2026", grade=2, at=date(2026, 7, 1)).value("pm25", "24h")
60.0
>>> limits("2026", grade=2, at=date(2031, 1, 1)).value("pm25", "24h")
50.0
>>> limits("2012", grade=2).value("pm25", "24h")
75.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from analytics.standards._tables import StandardsTableError, as_cst_date, load_table
from envmon.timeutil import cst_day_start, utcnow

EDITIONS = ("2012", "2026")
GRADES = (1, 2)
POLLUTANTS = ("so2", "no2", "co", "o3", "pm10", "pm25")
PERIODS = ("annual", "24h", "8h", "1h")


def _table(edition: str) -> dict[str, Any]:
    if edition not in EDITIONS:
        raise ValueError(f"GB 3095 edition must be one of {EDITIONS}, got {edition!r}")
    return load_table(f"gb3095-{edition}")


def edition_for(at: date) -> str:
    """The GB 3095 edition in force on a date (the newest whose in_force_from is not after it).

    >>> edition_for(date(2026, 2, 28)), edition_for(date(2026, 3, 1))
    ('2012', '2026')
    """
    day = as_cst_date(at)
    in_force = [e for e in EDITIONS if _table(e)["in_force_from"] <= day]
    return in_force[-1] if in_force else EDITIONS[0]


@dataclass(frozen=True)
class AirLimits:
    """One set of limits: edition, grade, stage ("" for 2012, "transitional" or "final").

    >>> lim = limits("2026", grade=2, at=date(2027, 1, 1))
    >>> lim.stage, lim.value("so2", "1h"), lim.value("pm25", "1h") is None
    ('transitional', 500.0, True)
    """

    edition: str
    grade: int
    stage: str
    values: dict[str, dict[str, float]] = field(hash=False)  # pollutant -> period -> limit

    def value(self, pollutant: str, period: str) -> float | None:
        """The limit, or None where the standard sets none (e.g. PM 1 h, CO annual)."""
        if pollutant not in POLLUTANTS or period not in PERIODS:
            raise ValueError(
                f"pollutant must be one of {POLLUTANTS} and period one of {PERIODS}, "
                f"got {pollutant!r}, {period!r}"
            )
        return self.values.get(pollutant, {}).get(period)

    def exceeded_by(self, pollutant: str, period: str, concentration: float) -> bool:
        """True when the concentration is above the limit (equal complies; no limit: False)."""
        bound = self.value(pollutant, period)
        return bound is not None and concentration > bound


def _grade_values(raw: dict[str, Any], where: str) -> dict[str, dict[str, float]]:
    values: dict[str, dict[str, float]] = {}
    for pollutant, periods in raw.items():
        if pollutant not in POLLUTANTS or not set(periods) <= set(PERIODS):
            raise StandardsTableError(f"{where}: bad entry {pollutant} = {periods}")
        values[pollutant] = {p: float(v) for p, v in periods.items()}
    return values


def limits(edition: str = "2026", grade: int = 2, at: date | None = None) -> AirLimits:
    """Limits of an edition and grade; for 2026 the stage in force on ``at``.

    ``at`` None means today's date in CST. Grade 2 applies to zone 2 (residential, commercial,
    industrial and rural areas: all of this project's stations); grade 1 to zone 1.

    >>> limits("2026", grade=1, at=date(2030, 12, 31)).stage
    'transitional'
    """
    table = _table(edition)
    if grade not in GRADES:
        raise ValueError(f"GB 3095 grade must be 1 or 2, got {grade!r}")
    if edition == "2012":
        raw = table["grade"][str(grade)]
        return AirLimits(edition, grade, "", _grade_values(raw, f"gb3095-{edition}.toml"))
    # No date given: today in CST (the only clock read in this package; tests pass ``at``).
    day = cst_day_start(utcnow()).date() if at is None else as_cst_date(at)
    stage = "final" if day >= table["final_from"] else "transitional"
    raw = table[stage]["grade"][str(grade)]
    return AirLimits(edition, grade, stage, _grade_values(raw, f"gb3095-{edition}.toml {stage}"))
