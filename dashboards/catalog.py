"""The envmon dashboards, generated from the station registry (another network, other
dashboards) on the InfluxDB schema the lead fixed (measurements ``water``, ``noise``, ``air``,
``alerts``, ``water_class``, ``aqi``, ``noise_leq``, ``ingest``).

Every query is raw InfluxQL with Grafana's ``$timeFilter``/``$__interval`` macros; template
variables are used as ``"tag" =~ /^$var$/`` so "All" and multi-selections work. Variable
names are unique across dashboards (``water_station``, ``air_station`` ...) so one set of
values can substitute every query (:mod:`dashboards.queries`).

>>> from envmon.stations import load_registry
>>> reg = load_registry()
>>> d = water_dashboard(reg, load_standards(reg))
>>> d.uid, d.title
('envmon-water', '水质 — 河流断面（GB 3838）')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dashboards.model import (
    Annotation,
    BarGauge,
    CustomVariable,
    Dashboard,
    Geomap,
    MarkerLayer,
    Override,
    Panel,
    QueryVariable,
    Row,
    Stat,
    StateTimeline,
    Step,
    Table,
    Target,
    Thresholds,
    TimeSeries,
    Transformation,
    ValueText,
)
from dashboards.standards import (
    CLASS_COLORS,
    CLASS_LABELS,
    CLASS_NUMBER,
    GB3096_FILE,
    GB3838_FILE,
    AqiCategory,
    ClassLimits,
    NoiseStandard,
    load_aqi_categories,
    load_class_limits,
    load_noise_standard,
)
from envmon.alerts import KIND_ZH, SEVERITIES, SEVERITY_ZH
from envmon.params import load_parameters
from envmon.paths import STANDARDS_DIR
from envmon.stations import JURISDICTION_ZH, NOISE_ZONES, Registry, Station

GAZETTEER_NAME = "envmon-stations.json"
# Where Grafana serves the gazetteer from: mount dashboards/gazetteer/ at
# /usr/share/grafana/public/gazetteer/ (docs/dashboards.md).
GAZETTEER_URL = f"public/gazetteer/{GAZETTEER_NAME}"
# Completeness = readings received / readings expected over the dashboard's time range
# ($__range_s), at each station's nominal interval from the registry's [sampling] table.
# A field every station of a kind reports with each reading: what completeness counts.
PRESENCE_FIELD = {"river_section": "temp", "boundary_section": "temp", "lake": "temp",
                  "outfall": "flow", "noise": "laeq", "air": "pm25"}
WATER_KEY_PARAMETERS = ("do", "codmn", "nh3n", "tp", "tn", "cod", "ph", "temp", "cond", "turb",
                        "flow", "level", "rain")
# What automatic boundary stations measure ("9+X": no COD analyser at river sections).
BOUNDARY_PARAMETERS = ("do", "codmn", "nh3n", "tp", "tn", "ph", "cond", "flow")
AIR_POLLUTANTS = ("pm25", "pm10", "so2", "no2", "o3", "co")
MEDIUM_ZH = {"water": "水", "noise": "声", "air": "气"}
SEVERITY_COLOR = {"info": "blue", "warning": "orange", "critical": "red"}
ZONE_ZH = {"0": "0类（康复疗养区）", "1": "1类（居住文教区）", "2": "2类（商住混合区）",
           "3": "3类（工业区）", "4a": "4a类（交通干线两侧）", "4b": "4b类（铁路干线两侧）"}

UIDS = ("envmon-overview", "envmon-water", "envmon-boundary", "envmon-noise", "envmon-air",
        "envmon-alerts", "envmon-ingest")


# --- small helpers --------------------------------------------------------------------------
def _unit(unit: str) -> str:
    """Grafana unit id: built-in where one exists, else a literal suffix."""
    return {"°C": "celsius", "%": "percent", "s": "s", "": "none"}.get(unit, f"suffix: {unit}")


# Parameters whose table label has no Chinese name of its own.
_ZH_NAME = {"ph": "酸碱度", "pm25": "细颗粒物", "pm10": "可吸入颗粒物"}


def _label(name: str) -> str:
    """'氨氮 nh3n (mg/L)', '细颗粒物 PM2.5 (µg/m³)': Chinese name, code, unit."""
    p = load_parameters()[name]
    head = f"{_ZH_NAME[name]} {p.label_zh}" if name in _ZH_NAME else f"{p.label_zh} {name}"
    return head + (f" ({p.unit})" if p.unit else "")


def _in(var: str, tag: str = "station") -> str:
    return f'"{tag}" =~ /^${var}$/'


def _names(stations: Iterable[Station], jurisdiction: bool = False) -> tuple[Override, ...]:
    """Series aliased ``$tag_station`` are shown with the station's Chinese name."""
    return tuple(
        Override("byName", s.id, (("displayName", _display(s, jurisdiction)),))
        for s in stations
    )


def _display(s: Station, jurisdiction: bool = False) -> str:
    return f"{s.name}（{JURISDICTION_ZH[s.jurisdiction]}）" if jurisdiction else s.name


def _name_column(stations: Iterable[Station], column: str = "station") -> Override:
    """Table column of station ids shown as Chinese names."""
    return Override("byName", column, (
        ("displayName", "站点"),
        ("mappings", tuple(ValueText(s.id, f"{s.name} ({s.id})") for s in stations)),
    ))


CLASS_THRESHOLDS = Thresholds((Step(None, CLASS_COLORS[1]),
                               *(Step(n, CLASS_COLORS[n]) for n in range(2, 7))))
