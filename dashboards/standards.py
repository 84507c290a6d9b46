"""The standards the dashboards draw as bands and thresholds.

- GB 3096-2008 noise limits are data: read lazily from ``seeds/standards/gb3096-2008.toml``
  when the noise dashboard is built. There is no built-in fallback: a missing or unreadable
  file is a :class:`StandardsError` that names the file, so a dashboard never shows limits
  nobody checked.
- GB 3838-2002 classes are a scale, not limits: 1..5 = I..V, 6 = 劣V (the ``class`` field of
  ``water_class``), labelled and coloured here.
- HJ 633 AQI categories (bands and colours) from ``seeds/standards/hj633-<edition>.toml``
  and GB 3838 per-parameter class limits from ``seeds/standards/gb3838-2002.toml``, read the
  same way (lazily, no built-in copy).

The noise file's exact layout is owned by whoever writes it; the reader accepts the usual
TOML shapes, as long as every zone 0, 1, 2, 3, 4a, 4b has a numeric ``day`` and ``night``:
``[zone."1"] day = 55``, ``[[zone]] zone = "1" ...`` or ``[limits.1] ...``.

>>> limits = parse_noise_limits({"zone": [{"id": z, "day": 60, "night": 50}
...                                        for z in ("0", "1", "2", "3", "4a", "4b")]})
>>> limits["4a"]
NoiseLimit(zone='4a', day=60.0, night=50.0)
>>> class_label(6), aqi_category(120).name
('劣V类', '轻度污染')
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envmon.paths import STANDARDS_DIR
from envmon.stations import NOISE_ZONES

GB3096_FILE = STANDARDS_DIR / "gb3096-2008.toml"


class StandardsError(ValueError):
    """A standards file that is missing or does not give what the dashboards need."""


@dataclass(frozen=True, slots=True)
class NoiseLimit:
    """Leq limits of one GB 3096 function zone in dB(A).

    >>> NoiseLimit("1", 55, 45).night
    45
    """

    zone: str
    day: float
    night: float


def _zone_key(value: Any) -> str:
    return str(value).strip().lower()


def _walk(node: Any, key: str | None) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every mapping with a numeric ``day`` and ``night``, with the zone it belongs to."""
    if isinstance(node, Mapping):
        day, night = node.get("day"), node.get("night")
        if isinstance(day, int | float) and isinstance(night, int | float):
            zone = next((node[k] for k in ("zone", "id", "name", "code") if k in node), key)
            if zone is not None:
                yield _zone_key(zone), node
            return
        for k, v in node.items():
            yield from _walk(v, str(k))
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, key)


def parse_noise_limits(doc: Mapping[str, Any], source: str = "<doc>") -> dict[str, NoiseLimit]:
    """Zone → :class:`NoiseLimit`; every zone of ``NOISE_ZONES`` must be present."""
    limits: dict[str, NoiseLimit] = {}
    for zone, entry in _walk(doc, None):
        if zone in NOISE_ZONES and zone not in limits:
            limits[zone] = NoiseLimit(zone, float(entry["day"]), float(entry["night"]))
    missing = [z for z in NOISE_ZONES if z not in limits]
    if missing:
        raise StandardsError(
            f"{source}: no numeric day/night limits for GB 3096 zone(s) {', '.join(missing)}"
        )
    return limits


@dataclass(frozen=True, slots=True)
class NoiseStandard:
    """GB 3096 limits per zone, and how far Lmax may exceed the night limit (None: the file
    does not say, and no burst line is drawn).

    >>> load_noise_standard().limits["1"].day
    55.0
    """

    limits: Mapping[str, NoiseLimit]
    night_burst_over: float | None


def load_noise_standard(path: Path | str | None = None) -> NoiseStandard:
    """Read the GB 3096-2008 file; raises :class:`StandardsError` naming the file."""
    p = Path(path) if path else GB3096_FILE
    doc = _read(p, "GB 3096-2008 limits")
    burst = doc.get("night_burst", {}).get("max_over_night_limit")
    if burst is not None and not isinstance(burst, int | float):
        raise StandardsError(f"{p}: night_burst.max_over_night_limit has bad value {burst!r}")
    return NoiseStandard(parse_noise_limits(doc, str(p)),
                         None if burst is None else float(burst))


# --- GB 3838-2002 class scale -------------------------------------------------------------
CLASS_LABELS = {1: "I类", 2: "II类", 3: "III类", 4: "IV类", 5: "V类", 6: "劣V类"}
CLASS_NUMBER = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}
# Colours as the bulletins of the Ministry draw them (I–II blue, III green, IV yellow,
# V orange, 劣V red).
CLASS_COLORS = {1: "#1f78c1", 2: "#56a64b", 3: "#37872d", 4: "#f2cc0c", 5: "#ff9830",
                6: "#e02f44"}


def class_label(n: int) -> str:
    """'III类' for 3, '劣V类' for 6."""
    return CLASS_LABELS[n]


