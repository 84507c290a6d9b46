"""GB 3838-2002 surface-water classes by single-factor evaluation (单因子评价).

A section takes the worst class of its evaluated parameters; anything worse than the class V
limit is 劣V (class 6 here). TN is a lake/reservoir item only and never classes a river.

>>> single_factor_class("nh3n", 1.0), single_factor_class("nh3n", 1.0001)
(3, 4)
>>> single_factor_class("cond", 520.0) is None
True
>>> wc = section_class({"do": 6.5, "nh3n": 0.8, "tp": 0.45, "tn": 3.0}, waterbody="river")
>>> wc.label, wc.label_zh, wc.worst
('劣V', '重度污染', ('tp',))
>>> meets_target(wc.cls, "III"), str(limit("tp", 5, waterbody="river"))
(False, '≤ 0.4 mg/L')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from analytics.standards._tables import Limit, StandardsTableError, check_finite, load_table

TABLE = "gb3838-2002"
WATERBODIES = ("river", "lake")
LABELS = ("I", "II", "III", "IV", "V", "劣V")
WORSE_THAN_V = 6

# Labels as written in reports and registries: ASCII, Unicode Roman numerals, with or without 类.
_ROMAN = {"Ⅰ": "I", "Ⅱ": "II", "Ⅲ": "III", "Ⅳ": "IV", "Ⅴ": "V"}


@dataclass(frozen=True, slots=True)
class _Rule:
    parameter: str
    kind: str  # "max" | "min" | "range"
    unit: str
    limits: Mapping[str, tuple[float, ...]]  # waterbody -> limits of classes I..V
    lower: float | None = None  # "range" only
    upper: float | None = None


@cache
def _rules() -> dict[str, _Rule]:
    raw = load_table(TABLE)
    rules: dict[str, _Rule] = {}
    for name, entry in raw["parameter"].items():
        where = f"{TABLE}.toml parameter.{name}"
        kind = entry.get("kind")
        if kind == "range":
            rules[name] = _Rule(name, kind, entry["unit"], {}, entry["lower"], entry["upper"])
            continue
        if kind not in ("max", "min"):
            raise StandardsTableError(f"{where}: kind must be max, min or range, got {kind!r}")
        limits: dict[str, tuple[float, ...]] = {}
        for body, values in entry["limits"].items():
            if body not in WATERBODIES or len(values) != 5:
                raise StandardsTableError(f"{where}: limits.{body} must be 5 values for I..V")
            # Limits must get looser from I to V; this catches transcription typos such as the
            # "105" for TN class IV in one of the sources.
            ordered = sorted(values) if kind == "max" else sorted(values, reverse=True)
            if list(values) != ordered:
                raise StandardsTableError(f"{where}: limits.{body} not monotonic: {values}")
            limits[body] = tuple(float(v) for v in values)
        rules[name] = _Rule(name, kind, entry["unit"], limits)
    return rules


def _check_waterbody(waterbody: str) -> None:
    if waterbody not in WATERBODIES:
        raise ValueError(f"waterbody must be one of {WATERBODIES}, got {waterbody!r}")


def classed_parameters(waterbody: str = "river") -> tuple[str, ...]:
    """The parameters that GB 3838 classes for this waterbody (TN only for lakes).

    >>> classed_parameters("river")
    ('ph', 'do', 'codmn', 'cod', 'bod5', 'nh3n', 'tp')
    """
    _check_waterbody(waterbody)
    return tuple(n for n, r in _rules().items() if r.kind == "range" or waterbody in r.limits)


def single_factor_class(parameter: str, value: float, waterbody: str = "river") -> int | None:
    """Class 1..5 of one value, 6 for 劣V; None if the standard does not class the parameter.

    The limits themselves belong to the better class (NH3-N 1.0 is III), DO is a lower bound,
    pH 6–9 is class I and anything outside is 劣V.

    >>> single_factor_class("do", 5.0), single_factor_class("do", 4.99)
    (3, 4)
    >>> single_factor_class("tn", 3.0, "river") is None, single_factor_class("tn", 3.0, "lake")
    (True, 6)
    """
    _check_waterbody(waterbody)
    rule = _rules().get(parameter)
    if rule is None:
        return None
    if rule.kind != "range" and waterbody not in rule.limits:
        return None
    value = check_finite(parameter, value)
    if rule.kind == "range":
        assert rule.lower is not None and rule.upper is not None
        return 1 if rule.lower <= value <= rule.upper else WORSE_THAN_V
    for cls, bound in enumerate(rule.limits[waterbody], start=1):
        if (value <= bound) if rule.kind == "max" else (value >= bound):
            return cls
    return WORSE_THAN_V


def class_label(cls: int) -> str:
    """Label of a class: "I".."V" for 1..5 and "劣V" for 6.

    >>> class_label(3), class_label(6)
    ('III', '劣V')
    """
    if isinstance(cls, bool) or not isinstance(cls, int) or not 1 <= cls <= WORSE_THAN_V:
        raise ValueError(f"GB 3838 class must be an int 1..6, got {cls!r}")
    return LABELS[cls - 1]


def label_zh(cls: int) -> str:
    """Chinese quality label of a class: 优 (I–II), 良好, 轻度污染, 中度污染, 重度污染 (劣V).

    >>> label_zh(2), label_zh(6)
    ('优', '重度污染')
    """
    return str(load_table(TABLE)["labels_zh"][class_label(cls)])


def parse_class(label: str) -> int:
    """1..6 from "I".."V" / "劣V"; also accepts Ⅲ-style numerals, lower case and a trailing 类.

    >>> parse_class("III"), parse_class("Ⅳ类"), parse_class("劣V")
    (3, 4, 6)
    """
    text = str(label).strip().removesuffix("类").strip()
    text = "".join(_ROMAN.get(ch, ch) for ch in text).upper()
    if text in LABELS:
        return LABELS.index(text) + 1
    raise ValueError(f"not a GB 3838 class label: {label!r} (expected one of {LABELS})")


def meets_target(cls: int, target_label: str) -> bool:
    """True when class ``cls`` is as good as or better than the target (e.g. a station's "III").

    >>> meets_target(3, "III"), meets_target(4, "III"), meets_target(6, "V")
    (True, False, False)
    """
    class_label(cls)  # refuses anything but 1..6
    return cls <= parse_class(target_label)


def limit(parameter: str, cls: int | str, waterbody: str = "river") -> Limit:
    """The limit a value must meet to be class ``cls`` (int or label), for messages.

    >>> str(limit("do", "III")), str(limit("ph", 1)), str(limit("tp", 3, waterbody="lake"))
    ('≥ 5 mg/L', '6–9', '≤ 0.05 mg/L')
    """
    _check_waterbody(waterbody)
    n = parse_class(cls) if isinstance(cls, str) else cls
    class_label(n)  # validates
    if n == WORSE_THAN_V:
        raise ValueError("劣V has no limit: it is whatever fails class V")
    rule = _rules().get(parameter)
    if rule is None:
        raise ValueError(f"GB 3838 does not class {parameter!r}")
    if rule.kind == "range":
        return Limit(parameter, lower=rule.lower, upper=rule.upper, unit=rule.unit)
    if waterbody not in rule.limits:
        raise ValueError(f"GB 3838 does not class {parameter!r} for a {waterbody}")
    bound = rule.limits[waterbody][n - 1]
    if rule.kind == "max":
        return Limit(parameter, upper=bound, unit=rule.unit)
    return Limit(parameter, lower=bound, unit=rule.unit)


@dataclass(frozen=True)
class WaterClass:
    """The class of one section at one time, with the parameters that decided it.

    ``classes`` holds the class of every evaluated parameter (others are left out).

    >>> wc = WaterClass(cls=4, worst=("nh3n",), classes={"nh3n": 4, "do": 2})
    >>> wc.label, wc.label_zh, wc.worse_than("II")
    ('IV', '轻度污染', ('nh3n',))
    """

    cls: int
    worst: tuple[str, ...]
    classes: dict[str, int] = field(hash=False)
    label: str = field(init=False)
    label_zh: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", class_label(self.cls))
        object.__setattr__(self, "label_zh", label_zh(self.cls))

    def worse_than(self, target_label: str) -> tuple[str, ...]:
        """Parameters whose class is worse than the target, worst first (for alert text)."""
        target = parse_class(target_label)
        bad = [(c, p) for p, c in self.classes.items() if c > target]
        return tuple(p for _, p in sorted(bad, key=lambda cp: -cp[0]))


def section_class(values: Mapping[str, float | None], waterbody: str = "river") -> WaterClass:
    """Single-factor class of a section from its parameter values (missing ones: None).

    Parameters GB 3838 does not class (temp, cond, turb, flow, TN for rivers, ...) are skipped;
    ``ValueError`` if nothing is left to class.

    >>> section_class({"do": 7.8, "codmn": 3.9, "tn": 2.5}, waterbody="lake").worst
    ('tn',)
    """
    _check_waterbody(waterbody)
    classes: dict[str, int] = {}
    for parameter, value in values.items():
        if value is None:
            continue
        cls = single_factor_class(parameter, value, waterbody)
        if cls is not None:
            classes[parameter] = cls
    if not classes:
        raise ValueError(
            f"no GB 3838 parameter for a {waterbody} among {sorted(values)}; "
            f"classed are {classed_parameters(waterbody)}"
        )
    worst = max(classes.values())
    return WaterClass(
        cls=worst,
        worst=tuple(p for p, c in classes.items() if c == worst),
        classes=classes,
    )