CLASS_MAPPINGS = tuple(ValueText(str(n), label, CLASS_COLORS[n]) for n, label in CLASS_LABELS.items())


def aqi_thresholds(cats: Sequence[AqiCategory]) -> Thresholds:
    return Thresholds((Step(None, cats[0].color), *(Step(c.low, c.color) for c in cats[1:])))


def aqi_level_mappings(cats: Sequence[AqiCategory]) -> tuple[ValueText, ...]:
    return tuple(ValueText(str(c.level), f"{c.level}级 {c.name}", c.color) for c in cats)


def class_band_thresholds(rule: ClassLimits) -> Thresholds:
    """A parameter's GB 3838 class limits as coloured bands."""
    return Thresholds(tuple(Step(v, CLASS_COLORS[c]) for v, c in rule.bands()))


@dataclass(frozen=True, slots=True)
class Standards:
    """The standards tables the dashboards draw, loaded once per build."""

    aqi: tuple[AqiCategory, ...]
    river: Mapping[str, ClassLimits]
    lake: Mapping[str, ClassLimits]
    noise: NoiseStandard | None


def water_parameter_panel(name: str, where: str, stations: Sequence[Station],
                          std: Standards, width: int, title_suffix: str = "",
                          jurisdiction: bool = False) -> TimeSeries:
    """One water parameter over time, its GB 3838 class limits drawn as dashed lines (river
    limits; a lake station is coloured by the lake limits of its own series)."""
    rule = std.river.get(name) or std.lake.get(name)
    overrides = list(_names(stations, jurisdiction))
    note = ""
    if rule is not None:
        if name not in std.river:
            note = "（湖库标准）"
        for s in stations:
            lake_rule = std.lake.get(name)
            if s.waterbody == "lake" and lake_rule is not None and lake_rule != rule:
                overrides.append(Override("byName", s.id, (
                    ("thresholds", class_band_thresholds(lake_rule)),)))
    return TimeSeries(
        title=f"{_label(name)}{title_suffix}{note}",
        description="虚线为 GB 3838-2002 I–V 类限值（颜色同水质类别）。" if rule else "",
        targets=(Target(f'SELECT mean("{name}") FROM "water" WHERE $timeFilter AND {where} '
                        'GROUP BY time($__interval), "station" fill(null)',
                        alias="$tag_station"),),
        unit=_unit(load_parameters()[name].unit), width=width, height=8,
        thresholds=class_band_thresholds(rule) if rule else None,
        threshold_style="dashed" if rule else "off", overrides=tuple(overrides))
COMPLETENESS_THRESHOLDS = Thresholds((Step(None, "red"), Step(80, "orange"), Step(95, "green")))
MEETS_MAPPINGS = (ValueText("1", "达标", "green"), ValueText("0", "未达标", "red"))


def alerts_annotation(medium: str | None = None) -> Annotation:
    """Raised alerts as annotations (of one medium, or all)."""
    where = "" if medium is None else f""" AND "medium" = '{medium}'"""
    name = "告警" if medium is None else f"告警（{MEDIUM_ZH[medium]}）"
    return Annotation(
        name=name,
        query=('SELECT "message", "station_name", "station", "kind", "severity" FROM "alerts" '
               f"""WHERE $timeFilter AND "event" = 'raised'{where}"""),
    )


def open_alerts_target(where: str = "") -> Target:
    """The latest event per (station, kind); open = 1 means not cleared yet.

    ``id`` is a field, so InfluxQL cannot group by it: an alert is (station, kind), which is
    also how the alert store deduplicates."""
    inner = ('SELECT last("open") AS "open", last("id") AS "id", last("station_name") AS '
             '"station_name", last("message") AS "message", last("parameters") AS "parameters", '
             'last("event") AS "event" FROM "alerts" WHERE $timeFilter'
             + (f" AND {where}" if where else "") + ' GROUP BY "station", "kind"')
    return Target(f'SELECT * FROM ({inner}) WHERE "open" = 1 GROUP BY "station", "kind"',
                  result_format="table")


def open_alerts_table(title: str, where: str = "", width: int = 14) -> Table:
    return Table(
        title=title, targets=(open_alerts_target(where),), width=width, height=9,
        description="每个（站点, 类型）最近一次告警事件仍为 open=1 的告警。",
        overrides=(
            Override("byName", "kind", (("displayName", "类型"), ("mappings", tuple(
                ValueText(k, v) for k, v in KIND_ZH.items())))),
            Override("byName", "station_name", (("displayName", "站点"),)),
            Override("byName", "message", (("displayName", "内容"),)),
            Override("byName", "parameters", (("displayName", "参数"),)),
        ),
        transformations=(Transformation("organize", {"excludeByName": {
            "Time": True, "open": True, "station": True, "event": True}}),),
    )


# --- 1. zone overview -----------------------------------------------------------------------
def _completeness_targets(registry: Registry) -> tuple[Target, ...]:
    by_field: dict[tuple[str, str, float], list[str]] = {}
    for s in registry.values():
        by_field.setdefault((s.medium, PRESENCE_FIELD[s.kind], registry.sampling_s(s.id)), []).append(s.kind)
    targets = []
    for i, ((medium, fld, interval), kinds) in enumerate(sorted(by_field.items())):
        kind_re = "|".join(sorted(set(kinds)))
        targets.append(Target(
            f'SELECT count("{fld}") * 100 / ($__range_s / {interval:g}) AS "completeness" FROM "{medium}" '
            f'WHERE $timeFilter AND "kind" =~ /^({kind_re})$/ GROUP BY "station"',
            ref_id=chr(ord("A") + i), alias="$tag_station"))
    return tuple(targets)


