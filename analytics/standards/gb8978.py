"""GB 8978-1996 integrated wastewater discharge limits (grades 1, 2, 3), for enterprises
built from 1998-01-01.

The core judges an industrial outfall's day by it (:func:`exceeds`, daily means, at the
grade its receiving water sets: :func:`grade_for_water`), and reads its grade-1 COD limit
as a level no water leaving a rain outfall in dry weather can be mistaken at: effluent over
it would break the standard even as a permitted direct discharge. Only the items of
standards.md §5 are tabled. A sector's own standard (GB 4287-2012 for dyeing and finishing
works, for one) replaces GB 8978 where it exists; none is tabled here [M].

>>> str(limit("cod", 1)), str(limit("nh3n", "2")), limit("phosphate", 3)
('≤ 100 mg/L', '≤ 25 mg/L', None)
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from analytics.standards import gb3838
from analytics.standards._tables import Limit, check_finite, load_table

TABLE = "gb8978-1996"
GRADES = ("1", "2", "3")
GRADE_NAMES = {"1": "一级", "2": "二级", "3": "三级"}  # as the standard names them


@cache
def _items() -> dict[str, dict[str, Any]]:
    return dict(load_table(TABLE)["parameter"])


def parameters() -> tuple[str, ...]:
    """The items tabled (project names).

    >>> parameters()
    ('cod', 'bod5', 'ss', 'nh3n', 'phosphate', 'ph')
    """
    return tuple(_items())


def limit(parameter: str, grade: str | int) -> Limit | None:
    """The limit of one item at one grade; None where the grade sets none.

    >>> str(limit("ph", 3)), str(limit("ss", "1"))
    ('6–9', '≤ 70 mg/L')
    """
    g = str(grade).strip()
    if g not in GRADES:
        raise ValueError(f"GB 8978 grade must be one of {GRADES}, got {grade!r}")
    item = _items().get(parameter)
    if item is None:
        raise ValueError(f"GB 8978 is tabled here for {parameters()}, not {parameter!r}")
    if "range" in item:
        low, high = item["range"]
        return Limit(parameter, lower=float(low), upper=float(high), unit=item["unit"])
    upper = item["max"].get(g)
    return None if upper is None else Limit(parameter, upper=float(upper), unit=item["unit"])


def grade_for_water(target_class: str | None) -> str:
    """The grade a direct discharge into water of this GB 3838 class must meet: grade 1 into
    class III water, grade 2 into class IV or V (GB 8978-1996 §4.1.1–4.1.2; not in
    standards.md: [M]). Classes I and II, and the protected parts of III, take no new
    outfalls (§4.1.4, [M]); an existing one there is held to grade 1, the strictest, as is
    one whose receiving water has no class. Grade 3 (discharge into a sewer that leads to a
    treatment plant) is never inferred; set it where it applies.

    >>> grade_for_water("III"), grade_for_water("Ⅴ类"), grade_for_water("II"), grade_for_water(None)
    ('1', '2', '1', '1')
    """
    if target_class is None:
        return "1"
    return "1" if gb3838.parse_class(target_class) <= 3 else "2"


def exceeds(values: Mapping[str, float | None], grade: str | int) -> dict[str, Limit]:
    """The items of ``values`` that break their limit at ``grade``, each with the limit.

    Empty (falsy) when everything complies. Items this table lacks or the grade does not
    limit, and missing values (None), are skipped. TP is not phosphate (as P): it holds
    phosphate and more, so TP over the phosphate limit proves nothing, and it is skipped too.

    >>> sorted(exceeds({"cod": 120.0, "nh3n": 3.0, "ph": 9.4, "tp": 2.0, "flow": 30.0}, "1"))
    ['cod', 'ph']
    >>> exceeds({"cod": 120.0}, "2")
    {}
    """
    broken: dict[str, Limit] = {}
    for item, value in values.items():
        if value is None or item not in _items():
            continue
        lim = limit(item, grade)
        if lim is not None and not lim.met_by(check_finite(item, value)):
            broken[item] = lim
    return broken
