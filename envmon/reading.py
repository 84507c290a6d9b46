"""One measured value of one parameter at one station at one time.

>>> from envmon.timeutil import parse_time
>>> r = Reading("TZ_TOWN", parse_time("2026-07-14T02:13:00+08:00"), "cod", 18.2)
>>> r.flag, r.ok
('N', True)
>>> Reading("bad id!", r.time, "cod", 1.0)
Traceback (most recent call last):
...
envmon.reading.ReadingError: bad station id 'bad id!'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

# HJ 212-2017 table 8 data flags.
FLAGS = {
    "N": "normal",
    "F": "stopped",
    "M": "maintenance",
    "S": "manual setpoint",
    "D": "fault",
    "C": "calibration",
    "T": "above range",
    "B": "communication fault",
}
# Flags whose values describe the water/air/noise (T: a real value beyond the range).
VALID_FLAGS = frozenset({"N", "T"})
_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_PARAM = re.compile(r"^[a-z0-9_]{1,32}$")


class ReadingError(ValueError):
    """A reading that breaks an invariant; ``reason`` names which, in a few words that
    count well (the message says which value)."""

    def __init__(self, message: str, reason: str = "bad reading") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Reading:
    station: str
    time: datetime  # aware, UTC
    parameter: str
    value: float
    flag: str = "N"

    def __post_init__(self) -> None:
        if not isinstance(self.station, str) or not _ID.match(self.station):
            raise ReadingError(f"bad station id {self.station!r}", "bad station id")
        if not isinstance(self.parameter, str) or not _PARAM.match(self.parameter):
            raise ReadingError(f"bad parameter name {self.parameter!r}", "bad parameter name")
        if self.time.tzinfo is None:
            raise ReadingError("reading time must carry a UTC offset", "time without UTC offset")
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)) or not math.isfinite(self.value):
            raise ReadingError(f"value of {self.parameter} is not a finite number: {self.value!r}", "value not finite")
        if self.flag not in FLAGS:
            raise ReadingError(f"unknown data flag {self.flag!r} (HJ 212: {''.join(FLAGS)})", "unknown data flag")

    @classmethod
    def trusted(cls, station: str, time: datetime, parameter: str, value: float, flag: str = "N") -> Reading:
        """A reading whose every invariant the caller has already established: the ingest
        quality gate (station from the registry, a parameter name from the parameter table,
        an aware UTC time, a finite float, an HJ 212 flag). Skips the re-check, once per
        value on ingest's hot path; everyone else constructs ``Reading(...)``.

        >>> from envmon.timeutil import parse_time
        >>> t = parse_time("2026-07-14T02:13:00Z")
        >>> Reading.trusted("TZ_TOWN", t, "cod", 18.2) == Reading("TZ_TOWN", t, "cod", 18.2)
        True
        """
        r = object.__new__(cls)
        _SET_STATION(r, station)
        _SET_TIME(r, time)
        _SET_PARAMETER(r, parameter)
        _SET_VALUE(r, value)
        _SET_FLAG(r, flag)
        return r

    @property
    def ok(self) -> bool:
        """True when the value describes the environment (flag N or T)."""
        return self.flag in VALID_FLAGS


# The slots' own setters, as ``object.__setattr__`` ends up calling them, without its name
# lookup: a third of the cost of ``Reading.trusted``, called once per value on every hot path.
_SET_STATION, _SET_TIME, _SET_PARAMETER, _SET_VALUE, _SET_FLAG = (
    vars(Reading)[f].__set__ for f in ("station", "time", "parameter", "value", "flag"))