def _center(registry: Registry) -> tuple[float, float]:
    lats = [s.lat for s in registry.values()]
    lons = [s.lon for s in registry.values()]
    return (round((min(lats) + max(lats)) / 2, 4), round((min(lons) + max(lons)) / 2, 4))


def overview_dashboard(registry: Registry, std: Standards) -> Dashboard:
    aqi_th = aqi_thresholds(std.aqi)
    stations = list(registry.values())
    geomap = Geomap(
        title="站点地图：水质类别 / AQI / 噪声超标 / 排口流量 (L/s)",
        description="站点坐标来自站点表（gazetteer 文件，由 envmon dashboards build 生成）；"
                    "颜色为最近一小时的水质类别、AQI 类别、噪声是否超标。",
        targets=(
            Target("""SELECT last("class") AS "class" FROM "water_class" WHERE $timeFilter """
                   """AND "period" = 'hour' GROUP BY "station\"""", "A", result_format="table"),
            Target("""SELECT last("aqi") AS "aqi" FROM "aqi" WHERE $timeFilter AND "period" = """
                   """'hour' AND "edition" = '2026' GROUP BY "station\"""", "B",
                   result_format="table"),
            Target("""SELECT last("exceed") AS "exceed" FROM "noise_leq" WHERE $timeFilter AND """
                   """"period" = 'hour' GROUP BY "station\"""", "C", result_format="table"),
            Target("""SELECT last("flow") AS "flow" FROM "water" WHERE $timeFilter AND "kind" = """
                   """'outfall' GROUP BY "station\"""", "D", result_format="table"),
        ),
        center=_center(registry), zoom=11, width=16, height=16,
        layers=(MarkerLayer("水质类别", "A", "class", GAZETTEER_URL),
                MarkerLayer("AQI", "B", "aqi", GAZETTEER_URL),
                MarkerLayer("噪声超标", "C", "exceed", GAZETTEER_URL),
                MarkerLayer("排口流量", "D", "flow", GAZETTEER_URL, size=6)),
        overrides=(
            Override("byName", "class", (("thresholds", CLASS_THRESHOLDS),
                                         ("color", {"mode": "thresholds"}),
                                         ("mappings", CLASS_MAPPINGS))),
            Override("byName", "aqi", (("thresholds", aqi_th),
                                       ("color", {"mode": "thresholds"}))),
            Override("byName", "exceed", (("thresholds", Thresholds(
                (Step(None, "green"), Step(1, "red")))), ("color", {"mode": "thresholds"}),
                ("mappings", (ValueText("0", "达标", "green"), ValueText("1", "超标", "red"))))),
            Override("byName", "flow", (("color", {"mode": "fixed", "fixedColor": "purple"}),
                                        ("unit", _unit("L/s")))),
            _name_column(stations),
        ),
    )
    open_count = Stat(
        title="开放告警 (条)",
        targets=(Target(
            'SELECT count("open") AS "open" FROM (SELECT last("open") AS "open" FROM "alerts" '
            'WHERE $timeFilter GROUP BY "station", "kind") WHERE "open" = 1'),),
        thresholds=Thresholds((Step(None, "green"), Step(1, "orange"), Step(5, "red"))),
        color_mode="thresholds", width=8, height=5, unit="none")
    aqi_now = Stat(
        title="最新小时 AQI",
        targets=(Target("""SELECT last("aqi") FROM "aqi" WHERE $timeFilter AND "period" = """
                        """'hour' AND "edition" = '2026' GROUP BY "station\"""",
                        alias="$tag_station"),),
        thresholds=aqi_th, color_mode="thresholds", width=8, height=5,
        overrides=_names(registry.by_medium("air")))
    class_now = Stat(
        title="断面最新水质类别（GB 3838）",
        targets=(Target("""SELECT last("class") FROM "water_class" WHERE $timeFilter AND """
                        """"period" = 'hour' GROUP BY "station\"""", alias="$tag_station"),),
        thresholds=CLASS_THRESHOLDS, mappings=CLASS_MAPPINGS, color_mode="thresholds",
        width=8, height=6, overrides=_names(registry.by_medium("water")))
    completeness = BarGauge(
        title="数据完整率 (%)（所选时段，应收按各站采样间隔）",
        description="每站收到的读数 / 应收读数（时段长度 ÷ 站点采样间隔，见 seeds/stations.toml [sampling]）。"
                    "时段内一条也没有的站点不出现，见地图与告警。",
        targets=_completeness_targets(registry), unit="percent", min=0, max=100, decimals=1,
        thresholds=COMPLETENESS_THRESHOLDS, color_mode="thresholds", width=10, height=14,
        overrides=_names(stations))
    return Dashboard(
        uid="envmon-overview", title="区域总览 — 嘉善·青浦·吴江",
        description="全部站点地图、开放告警、数据完整率。",
        rows=(Row("站点与状态", (geomap, open_count, aqi_now, class_now)),
              Row("告警与数据完整率", (open_alerts_table("开放告警"), completeness))),
        annotations=(alerts_annotation(),), tags=("envmon", "overview"))


# --- 2. water quality -----------------------------------------------------------------------
def _target_override(s: Station) -> Override:
    """The section's target class as its threshold: above it (worse) is red."""
    target = CLASS_NUMBER[s.target_class or "V"]
    return Override("byName", s.id, (
        ("displayName", f"{s.name}（目标 {s.target_class}类）"),
        ("thresholds", Thresholds((Step(None, "green"), Step(target + 1, "red")))),
        ("custom.thresholdsStyle", {"mode": "dashed"}),
    ))


