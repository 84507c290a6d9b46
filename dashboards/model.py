"""A small typed builder for Grafana dashboards (JSON model, schema 39) with InfluxQL targets.

Why our own builder and not ``grafana-foundation-sdk``: the SDK is generated per Grafana
release (its package version tracks Grafana's, its README calls it public preview), is not
in the project's dependencies, and emits a JSON model tied to one Grafana minor version. We
use six panel kinds and one kind of query (raw InfluxQL), so a few frozen dataclasses that
emit exactly the fields Grafana 10/11 read give stable, reviewable JSON snapshots and no new
dependency. Everything here is pure: no I/O, no environment.

Layout is computed, not written by hand: panels flow left to right on the 24-column grid and
wrap; a :class:`Row` starts a new line. Panel ids are assigned in order, so the same input
always renders the same JSON.

>>> ds = Datasource()
>>> p = TimeSeries(title="氨氮 (mg/L)", unit="mg/L",
...                targets=(Target('SELECT mean("nh3n") FROM "water" WHERE $timeFilter'),))
>>> d = Dashboard(uid="demo", title="示例", rows=(Row(title="水质", panels=(p,)),))
>>> j = d.to_json(ds)
>>> [(x["type"], x["gridPos"]["y"]) for x in j["panels"]]
[('row', 0), ('timeseries', 1)]
>>> j["panels"][1]["targets"][0]["rawQuery"], j["timezone"]
(True, 'Asia/Shanghai')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

GRID_WIDTH = 24
SCHEMA_VERSION = 39
TIMEZONE = "Asia/Shanghai"

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Datasource:
    """A reference to the provisioned InfluxDB (InfluxQL) datasource.

    >>> Datasource().ref()
    {'type': 'influxdb', 'uid': 'envmon-influxdb'}
    """

    uid: str = "envmon-influxdb"
    type: str = "influxdb"
    name: str = "envmon InfluxDB"

    def ref(self) -> JSON:
        return {"type": self.type, "uid": self.uid}


@dataclass(frozen=True, slots=True)
class Target:
    """One raw InfluxQL query of a panel.

    ``result_format`` is ``time_series`` (one series per group) or ``table`` (one frame
    with tag columns; what tables and the geomap need).

    >>> Target("SHOW DATABASES", ref_id="B").to_json(Datasource())["refId"]
    'B'
    """

    query: str
    ref_id: str = "A"
    alias: str = ""
    result_format: str = "time_series"

    def __post_init__(self) -> None:
        if self.result_format not in ("time_series", "table"):
            raise ValueError(f"Target.result_format: bad value {self.result_format!r}")
        if not self.query.strip():
            raise ValueError("Target.query must not be empty")

    def to_json(self, ds: Datasource) -> JSON:
        out: JSON = {
            "datasource": ds.ref(),
            "query": self.query,
            "rawQuery": True,
            "refId": self.ref_id,
            "resultFormat": self.result_format,
        }
        if self.alias:
            out["alias"] = self.alias
        return out


@dataclass(frozen=True, slots=True)
class Step:
    """A threshold step: from ``value`` upwards (None = minus infinity) use ``color``.

    >>> Step(None, "green").to_json()
    {'color': 'green', 'value': None}
    """

    value: float | None
    color: str

    def to_json(self) -> JSON:
        return {"color": self.color, "value": self.value}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Absolute thresholds; the first step must start at minus infinity (value None).

    >>> Thresholds((Step(None, "green"), Step(70, "red"))).to_json()["steps"][1]
    {'color': 'red', 'value': 70}
    """

    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not self.steps or self.steps[0].value is not None:
            raise ValueError("Thresholds: the first step must have value None (the base)")
        values = [s.value for s in self.steps[1:]]
        if any(v is None for v in values) or values != sorted(values):  # type: ignore[type-var]
            raise ValueError(f"Thresholds: step values must increase, got {values!r}")

    def to_json(self) -> JSON:
        return {"mode": "absolute", "steps": [s.to_json() for s in self.steps]}


