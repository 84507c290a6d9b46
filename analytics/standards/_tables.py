"""Reading the limit tables in ``seeds/standards/`` (once per process) and the shared ``Limit``.

The tables are data, so that a new edition or a local redefinition (e.g. noise periods) is an
edit to a TOML file, not to code. Every table names its ``source``, ``edition`` and
``in_force_from``; the loader refuses a table without them.

>>> table = load_table("gb3838-2002")
>>> table["edition"], str(table["in_force_from"])
('2002', '2002-06-01')
>>> str(Limit("nh3n", upper=1.0, unit="mg/L")), str(Limit("ph", lower=6.0, upper=9.0))
('≤ 1 mg/L', '6–9')
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from envmon.paths import STANDARDS_DIR
from envmon.timeutil import CST

REQUIRED_KEYS = ("source", "edition", "in_force_from")


class StandardsTableError(ValueError):
    """A limit table that is missing or malformed; the message names the file and the key."""


@cache
def load_table(name: str) -> dict[str, Any]:
    """The parsed ``seeds/standards/<name>.toml``; cached, so each file is read once.

    Callers must not mutate the returned dict (each module builds frozen views from it).
    """
    path = STANDARDS_DIR / f"{name}.toml"
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError as err:
        raise StandardsTableError(f"no limit table {path}") from err
    except tomllib.TOMLDecodeError as err:
        raise StandardsTableError(f"{path}: {err}") from err
    for key in REQUIRED_KEYS:
        if key not in data:
            raise StandardsTableError(f"{path}: missing key {key!r}")
    if not isinstance(data["in_force_from"], date):
        raise StandardsTableError(
            f"{path}: in_force_from must be a TOML date, got {data['in_force_from']!r}"
        )
    return data


def as_cst_date(at: date | datetime) -> date:
    """The CST calendar date of a date or an aware datetime (naive datetimes are refused)."""
    if isinstance(at, datetime):  # a datetime is a date too, but compares only with datetimes
        if at.tzinfo is None:
            raise ValueError(f"datetime {at!r} has no UTC offset")
        return at.astimezone(CST).date()
    return at


def check_finite(name: str, value: float) -> float:
    """``value`` as a float, refusing NaN, infinities and non-numbers with a named error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: not a number: {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: not a finite number: {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit of one parameter: ``lower <= value <= upper`` (either bound may be absent).

    >>> do = Limit("do", lower=5.0, unit="mg/L")
    >>> do.met_by(5.0), do.met_by(4.99), str(do)
    (True, False, '≥ 5 mg/L')
    """

    parameter: str
    lower: float | None = None
    upper: float | None = None
    unit: str = ""

    def met_by(self, value: float) -> bool:
        """True when ``value`` is within the limit (the bounds themselves comply)."""
        if self.lower is not None and value < self.lower:
            return False
        return not (self.upper is not None and value > self.upper)

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.lower is not None and self.upper is not None:
            return f"{self.lower:g}–{self.upper:g}{unit}"
        if self.lower is not None:
            return f"≥ {self.lower:g}{unit}"
        if self.upper is not None:
            return f"≤ {self.upper:g}{unit}"
        return "no limit"