def water_dashboard(registry: Registry, std: Standards) -> Dashboard:
    sections = [s for s in registry.by_medium("water") if not s.is_outfall]
    water = registry.by_medium("water")
    sel = _in("water_station")
    class_q = ("""SELECT last("class") FROM "water_class" WHERE $timeFilter AND "period" = 'hour' """
               f'AND {sel} GROUP BY time($__interval), "station" fill(none)')
    class_rows = (
        StateTimeline(title="水质类别变化（GB 3838，小时）", targets=(Target(class_q, alias="$tag_station"),),
                      thresholds=CLASS_THRESHOLDS, mappings=CLASS_MAPPINGS,
                      color_mode="thresholds", width=24, height=9, overrides=_names(sections)),
        TimeSeries(title="水质类别与目标类别（1=I类 … 6=劣V类；虚线=目标，高于目标为不达标）",
                   targets=(Target(class_q, alias="$tag_station"),), min=1, max=6, decimals=0,
                   line_interpolation="stepAfter", mappings=CLASS_MAPPINGS, width=12, height=9,
                   overrides=tuple(_target_override(s) for s in sections)),
        Table(title="最新水质类别与定类因子",
              targets=(Target(
                  'SELECT last("class") AS "class", last("target") AS "target", last("meets") AS '
                  '"meets", last("worst") AS "worst" FROM "water_class" WHERE $timeFilter AND '
                  f""""period" = 'hour' AND {sel} GROUP BY "station", "river\"""",
                  result_format="table"),),
              cell_mode="color-background", width=12, height=9,
              overrides=(
                  _name_column(water),
                  Override("byName", "river", (("displayName", "河流"),)),
                  Override("byName", "class", (("displayName", "类别"), ("mappings", CLASS_MAPPINGS))),
                  Override("byName", "target", (("displayName", "目标"), ("mappings", CLASS_MAPPINGS))),
                  Override("byName", "meets", (("displayName", "达标"), ("mappings", MEETS_MAPPINGS))),
                  Override("byName", "worst", (("displayName", "定类因子"),)),
              ),
              transformations=(Transformation("organize", {"excludeByName": {"Time": True}}),)),
        Stat(title="日达标率 (%)（类别不劣于目标的天数占比）",
             targets=(Target("""SELECT mean("meets") * 100 FROM "water_class" WHERE $timeFilter AND """
                             f""""period" = 'day' AND {sel} GROUP BY "station\"""",
                             alias="$tag_station"),),
             unit="percent", decimals=0, min=0, max=100, color_mode="thresholds",
             thresholds=Thresholds((Step(None, "red"), Step(80, "orange"), Step(100, "green"))),
             width=24, height=5, overrides=_names(sections)),
    )
    params = tuple(water_parameter_panel(name, sel, water, std, width=8)
                   for name in WATER_KEY_PARAMETERS)
    outfalls = [s for s in water if s.outfall_type in ("sewage_plant", "industrial")]
    outfall_rows = (
        Table(title="排口日均值达标（污水厂 GB 18918-2002，企业 GB 8978-1996，"
                    "有排污许可证的按许可限值；最近一个有效日）",
              targets=(Target(
                  'SELECT last("meets") AS "meets", last("broken") AS "broken", last("grade") AS "grade", '
                  'last("permit") AS "permit", '
                  'last("cod") AS "cod", last("nh3n") AS "nh3n", last("ph") AS "ph", last("hours") AS "hours" '
                  'FROM "discharge_day" WHERE $timeFilter AND "valid" = 1 GROUP BY "station", "standard"',
                  result_format="table"),),
              cell_mode="color-background", width=16, height=8,
              overrides=(
                  _name_column(outfalls),
                  Override("byName", "standard", (("displayName", "标准"),)),
                  Override("byName", "grade", (("displayName", "级别"),)),
                  Override("byName", "permit", (("displayName", "排污许可证"),)),
                  Override("byName", "meets", (("displayName", "达标"), ("mappings", MEETS_MAPPINGS))),
                  Override("byName", "broken", (("displayName", "超标项目"),)),
                  Override("byName", "cod", (("displayName", "COD 日均 (mg/L)"),)),
                  Override("byName", "nh3n", (("displayName", "氨氮日均 (mg/L)"),)),
                  Override("byName", "ph", (("displayName", "pH 日均"),)),
                  Override("byName", "hours", (("displayName", "小时值个数"),)),
              ),
              transformations=(Transformation("organize", {"excludeByName": {"Time": True}}),)),
        Stat(title="排口日达标率 (%)（有效日中日均值不超标准的天数占比）",
             targets=(Target('SELECT mean("meets") * 100 FROM "discharge_day" WHERE $timeFilter AND "valid" = 1 '
                             'GROUP BY "station"', alias="$tag_station"),),
             unit="percent", decimals=0, min=0, max=100, color_mode="thresholds",
             thresholds=Thresholds((Step(None, "red"), Step(90, "orange"), Step(100, "green"))),
             width=8, height=8, overrides=_names(outfalls)),
    )
    return Dashboard(
        uid="envmon-water", title="水质 — 河流断面（GB 3838）",
        description="按河流、断面查看 GB 3838 水质类别（单因子评价）与各项参数；污水厂与企业排口的日均值达标。",
        rows=(Row("水质类别", class_rows), Row("水质参数", params), Row("排口达标", outfall_rows)),
        variables=(
            QueryVariable("river", "河流", 'SHOW TAG VALUES FROM "water" WITH KEY = "river"'),
            QueryVariable("water_station", "站点",
                          'SHOW TAG VALUES FROM "water" WITH KEY = "station" '
                          'WHERE "river" =~ /^$river$/'),
        ),
        annotations=(alerts_annotation("water"),), tags=("envmon", "water"))