@dataclass(frozen=True, slots=True)
class ValueText:
    """A value mapping: an exact value (or a numeric range) shown as text, optionally coloured.

    >>> ValueText("6", "劣V类", "red").to_json()["options"]["6"]["text"]
    '劣V类'
    """

    value: str
    text: str
    color: str = ""
    to: float | None = None  # given: a range mapping from float(value) to ``to``

    def to_json(self) -> JSON:
        result: JSON = {"text": self.text}
        if self.color:
            result["color"] = self.color
        if self.to is not None:
            return {"type": "range",
                    "options": {"from": float(self.value), "to": self.to, "result": result}}
        return {"type": "value", "options": {self.value: {**result, "index": 0}}}


@dataclass(frozen=True, slots=True)
class Override:
    """Field config for the fields a matcher selects (``byName``, ``byRegexp``, ``byFrameRefID``).

    >>> Override("byName", "TP_JINZE", (("displayName", "太浦河金泽"),)).to_json()["matcher"]
    {'id': 'byName', 'options': 'TP_JINZE'}
    """

    matcher: str
    options: str
    properties: tuple[tuple[str, Any], ...]

    def to_json(self) -> JSON:
        props = []
        for key, value in self.properties:
            if isinstance(value, Thresholds):
                value = value.to_json()
            elif isinstance(value, tuple) and value and isinstance(value[0], ValueText):
                value = [v.to_json() for v in value]
            props.append({"id": key, "value": value})
        return {"matcher": {"id": self.matcher, "options": self.options}, "properties": props}


@dataclass(frozen=True, slots=True)
class Transformation:
    """A Grafana data transformation (``merge``, ``organize``, ``filterByValue`` ...).

    >>> Transformation("merge").to_json()
    {'id': 'merge', 'options': {}}
    """

    id: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> JSON:
        return {"id": self.id, "options": dict(self.options)}


@dataclass(frozen=True, slots=True)
class Panel:
    """Fields every panel kind shares; subclasses set ``kind`` and their own options.

    ``width``/``height`` are grid units (24 columns wide; a unit of height is 30 px).

    >>> Stat(title="AQI", targets=(Target("SELECT 1"),)).to_json(Datasource(), 7, 0, 0)["id"]
    7
    """

    kind: ClassVar[str] = ""
    title: str
    targets: tuple[Target, ...]
    description: str = ""
    unit: str = ""
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    thresholds: Thresholds | None = None
    mappings: tuple[ValueText, ...] = ()
    overrides: tuple[Override, ...] = ()
    transformations: tuple[Transformation, ...] = ()
    color_mode: str = "palette-classic"
    width: int = 12
    height: int = 8
    interval: str = ""
    time_from: str = ""

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("a panel needs a title")
        if not 1 <= self.width <= GRID_WIDTH:
            raise ValueError(f"panel {self.title!r}: width {self.width} outside 1..{GRID_WIDTH}")
        refs = [t.ref_id for t in self.targets]
        if len(set(refs)) != len(refs):
            raise ValueError(f"panel {self.title!r}: duplicate refId in {refs!r}")

    def custom(self) -> JSON:
        """``fieldConfig.defaults.custom`` of this kind."""
        return {}

    def options(self) -> JSON:
        """``options`` of this kind."""
        return {}

    def to_json(self, ds: Datasource, panel_id: int, x: int, y: int) -> JSON:
        defaults: JSON = {"color": {"mode": self.color_mode}, "custom": self.custom(),
                          "mappings": [m.to_json() for m in self.mappings]}
        if self.thresholds is not None:
            defaults["thresholds"] = self.thresholds.to_json()
        for key, value in (("unit", self.unit), ("decimals", self.decimals),
                           ("min", self.min), ("max", self.max)):
            if value not in ("", None):
                defaults[key] = value
        out: JSON = {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "datasource": ds.ref(),
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "fieldConfig": {"defaults": defaults,
                            "overrides": [o.to_json() for o in self.overrides]},
            "options": self.options(),
            "targets": [t.to_json(ds) for t in self.targets],
        }
        if self.description:
            out["description"] = self.description
        if self.transformations:
            out["transformations"] = [t.to_json() for t in self.transformations]
        if self.interval:
            out["interval"] = self.interval
        if self.time_from:
            out["timeFrom"] = self.time_from
        return out


_LEGEND = {"displayMode": "list", "placement": "bottom", "showLegend": True}
_TOOLTIP = {"mode": "multi", "sort": "none"}