# --- HJ 633 AQI categories (data: seeds/standards/hj633-<edition>.toml) -----------------------
@dataclass(frozen=True, slots=True)
class AqiCategory:
    """One AQI band: from ``low`` (inclusive) upwards, HJ 633 level, name and colour.

    >>> load_aqi_categories()[0]
    AqiCategory(level=1, low=0, name='优', color='#00e400')
    """

    level: int
    low: int
    name: str
    color: str


def _hex(rgb: list[int]) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


def load_aqi_categories(editions: tuple[str, ...] = ("2026", "2012"),
                        directory: Path | None = None) -> tuple[AqiCategory, ...]:
    """The AQI categories; every edition must agree, since one set of colour bands is drawn
    whatever edition the dashboard shows."""
    found: dict[str, tuple[AqiCategory, ...]] = {}
    for ed in editions:
        p = (directory or STANDARDS_DIR) / f"hj633-{ed}.toml"
        doc = _read(p, "HJ 633 AQI categories")
        try:
            rows = sorted(doc["category"], key=lambda c: c["level"])
            parsed: list[AqiCategory] = []
            low = 0
            for c in rows:
                parsed.append(AqiCategory(int(c["level"]), low, str(c["category_zh"]), _hex(c["rgb"])))
                low = int(c["aqi_max"]) + 1
        except (KeyError, TypeError, ValueError) as err:
            raise StandardsError(f"{p}: [[category]] needs level, aqi_max, category_zh, rgb: "
                                 f"{err!r}") from err
        found[ed] = tuple(parsed)
    first = found[editions[0]]
    for ed, cats in found.items():
        if cats != first:
            raise StandardsError(f"HJ 633 editions {editions[0]} and {ed} disagree on categories")
    return first


def aqi_category(aqi: float, categories: tuple[AqiCategory, ...] | None = None) -> AqiCategory:
    """The band an AQI value falls in."""
    cats = categories or load_aqi_categories()
    found = cats[0]
    for cat in cats:
        if aqi >= cat.low:
            found = cat
    return found


# --- GB 3838-2002 class limits per parameter (data: seeds/standards/gb3838-2002.toml) ----------
GB3838_FILE = STANDARDS_DIR / "gb3838-2002.toml"


@dataclass(frozen=True, slots=True)
class ClassLimits:
    """One parameter's GB 3838 rule: ``max`` (value <= limit), ``min`` (DO: value >= limit)
    with the limits of classes I..V, or ``range`` (pH: lower..upper for every class).

    >>> ClassLimits("nh3n", "max", (0.15, 0.5, 1.0, 1.5, 2.0)).bands()[:2]
    [(None, 1), (0.15, 2)]
    """

    parameter: str
    kind: str
    limits: tuple[float, ...] = ()
    lower: float | None = None
    upper: float | None = None

    def bands(self) -> list[tuple[float | None, int]]:
        """Ascending (from value, class) steps; class 6 is 劣V. For ``range``: (from, 1 or 6)."""
        if self.kind == "range":
            return [(None, 6), (self.lower, 1), (self.upper, 6)]
        if self.kind == "max":
            steps: list[tuple[float | None, int]] = [(None, 1)]
            for i, lim in enumerate(self.limits):
                steps.append((lim, i + 2))
        else:  # min: lower is worse
            steps = [(None, 6)] + [(lim, i + 1) for i, lim in reversed(list(enumerate(self.limits)))]
        # equal limits (COD I = II): the later step wins, as in the single-factor evaluation
        out: list[tuple[float | None, int]] = []
        for value, cls in steps:
            if out and out[-1][0] == value:
                out[-1] = (value, cls)
            else:
                out.append((value, cls))
        return out


def load_class_limits(waterbody: str = "river",
                      path: Path | None = None) -> dict[str, ClassLimits]:
    """Parameter → :class:`ClassLimits` for ``waterbody`` (river | lake); parameters not
    classed for that waterbody are absent."""
    p = path or GB3838_FILE
    doc = _read(p, "GB 3838-2002 class limits")
    out: dict[str, ClassLimits] = {}
    try:
        for name, rule in doc["parameter"].items():
            if rule["kind"] == "range":
                out[name] = ClassLimits(name, "range", lower=float(rule["lower"]),
                                        upper=float(rule["upper"]))
            elif waterbody in rule.get("limits", {}):
                out[name] = ClassLimits(name, rule["kind"],
                                        tuple(float(v) for v in rule["limits"][waterbody]))
    except (KeyError, TypeError, ValueError) as err:
        raise StandardsError(f"{p}: bad [parameter.*] table: {err!r}") from err
    return out


def _read(p: Path, what: str) -> dict[str, Any]:
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as err:
        raise StandardsError(f"{what} not found: {p} (the dashboards draw these from the "
                             "file and have no built-in copy)") from err
    except tomllib.TOMLDecodeError as err:
        raise StandardsError(f"{p}: not valid TOML: {err}") from err