# --- 3. boundary sections ---------------------------------------------------------------------
def boundary_dashboard(registry: Registry, std: Standards) -> Dashboard:
    bounds = [s for s in registry.by_medium("water") if s.kind == "boundary_section"]
    kind = """"kind" = 'boundary_section'"""
    panels: list[Panel] = [
        StateTimeline(title="跨界断面水质类别（GB 3838，小时）",
                      targets=(Target('SELECT last("class") FROM "water_class" WHERE $timeFilter '
                                      f"""AND "period" = 'hour' AND {kind} GROUP BY """
                                      'time($__interval), "station" fill(none)',
                                      alias="$tag_station"),),
                      thresholds=CLASS_THRESHOLDS, mappings=CLASS_MAPPINGS,
                      color_mode="thresholds", width=14, height=8,
                      overrides=_names(bounds, jurisdiction=True)),
        Table(title="跨界断面达标情况（日评价）",
              targets=(Target('SELECT mean("meets") * 100 AS "meets_pct", max("class") AS "worst_class", '
                              'max("target") AS "target" FROM "water_class" WHERE $timeFilter AND '
                              f""""period" = 'day' AND {kind} GROUP BY "station", "jurisdiction\"""",
                              result_format="table"),),
              cell_mode="color-background", width=10, height=8,
              overrides=(
                  _name_column(bounds),
                  Override("byName", "jurisdiction", (("displayName", "属地"), ("mappings", tuple(
                      ValueText(k, v) for k, v in JURISDICTION_ZH.items())))),
                  Override("byName", "meets_pct", (("displayName", "达标率 (%)"), ("unit", "percent"),
                                                    ("decimals", 0))),
                  Override("byName", "worst_class", (("displayName", "最差类别"),
                                                     ("mappings", CLASS_MAPPINGS))),
                  Override("byName", "target", (("displayName", "目标类别"),
                                                ("mappings", CLASS_MAPPINGS))),
              ),
              transformations=(Transformation("organize", {"excludeByName": {"Time": True}}),)),
    ]
    for name in BOUNDARY_PARAMETERS:
        panels.append(water_parameter_panel(name, kind, bounds, std, width=12,
                                            title_suffix=" — 各跨界断面", jurisdiction=True))
    return Dashboard(
        uid="envmon-boundary", title="跨界断面对比",
        description="浙沪苏省界断面同一参数并列对比；图例中括号内为属地。",
        rows=(Row("水质类别与达标", tuple(panels[:2])), Row("关键参数对比", tuple(panels[2:]))),
        annotations=(alerts_annotation("water"),), tags=("envmon", "water", "boundary"),
        time_from="now-7d")


# --- 4. noise ---------------------------------------------------------------------------------
def _daily_level_panel(name: str, period: str, zone_q: str, limit: float,
                       names: tuple[Override, ...]) -> TimeSeries:
    """Daily Ld or Ln (GB 3096) of the zone's stations as bars, with the zone's limit."""
    return TimeSeries(title=f"{name} (dB(A))，限值 {limit:g}",
                      targets=(Target('SELECT last("leq") FROM "noise_leq" WHERE $timeFilter AND '
                                      f""""period" = '{period}' AND {zone_q} GROUP BY time(1d), """
                                      """"station" fill(none) tz('Asia/Shanghai')""",
                                      alias="$tag_station"),),
                      thresholds=Thresholds((Step(None, "green"), Step(limit, "red"))),
                      threshold_style="line", draw_style="bars", unit="dB", width=6, height=8,
                      overrides=names)


def noise_dashboard(registry: Registry, noise_std: NoiseStandard) -> Dashboard:
    limits = noise_std.limits
    noise = registry.by_medium("noise")
    zones = [z for z in NOISE_ZONES if any(s.zone == z for s in noise)]
    summary = Table(
        title="昼间 Ld / 夜间 Ln 与限值 (dB(A))",
        targets=(Target('SELECT last("leq") AS "leq", last("limit") AS "limit", last("exceed") AS '
                        '"exceed" FROM "noise_leq" WHERE $timeFilter AND "period" =~ /^(day|night)$/ '
                        'GROUP BY "station", "zone", "period"', result_format="table"),),
        cell_mode="color-background", width=24, height=8,
        overrides=(
            _name_column(noise),
            Override("byName", "zone", (("displayName", "功能区"), ("mappings", tuple(
                ValueText(z, ZONE_ZH[z]) for z in NOISE_ZONES)))),
            Override("byName", "period", (("displayName", "时段"), ("mappings", (
                ValueText("day", "昼间 06–22 时"), ValueText("night", "夜间 22–06 时"))))),
            Override("byName", "leq", (("displayName", "Leq (dB(A))"), ("decimals", 1))),
            Override("byName", "limit", (("displayName", "限值 (dB(A))"),)),
            Override("byName", "exceed", (("displayName", "是否超标"), ("mappings", (
                ValueText("0", "达标", "green"), ValueText("1", "超标", "red"))))),
        ),
        transformations=(Transformation("organize", {"excludeByName": {"Time": True}}),))
    rows = [Row("昼夜达标汇总", (summary,))]
    for z in zones:
        lim = limits[z]
        in_zone = [s for s in noise if s.zone == z]
        zone_q = f""""zone" = '{z}'"""
        names = _names(in_zone)
        two = Thresholds((Step(None, "green"), Step(lim.night, "orange"), Step(lim.day, "red")))
        rows.append(Row(f"{ZONE_ZH[z]} 昼间 ≤ {lim.day:g} dB(A)，夜间 ≤ {lim.night:g} dB(A)", (
            TimeSeries(title=f"{z}类区 小时等效声级 Leq (dB(A))（橙线=夜间限值，红线=昼间限值）",
                       targets=(Target('SELECT mean("leq") FROM "noise_leq" WHERE $timeFilter AND '
                                       f""""period" = 'hour' AND {zone_q} GROUP BY """
                                       'time($__interval), "station" fill(null)',
                                       alias="$tag_station"),),
                       thresholds=two, threshold_style="line", unit="dB", width=12, height=8,
                       overrides=names),
            _daily_level_panel(f"{z}类区 昼间 Ld", "day", zone_q, lim.day, names),
            _daily_level_panel(f"{z}类区 夜间 Ln", "night", zone_q, lim.night, names),
            lmax_panel(z, lim.night, noise_std.night_burst_over, names),
            Stat(title=f"{z}类区 超标小时数 (h)",
                 targets=(Target('SELECT sum("exceed") FROM "noise_leq" WHERE $timeFilter AND '
                                 f""""period" = 'hour' AND {zone_q} GROUP BY "station\"""",
                                 alias="$tag_station"),),
                 thresholds=Thresholds((Step(None, "green"), Step(1, "red"))),
                 color_mode="thresholds", unit="none", width=12, height=7, overrides=names),
        )))
    return Dashboard(
        uid="envmon-noise", title="声环境 — 功能区昼夜达标（GB 3096）",
        description="各声环境功能区的小时 Leq、昼间 Ld、夜间 Ln 与 GB 3096-2008 限值"
                    "（限值取自 seeds/standards/gb3096-2008.toml）。",
        rows=tuple(rows), annotations=(alerts_annotation("noise"),), tags=("envmon", "noise"))