@dataclass(frozen=True, slots=True)
class TimeSeries(Panel):
    """Lines (or bars/points) over time; ``threshold_style`` ``line``/``area``/``line+area``
    draws the thresholds on the graph.

    >>> TimeSeries(title="t", targets=(Target("SELECT 1"),), threshold_style="area").custom()[
    ...     "thresholdsStyle"]
    {'mode': 'area'}
    """

    kind: ClassVar[str] = "timeseries"
    draw_style: str = "line"
    line_interpolation: str = "linear"
    threshold_style: str = "off"
    show_points: str = "auto"
    span_nulls: bool = False

    def custom(self) -> JSON:
        return {"drawStyle": self.draw_style, "lineInterpolation": self.line_interpolation,
                "lineWidth": 1, "fillOpacity": 10 if self.draw_style == "line" else 60,
                "showPoints": self.show_points, "spanNulls": self.span_nulls,
                "thresholdsStyle": {"mode": self.threshold_style}}

    def options(self) -> JSON:
        return {"legend": dict(_LEGEND), "tooltip": dict(_TOOLTIP)}


@dataclass(frozen=True, slots=True)
class Stat(Panel):
    """Big number(s), coloured by thresholds (``color_by`` ``background`` or ``value``).

    >>> Stat(title="s", targets=(Target("SELECT 1"),)).options()["reduceOptions"]["calcs"]
    ['lastNotNull']
    """

    kind: ClassVar[str] = "stat"
    reducer: str = "lastNotNull"
    color_by: str = "background"
    text_mode: str = "value_and_name"
    graph_mode: str = "none"

    def options(self) -> JSON:
        return {"colorMode": self.color_by, "graphMode": self.graph_mode, "justifyMode": "auto",
                "orientation": "auto", "textMode": self.text_mode,
                "reduceOptions": {"calcs": [self.reducer], "fields": "", "values": False}}


@dataclass(frozen=True, slots=True)
class Table(Panel):
    """A table; ``cell_mode`` ``color-background`` colours cells by thresholds/mappings.

    >>> Table(title="t", targets=(Target("SELECT 1", result_format="table"),)).custom()["align"]
    'auto'
    """

    kind: ClassVar[str] = "table"
    cell_mode: str = "auto"
    sort_by: str = ""
    sort_desc: bool = True

    def custom(self) -> JSON:
        return {"align": "auto", "cellOptions": {"type": self.cell_mode}, "inspect": False}

    def options(self) -> JSON:
        out: JSON = {"cellHeight": "sm", "showHeader": True,
                     "footer": {"show": False, "reducer": ["sum"], "fields": ""}}
        if self.sort_by:
            out["sortBy"] = [{"displayName": self.sort_by, "desc": self.sort_desc}]
        return out


@dataclass(frozen=True, slots=True)
class BarGauge(Panel):
    """Horizontal bars, one per series (e.g. data completeness per station).

    >>> BarGauge(title="b", targets=(Target("SELECT 1"),)).options()["orientation"]
    'horizontal'
    """

    kind: ClassVar[str] = "bargauge"
    reducer: str = "lastNotNull"
    display_mode: str = "gradient"

    def options(self) -> JSON:
        return {"displayMode": self.display_mode, "orientation": "horizontal",
                "showUnfilled": True, "minVizHeight": 10, "minVizWidth": 0,
                "valueMode": "color", "namePlacement": "auto", "sizing": "auto",
                "reduceOptions": {"calcs": [self.reducer], "fields": "", "values": False}}


@dataclass(frozen=True, slots=True)
class StateTimeline(Panel):
    """States over time as coloured bands (e.g. the GB 3838 class of each section).

    >>> StateTimeline(title="s", targets=(Target("SELECT 1"),)).options()["mergeValues"]
    True
    """

    kind: ClassVar[str] = "state-timeline"

    def custom(self) -> JSON:
        return {"fillOpacity": 80, "lineWidth": 0}

    def options(self) -> JSON:
        return {"alignValue": "left", "mergeValues": True, "rowHeight": 0.9, "showValue": "auto",
                "legend": dict(_LEGEND), "tooltip": {"mode": "single", "sort": "none"}}


