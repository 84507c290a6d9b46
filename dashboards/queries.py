"""Every InfluxQL query a set of dashboards runs, and Grafana's substitution of its macros and
template variables, so tests can execute the queries against a real InfluxDB.

Substitution follows Grafana's InfluxDB datasource: ``$timeFilter`` becomes a time condition,
``$__interval`` a duration; a template variable used in a regex (``/^$station$/``) becomes its
value regex-escaped, or ``(a|b|c)`` for several values ("All" means every option).

>>> substitute('SELECT mean("do") FROM "water" WHERE $timeFilter AND "station" =~ /^$s$/ '
...            'GROUP BY time($__interval)', s=["TP_JINZE", "TZ_TOWN"], __interval="5m")
'SELECT mean("do") FROM "water" WHERE time >= now() - 6h AND "station" =~ /^(TP_JINZE|TZ_TOWN)$/ GROUP BY time(5m)'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboards.model import Dashboard, Datasource

DEFAULT_TIME_FILTER = "time >= now() - 6h"
DEFAULT_INTERVAL = "1m"
_VAR = re.compile(r"\$(\w+)|\$\{(\w+)\}")
_REGEX_SPECIAL = re.compile(r"([\\/^$*+?.()|{}\[\]])")

Value = str | Sequence[str]


def _as_json(dashboard: Dashboard | Mapping[str, Any]) -> Mapping[str, Any]:
    return dashboard.to_json(Datasource()) if isinstance(dashboard, Dashboard) else dashboard


def _panels(panels: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def all_queries(dashboards: Iterable[Dashboard | Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, query) for every panel target, template variable query and
    InfluxQL annotation; accepts :class:`Dashboard` objects or rendered JSON.

    Variable queries are titled ``变量 <name>``, annotations ``注释 <name>``.
    """
    out: list[tuple[str, str, str]] = []
    for d in dashboards:
        j = _as_json(d)
        uid = j["uid"]
        for v in j.get("templating", {}).get("list", []):
            if v.get("type") == "query":
                out.append((uid, f"变量 {v['name']}", v["query"]))
        for a in j.get("annotations", {}).get("list", []):
            if a.get("query"):
                out.append((uid, f"注释 {a['name']}", a["query"]))
        for p in _panels(j.get("panels", [])):
            for t in p.get("targets", []):
                if t.get("query"):
                    out.append((uid, p["title"], t["query"]))
    return out


def regex_escape(value: str) -> str:
    """Escape like Grafana does for a regex literal in InfluxQL (``/`` included).

    >>> regex_escape("a.b/c")
    'a\\\\.b\\\\/c'
    """
    return _REGEX_SPECIAL.sub(r"\\\1", value)


def _format(value: Value) -> str:
    if isinstance(value, str):
        return regex_escape(value)
    values = [regex_escape(v) for v in value]
    if not values:
        raise ValueError("a template variable needs at least one value")
    return values[0] if len(values) == 1 else "(" + "|".join(values) + ")"


DEFAULT_RANGE_S = 6 * 3600


def substitute(query: str, **variables: Value) -> str:
    """Replace Grafana macros and template variables with concrete values.

    ``timeFilter`` (default ``time >= now() - 6h``), ``__interval`` (default ``1m``) and
    ``__range_s`` (the range in seconds, default 21600 to match the default filter) may be
    overridden; every other ``$name`` must be given, else KeyError names it.
    """
    builtins = {"timeFilter": str(variables.pop("timeFilter", DEFAULT_TIME_FILTER)),
                "__interval": str(variables.pop("__interval", DEFAULT_INTERVAL)),
                "__range_s": str(variables.pop("__range_s", DEFAULT_RANGE_S))}

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in builtins:
            return builtins[name]
        if name not in variables:
            raise KeyError(f"no value for template variable ${name} in: {query}")
        return _format(variables[name])

    return _VAR.sub(repl, query)


def variable_values(dashboard: Dashboard | Mapping[str, Any],
                    run: Callable[[str], list[str]], **fixed: Value) -> dict[str, Value]:
    """What Grafana's defaults resolve to: "All" options of every variable (a query variable
    runs its query via ``run`` after substituting the variables before it), or the first
    option of a single-value variable without "All". ``fixed`` overrides a variable.

    >>> from dashboards.model import CustomVariable
    >>> d = Dashboard(uid="x", title="t", variables=(CustomVariable("s", "s", (("甲", "a"),
    ...                                                                       ("乙", "b"))),))
    >>> variable_values(d, run=lambda q: [])
    {'s': ['a', 'b']}
    """
    j = _as_json(dashboard)
    values: dict[str, Value] = {}
    for v in j.get("templating", {}).get("list", []):
        name = v["name"]
        if name in fixed:
            values[name] = fixed[name]
            continue
        if v["type"] == "query":
            options = run(substitute(v["query"], **values))
        else:
            options = [o["value"] for o in v["options"] if o["value"] != "$__all"]
        if not options:
            raise LookupError(f"dashboard {j['uid']}: variable ${name} has no values")
        values[name] = list(options) if v.get("includeAll") else options[0]
    return values


@dataclass(frozen=True)
class QueryCheck:
    """The outcome of running one panel/variable/annotation query against InfluxDB."""

    uid: str
    title: str
    query: str
    ok: bool
    error: str = ""


def has_values(series: list[Mapping[str, Any]]) -> bool:
    """True when any row of any series holds a non-null value besides ``time``."""
    for s in series:
        cols = s.get("columns", [])
        for row in s.get("values", []):
            if any(v is not None for c, v in zip(cols, row, strict=False) if c != "time"):
                return True
    return False


def check_all(dashboards: Iterable[Dashboard | Mapping[str, Any]], query: Callable[[str], list[Any]],
              *, time_filter: str, range_s: float, interval: str = "10m",
              time_filters: Mapping[str, tuple[str, float, str]] | None = None) -> list[QueryCheck]:
    """Run every query of every dashboard the way Grafana would (variables resolved to their
    "All" values, ``$timeFilter`` and ``$__interval`` substituted); ``query(q)`` returns the
    InfluxDB series. ``time_filters`` gives queries of some measurements their own
    (filter, range_s, interval): ingest self-metrics are stamped with wall time every 10 s,
    readings with data time. Used by the tests and at the end of ``envmon demo``."""
    dashboards = list(dashboards)
    out: list[QueryCheck] = []

    def tag_values(q: str) -> list[str]:
        return [row[1] for s in query(q) for row in s.get("values", [])]

    by_uid = {_as_json(d)["uid"]: d for d in dashboards}
    values_cache: dict[str, dict[str, Value]] = {}
    for uid, title, q in all_queries(dashboards):
        try:
            if uid not in values_cache:
                values_cache[uid] = variable_values(by_uid[uid], run=tag_values)
            tf, rs, iv = time_filter, range_s, interval
            for measurement, own in (time_filters or {}).items():
                if f'FROM "{measurement}"' in q:
                    tf, rs, iv = own
            concrete = substitute(q, timeFilter=tf, __interval=iv, __range_s=f"{rs:g}", **values_cache[uid])
            out.append(QueryCheck(uid, title, concrete, has_values(query(concrete))))
        except Exception as err:
            out.append(QueryCheck(uid, title, q, False, f"{type(err).__name__}: {err}"))
    return out
