"""GB 8978-1996 integrated wastewater discharge limits (grades 1, 2, 3), for enterprises
built from 1998-01-01.

The core reads its grade-1 COD limit as a level no water leaving a rain outfall in dry
weather can be mistaken at: effluent over it would break the standard even as a permitted
direct discharge. Only the items of standards.md §5 are tabled.

>>> str(limit("cod", 1)), str(limit("nh3n", "2")), limit("phosphate", 3)
('≤ 100 mg/L', '≤ 25 mg/L', None)
"""

from __future__ import annotations

from functools import cache
from typing import Any

from analytics.standards._tables import Limit, load_table

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