@dataclass(frozen=True, slots=True)
class MarkerLayer:
    """A marker layer of a geomap: rows of the target ``ref_id`` placed by looking the
    ``lookup_field`` value up in a gazetteer file (station id → lon/lat), coloured by
    ``color_field`` through that field's thresholds.

    >>> MarkerLayer("水质", "A", "class", "public/g.json").to_json()["location"]["mode"]
    'lookup'
    """

    name: str
    ref_id: str
    color_field: str
    gazetteer: str
    lookup_field: str = "station"
    size: int = 9
    symbol: str = "img/icons/marker/circle.svg"

    def to_json(self) -> JSON:
        return {
            "type": "markers",
            "name": self.name,
            "config": {
                "showLegend": True,
                "style": {
                    "color": {"field": self.color_field, "fixed": "dark-green"},
                    "opacity": 0.85,
                    "size": {"fixed": self.size, "max": 15, "min": 2},
                    "symbol": {"fixed": self.symbol, "mode": "fixed"},
                    "symbolAlign": {"horizontal": "center", "vertical": "center"},
                    "text": {"field": self.lookup_field, "fixed": "", "mode": "field"},
                    "textConfig": {"fontSize": 10, "offsetX": 0, "offsetY": -12,
                                   "textAlign": "center", "textBaseline": "bottom"},
                },
            },
            "filterData": {"id": "byRefId", "options": self.ref_id},
            "location": {"mode": "lookup", "lookup": self.lookup_field,
                         "gazetteer": self.gazetteer},
            "tooltip": True,
        }


@dataclass(frozen=True, slots=True)
class Geomap(Panel):
    """A map centred on ``center`` (lat, lon) with one marker layer per query.

    >>> g = Geomap(title="m", targets=(Target("SELECT 1", result_format="table"),),
    ...            center=(31.0, 120.9), layers=(MarkerLayer("x", "A", "v", "public/g.json"),))
    >>> g.options()["view"]["lat"]
    31.0
    """

    kind: ClassVar[str] = "geomap"
    center: tuple[float, float] = (0.0, 0.0)
    zoom: float = 10.0
    layers: tuple[MarkerLayer, ...] = ()

    def options(self) -> JSON:
        return {
            "basemap": {"type": "default", "name": "底图", "config": {}},
            "controls": {"mouseWheelZoom": True, "showAttribution": True, "showZoom": True,
                         "showScale": True},
            "layers": [layer.to_json() for layer in self.layers],
            "tooltip": {"mode": "details"},
            "view": {"id": "coords", "lat": self.center[0], "lon": self.center[1],
                     "zoom": self.zoom, "allLayers": True},
        }


@dataclass(frozen=True, slots=True)
class Row:
    """A titled row; its panels follow it on the grid.

    >>> Row(title="水质").title
    '水质'
    """

    title: str
    panels: tuple[Panel, ...] = ()


@dataclass(frozen=True, slots=True)
class QueryVariable:
    """A template variable filled by an InfluxQL query (``SHOW TAG VALUES ...``).

    In panel queries use it as ``"station" =~ /^$station$/``: Grafana then expands a
    multi-value or "All" selection to ``(a|b|c)`` with the values regex-escaped.

    >>> QueryVariable("river", "河流", 'SHOW TAG VALUES FROM "water" WITH KEY = "river"').to_json(
    ...     Datasource())["type"]
    'query'
    """

    name: str
    label: str
    query: str
    multi: bool = True
    include_all: bool = True

    def to_json(self, ds: Datasource) -> JSON:
        return {
            "name": self.name, "label": self.label, "type": "query", "datasource": ds.ref(),
            "query": self.query, "definition": self.query, "refresh": 2, "sort": 1,
            "multi": self.multi, "includeAll": self.include_all, "options": [],
            "current": ({"selected": True, "text": ["All"], "value": ["$__all"]}
                        if self.include_all else {}),
            "hide": 0, "regex": "", "skipUrlSync": False,
        }