def lmax_panel(zone: str, night: float, burst: float | None,
               names: tuple[Override, ...]) -> TimeSeries:
    """Lmax; with the night-burst rule, the line Lmax may not cross at night."""
    zone_q = f""""zone" = '{zone}'"""
    title = f"{zone}类区 最大声级 Lmax (dB(A))"
    thresholds = None
    if burst is not None:
        title += f"（红线 = 夜间限值 + {burst:g} = {night + burst:g}，仅夜间适用）"
        thresholds = Thresholds((Step(None, "green"), Step(night + burst, "red")))
    return TimeSeries(
        title=title,
        targets=(Target('SELECT max("lmax") FROM "noise" WHERE $timeFilter AND '
                        f'{zone_q} GROUP BY time($__interval), "station" fill(null)',
                        alias="$tag_station"),),
        thresholds=thresholds, threshold_style="line" if thresholds else "off",
        unit="dB", width=12, height=7, overrides=names)


# --- 5. air -------------------------------------------------------------------------------
def air_dashboard(registry: Registry, std: Standards) -> Dashboard:
    air = registry.by_medium("air")
    aqi_th = aqi_thresholds(std.aqi)
    cats = " / ".join(c.name for c in std.aqi)
    names = _names(air)
    hour = (""""period" = 'hour' AND "edition" =~ /^$edition$/ AND """ + _in("air_station"))
    aqi_panels = (
        Stat(title="最新小时 AQI（HJ 633 类别色）",
             targets=(Target(f'SELECT last("aqi") FROM "aqi" WHERE $timeFilter AND {hour} '
                             'GROUP BY "station"', alias="$tag_station"),),
             thresholds=aqi_th, color_mode="thresholds", width=12, height=6,
             overrides=names),
        Table(title="类别与首要污染物（最新小时）",
              targets=(Target('SELECT last("aqi") AS "aqi", last("level") AS "level", '
                              'last("category") AS "category", last("primary") AS "primary" '
                              f'FROM "aqi" WHERE $timeFilter AND {hour} GROUP BY "station"',
                              result_format="table"),),
              cell_mode="color-background", width=12, height=6,
              overrides=(_name_column(air),
                         Override("byName", "aqi", (("displayName", "AQI"),
                                                    ("thresholds", aqi_th),
                                                    ("color", {"mode": "thresholds"}))),
                         Override("byName", "level", (("displayName", "级别"),
                                                      ("mappings", aqi_level_mappings(std.aqi)))),
                         Override("byName", "category", (("displayName", "类别"),)),
                         Override("byName", "primary", (("displayName", "首要污染物"),))),
              transformations=(Transformation("organize", {"excludeByName": {"Time": True}}),)),
        TimeSeries(title=f"小时 AQI（色带 = HJ 633 类别：{cats}）",
                   targets=(Target(f'SELECT last("aqi") FROM "aqi" WHERE $timeFilter AND {hour} '
                                   'GROUP BY time($__interval), "station" fill(none)',
                                   alias="$tag_station"),),
                   thresholds=aqi_th, threshold_style="area", min=0, width=16,
                   height=9, overrides=names),
        BarGauge(title="分指数 IAQI（最新小时）",
                 targets=tuple(
                     Target(f'SELECT last("iaqi_{p}") FROM "aqi" WHERE $timeFilter AND {hour} '
                            'GROUP BY "station"', ref_id=chr(ord("A") + i),
                            alias=f"$tag_station {load_parameters()[p].label_zh}")
                     for i, p in enumerate(AIR_POLLUTANTS)),
                 thresholds=aqi_th, color_mode="thresholds", min=0, width=8, height=9),
        StateTimeline(title="日 AQI 级别",
                      targets=(Target('SELECT last("level") FROM "aqi" WHERE $timeFilter AND '
                                      """"period" = 'day' AND "edition" =~ /^$edition$/ AND """
                                      f'{_in("air_station")} GROUP BY time(1d), "station" '
                                      """fill(none) tz('Asia/Shanghai')""",
                                      alias="$tag_station"),),
                      mappings=aqi_level_mappings(std.aqi), color_mode="thresholds",
                      thresholds=Thresholds((Step(None, std.aqi[0].color), *(
                          Step(c.level, c.color) for c in std.aqi[1:]))),
                      width=24, height=6, overrides=names),
    )
    pollutants = tuple(
        TimeSeries(title=_label(p),
                   targets=(Target(f'SELECT mean("{p}") FROM "air" WHERE $timeFilter AND '
                                   f'{_in("air_station")} GROUP BY time($__interval), "station" '
                                   'fill(null)', alias="$tag_station"),),
                   unit=_unit(load_parameters()[p].unit), min=0, width=8, height=8,
                   overrides=names)
        for p in AIR_POLLUTANTS)
    return Dashboard(
        uid="envmon-air", title="空气质量 — AQI（HJ 633）",
        description="AQI、类别、首要污染物与六项污染物浓度；版本可切换 HJ 633-2026 / 2012。",
        rows=(Row("空气质量指数 AQI", aqi_panels), Row("污染物浓度", pollutants)),
        variables=(
            QueryVariable("air_station", "站点", 'SHOW TAG VALUES FROM "air" WITH KEY = "station"'),
            CustomVariable("edition", "HJ 633 版本", (("2026", "2026"), ("2012", "2012")),
                           multi=False, include_all=False),
        ),
        annotations=(alerts_annotation("air"),), tags=("envmon", "air"))


# --- 6. alerts ------------------------------------------------------------------------------
def alerts_dashboard(registry: Registry, std: Standards) -> Dashboard:
    flt = " AND ".join((_in("severity", "severity"), _in("alert_kind", "kind"),
                        _in("jurisdiction", "jurisdiction")))
    kind_names = tuple(Override("byName", k, (("displayName", v),)) for k, v in KIND_ZH.items())
    sev_names = tuple(Override("byName", k, (("displayName", SEVERITY_ZH[k]), ("color", {
        "mode": "fixed", "fixedColor": SEVERITY_COLOR[k]}))) for k in SEVERITIES)
    panels: tuple[Panel, ...] = (
        Stat(title="新告警 (条，按严重程度)",
             targets=(Target('SELECT count("id") FROM "alerts" WHERE $timeFilter AND "event" = '
                             f"""'raised' AND {flt} GROUP BY "severity\"""",
                             alias="$tag_severity"),),
             reducer="sum", color_mode="fixed", width=8, height=6, overrides=sev_names),
        TimeSeries(title="每小时新告警 (条，按类型)",
                   targets=(Target('SELECT count("id") FROM "alerts" WHERE $timeFilter AND '
                                   f""""event" = 'raised' AND {flt} GROUP BY time(1h), "kind" """
                                   "fill(0)", alias="$tag_kind"),),
                   draw_style="bars", width=16, height=6, overrides=kind_names),
        open_alerts_table("开放告警（未解除）", flt, width=24),
        Table(title="告警事件（产生 / 更新 / 解除）",
              targets=(Target('SELECT "event", "station_name", "kind", "severity", "medium", '
                              '"jurisdiction", "message", "parameters", "confidence", '
                              '"source_name", "suspected_source", "id", "station" FROM "alerts" WHERE '
                              f'$timeFilter AND {flt} ORDER BY time DESC LIMIT 500',
                              result_format="table"),),
              sort_by="Time", width=24, height=12,
              overrides=(
                  Override("byName", "event", (("displayName", "事件"), ("mappings", (
                      ValueText("raised", "产生", "red"), ValueText("updated", "更新", "orange"),
                      ValueText("cleared", "解除", "green"))))),
                  Override("byName", "station_name", (("displayName", "站点"),)),
                  Override("byName", "kind", (("displayName", "类型"), ("mappings", tuple(
                      ValueText(k, v) for k, v in KIND_ZH.items())))),
                  Override("byName", "severity", (("displayName", "级别"), ("mappings", tuple(
                      ValueText(k, SEVERITY_ZH[k], SEVERITY_COLOR[k]) for k in SEVERITIES)))),
                  Override("byName", "confidence", (("displayName", "置信度"),
                                                    ("unit", "percentunit"))),
                  Override("byName", "source_name", (("displayName", "疑似来源"),)),
                  Override("byName", "suspected_source", (("displayName", "来源编码"),)),
                  Override("byName", "message", (("displayName", "内容"),)),
              )),
    )
    return Dashboard(
        uid="envmon-alerts", title="告警",
        description="告警事件、开放告警与按类型统计；告警也作为注释显示在各时序面板上。",
        rows=(Row("告警", panels),),
        variables=(
            CustomVariable("severity", "级别", tuple((SEVERITY_ZH[s], s) for s in SEVERITIES)),
            CustomVariable("alert_kind", "类型", tuple((v, k) for k, v in KIND_ZH.items())),
            CustomVariable("jurisdiction", "属地", tuple((v, k) for k, v in JURISDICTION_ZH.items())),
        ),
        annotations=(alerts_annotation(),), tags=("envmon", "alerts"), time_from="now-7d")


# --- 7. ingest health ---------------------------------------------------------------------
def _rate(fld: str, ref: str, label: str) -> Target:
    return Target(f'SELECT non_negative_derivative(max("{fld}"), 1s) FROM "ingest" WHERE '
                  f'$timeFilter AND {_in("worker", "worker")} GROUP BY time($__interval), '
                  '"worker" fill(null)', ref_id=ref, alias=f"$tag_worker {label}")