@dataclass(frozen=True, slots=True)
class CustomVariable:
    """A template variable with a fixed list of (text, value) options.

    >>> v = CustomVariable("edition", "HJ 633 版本", (("2026", "2026"), ("2012", "2012")),
    ...                    multi=False, include_all=False)
    >>> v.to_json()["current"]["value"]
    '2026'
    """

    name: str
    label: str
    choices: tuple[tuple[str, str], ...]
    multi: bool = True
    include_all: bool = True

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError(f"variable {self.name!r} needs at least one choice")

    def to_json(self) -> JSON:
        options = [{"selected": i == 0 and not self.include_all, "text": t, "value": v}
                   for i, (t, v) in enumerate(self.choices)]
        if self.include_all:
            options.insert(0, {"selected": True, "text": "All", "value": "$__all"})
            current: JSON = {"selected": True, "text": ["All"], "value": ["$__all"]}
        else:
            t, v = self.choices[0]
            current = {"selected": True, "text": t, "value": v}
        return {
            "name": self.name, "label": self.label, "type": "custom",
            "query": ",".join(f"{t} : {v}" if t != v else v for t, v in self.choices),
            "multi": self.multi, "includeAll": self.include_all, "options": options,
            "current": current, "hide": 0, "skipUrlSync": False,
        }


Variable = QueryVariable | CustomVariable


@dataclass(frozen=True, slots=True)
class Annotation:
    """An InfluxQL annotation query (events drawn on every time-series panel).

    >>> Annotation("告警", 'SELECT "message" FROM "alerts" WHERE $timeFilter').to_json(
    ...     Datasource())["textColumn"]
    'message'
    """

    name: str
    query: str
    text_column: str = "message"
    tags_column: str = "station,kind,severity"
    title_column: str = "station_name"
    icon_color: str = "red"

    def to_json(self, ds: Datasource) -> JSON:
        return {"name": self.name, "datasource": ds.ref(), "enable": True, "hide": False,
                "iconColor": self.icon_color, "query": self.query,
                "textColumn": self.text_column, "tagsColumn": self.tags_column,
                "titleColumn": self.title_column}


_BUILTIN_ANNOTATION: JSON = {
    "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
    "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
    "type": "dashboard",
}


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A dashboard: rows of panels, variables, annotations; time zone Asia/Shanghai.

    >>> Dashboard(uid="x", title="t").to_json(Datasource())["uid"]
    'x'
    """

    uid: str
    title: str
    rows: tuple[Row, ...] = ()
    variables: tuple[Variable, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    tags: tuple[str, ...] = ("envmon",)
    description: str = ""
    time_from: str = "now-24h"
    refresh: str = "1m"

    def __post_init__(self) -> None:
        if not self.uid or len(self.uid) > 40:
            raise ValueError(f"dashboard uid {self.uid!r}: 1..40 characters required")
        names = [v.name for v in self.variables]
        if len(set(names)) != len(names):
            raise ValueError(f"dashboard {self.uid!r}: duplicate variable in {names!r}")

    def panels(self) -> list[Panel]:
        return [p for row in self.rows for p in row.panels]

    def to_json(self, ds: Datasource) -> JSON:
        out_panels: list[JSON] = []
        next_id = 1
        y = 0
        for row in self.rows:
            out_panels.append({"id": next_id, "type": "row", "title": row.title,
                               "collapsed": False, "panels": [],
                               "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}})
            next_id += 1
            y += 1
            x, line_height = 0, 0
            for panel in row.panels:
                if x + panel.width > GRID_WIDTH:
                    x, y, line_height = 0, y + line_height, 0
                out_panels.append(panel.to_json(ds, next_id, x, y))
                next_id += 1
                x += panel.width
                line_height = max(line_height, panel.height)
            y += line_height
        variables = [v.to_json(ds) if isinstance(v, QueryVariable) else v.to_json()
                     for v in self.variables]
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "timezone": TIMEZONE,
            "weekStart": "monday",
            "editable": True,
            "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION,
            "refresh": self.refresh,
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {},
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "links": [{"asDropdown": True, "icon": "external link", "includeVars": False,
                       "keepTime": True, "tags": ["envmon"], "targetBlank": False,
                       "title": "envmon", "type": "dashboards"}],
            "annotations": {"list": [dict(_BUILTIN_ANNOTATION),
                                     *[a.to_json(ds) for a in self.annotations]]},
            "templating": {"list": variables},
            "panels": out_panels,
        }