def _freshness_targets(registry: Registry) -> tuple[Target, ...]:
    pairs = sorted({(s.medium, PRESENCE_FIELD[s.kind]) for s in registry.values()})
    return tuple(
        Target(f'SELECT last("{fld}") AS "value" FROM "{medium}" WHERE $timeFilter '
               'GROUP BY "station"', ref_id=chr(ord("A") + i), result_format="table")
        for i, (medium, fld) in enumerate(pairs))


def ingest_dashboard(registry: Registry, std: Standards) -> Dashboard:
    panels: tuple[Panel, ...] = (
        TimeSeries(title="接收 / 写入速率 (条/秒)",
                   targets=(_rate("received", "A", "接收"), _rate("written", "B", "写入")),
                   unit="short", min=0, width=12, height=8),
        TimeSeries(title="拒收 / 重试速率 (条/秒)",
                   targets=(_rate("rejected", "A", "拒收"), _rate("retries", "B", "重试")),
                   unit="short", min=0, width=12, height=8),
        TimeSeries(title="写入延迟 lag (s)",
                   targets=(Target('SELECT max("lag_s") FROM "ingest" WHERE $timeFilter AND '
                                   f'{_in("worker", "worker")} GROUP BY time($__interval), '
                                   '"worker" fill(null)', alias="$tag_worker"),),
                   thresholds=Thresholds((Step(None, "green"), Step(30, "orange"),
                                          Step(120, "red"))),
                   threshold_style="line", unit="s", min=0, width=12, height=8),
        TimeSeries(title="本地缓存积压 spool (条)",
                   targets=(Target('SELECT max("spool") FROM "ingest" WHERE $timeFilter AND '
                                   f'{_in("worker", "worker")} GROUP BY time($__interval), '
                                   '"worker" fill(null)', alias="$tag_worker"),),
                   unit="short", min=0, width=12, height=8),
        Stat(title="最新延迟 (s)",
             targets=(Target('SELECT last("lag_s") FROM "ingest" WHERE $timeFilter AND '
                             f'{_in("worker", "worker")} GROUP BY "worker"',
                             alias="$tag_worker"),),
             thresholds=Thresholds((Step(None, "green"), Step(30, "orange"), Step(120, "red"))),
             color_mode="thresholds", unit="s", width=8, height=6),
        Stat(title="累计拒收 / 接收 (条)",
             targets=(Target('SELECT last("rejected") AS "拒收", last("received") AS "接收" FROM '
                             f'"ingest" WHERE $timeFilter AND {_in("worker", "worker")} '
                             'GROUP BY "worker"', alias="$tag_worker $col"),),
             color_mode="fixed", unit="short", width=8, height=6),
        Table(title="各站最新数据时间（所选时段）",
              description="每站最后一条读数的时间；长时间未更新的站点排在前面。",
              targets=_freshness_targets(registry), sort_by="最新数据时间", sort_desc=False,
              width=8, height=12,
              overrides=(_name_column(registry.values()),),
              transformations=(Transformation("merge"),
                               Transformation("organize", {"renameByName": {
                                   "Time": "最新数据时间", "value": "最新值"}}))),
    )
    return Dashboard(
        uid="envmon-ingest", title="接入健康",
        description="ingest 进程每 10 秒写入的累计计数（速率由导数求得）、写入延迟、缓存积压与各站最新数据时间。",
        rows=(Row("接入", panels),),
        variables=(QueryVariable("worker", "进程",
                                 'SHOW TAG VALUES FROM "ingest" WITH KEY = "worker"'),),
        annotations=(alerts_annotation(),), tags=("envmon", "ingest"), time_from="now-6h",
        refresh="30s")


# --- all ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BuildInputs:
    """What the dashboards are generated from: a registry and the standards directory.

    >>> from envmon.stations import load_registry
    >>> BuildInputs(load_registry()).standards_dir is None
    True
    """

    registry: Registry
    standards_dir: Path | None = None


def load_standards(registry: Registry, directory: Path | None = None) -> Standards:
    """Read the tables the dashboards need; GB 3096 only when there are noise stations.
    A missing file is a :class:`dashboards.standards.StandardsError` naming it."""
    d = directory or STANDARDS_DIR
    noise = load_noise_standard(d / GB3096_FILE.name) if registry.by_medium("noise") else None
    return Standards(aqi=load_aqi_categories(directory=d),
                     river=load_class_limits("river", d / GB3838_FILE.name),
                     lake=load_class_limits("lake", d / GB3838_FILE.name), noise=noise)


def build_all(inputs: BuildInputs) -> list[Dashboard]:
    """The dashboards, in menu order (the noise one only when the registry has noise
    stations)."""
    reg = inputs.registry
    std = load_standards(reg, inputs.standards_dir)
    out = [overview_dashboard(reg, std), water_dashboard(reg, std), boundary_dashboard(reg, std)]
    if std.noise is not None:
        out.append(noise_dashboard(reg, std.noise))
    out += [air_dashboard(reg, std), alerts_dashboard(reg, std), ingest_dashboard(reg, std)]
    return out


def stations_gazetteer(registry: Registry) -> list[dict[str, object]]:
    """Station id → coordinates for the geomap (Grafana's worldmap gazetteer format)."""
    return [{"key": s.id, "name": s.name, "latitude": s.lat, "longitude": s.lon}
            for s in sorted(registry.values(), key=lambda s: s.id)]

