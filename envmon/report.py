"""Joint inspection report of a boundary section for one month (跨界断面联合监测月报).

Per section: the GB 3838 class of every CST day and of the month, hours in which a
parameter's hourly mean is worse than the target class, the alerts of the month with how they
were handled, and plots. Written as self-contained HTML (images inline as base64) and as PDF.

How the numbers are made (the same rule for every day and section, stated in the report):

* hourly mean = mean of the valid readings (flag N or T) of a CST hour (:mod:`envmon.history`);
* daily mean = mean of the hourly means of a CST day; monthly mean = mean of the daily means;
* class = single-factor class (单因子评价) of those means; TN is not used for rivers;
* exceedance hour = an hour whose mean of a parameter is in a class worse than the target.

The report is computed from the readings, not from the ``water_class`` series of analytics,
so it can be rebuilt for any past month, with any registry, and checked by hand.

PDF: matplotlib's ``PdfPages`` (tables drawn by matplotlib). Chosen over printing the HTML
with headless Chromium because it needs nothing outside the Python environment (no browser,
no sandbox, no network-font surprises) and gives the same pages everywhere; the HTML is the
richer view. Chinese text needs a CJK font (Debian: fonts-wqy-microhei or fonts-noto-cjk);
without one the report is still written, with English labels in the images and a warning.

>>> summarise_days({"2026-07-14": {"nh3n": 0.9, "do": 6.1}, "2026-07-15": {"nh3n": 1.2}}, "river", "III")[1].label
'IV'
"""

from __future__ import annotations

import base64
import html
import io
import statistics
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from analytics.standards import gb3838
from envmon.alerting.store import AlertStore, StoredAlert
from envmon.alerts import KIND_ZH, SEVERITY_ZH
from envmon.history import HistoryError, HistoryRequest, iter_rows, month_bounds, plan
from envmon.influx import InfluxClient
from envmon.params import load_parameters
from envmon.stations import JURISDICTION_ZH, Registry, Station
from envmon.timeutil import CST

CJK_FONTS = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC",
             "Source Han Sans SC", "Droid Sans Fallback", "SimHei", "Microsoft YaHei", "AR PL UMing CN")
CLASS_COLOURS = {1: "#4fc3f7", 2: "#1e88e5", 3: "#43a047", 4: "#fdd835", 5: "#fb8c00", 6: "#e53935"}
NO_DATA_COLOUR = "#e0e0e0"
STATUS_ZH = {"open": "待处理", "acknowledged": "已确认", "dispatched": "已派单", "resolved": "已处置",
             "closed": "已关闭"}
# Below this share of the month's hours with data the monthly class is marked as indicative.
MIN_COVERAGE = 0.75


class ReportError(ValueError):
    """A section or month that cannot be reported on."""


def cjk_font() -> str | None:
    """The first installed CJK font family matplotlib knows, or None. Matplotlib lists the
    system's fonts once, in a cache, the first time it runs: a CJK font installed after that
    (``make demo`` installs one; so may a user, after a first run without it) is not in the
    list. Before giving up, the font files on disk are read once more and any new ones added."""
    from matplotlib import font_manager

    fm = font_manager.fontManager

    def known() -> str | None:
        names = {f.name for f in fm.ttflist}
        return next((n for n in CJK_FONTS if n in names), None)

    found = known()
    if found is None:
        listed = {f.fname for f in fm.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in listed:
                try:
                    fm.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    pass  # a file FreeType cannot read is no font for us
        found = known()
    return found


@dataclass
class DayResult:
    """One CST day: its mean values, class (None without classed data) and worst parameters."""

    day: str
    hours: int
    means: dict[str, float]
    water_class: gb3838.WaterClass | None


@dataclass
class SectionMonth:
    """Everything the report shows for one section and month (no I/O, no formatting).

    >>> sm = SectionMonth(station_id="S", month="2026-07", hours_in_month=744)
    >>> sm.coverage, sm.indicative
    (0.0, True)
    """

    station_id: str
    month: str
    hours_in_month: int
    hourly: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    days: list[DayResult] = field(default_factory=list)
    month_means: dict[str, float] = field(default_factory=dict)
    month_class: gb3838.WaterClass | None = None
    exceedance: dict[str, tuple[int, int]] = field(default_factory=dict)  # param -> (hours over, hours)
    hours_with_data: int = 0
    first: datetime | None = None
    last: datetime | None = None
    alerts: list[StoredAlert] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        return self.hours_with_data / self.hours_in_month if self.hours_in_month else 0.0

    @property
    def indicative(self) -> bool:
        return self.coverage < MIN_COVERAGE


def _class_or_none(means: Mapping[str, float], waterbody: str) -> gb3838.WaterClass | None:
    try:
        return gb3838.section_class(means, waterbody=waterbody)
    except ValueError:
        return None  # nothing GB 3838 classes was measured


def summarise_days(daily: Mapping[str, Mapping[str, float]], waterbody: str,
                   target: str) -> tuple[dict[str, float], gb3838.WaterClass | None]:
    """Monthly means (mean of the daily means) and the month's class from them."""
    params = sorted({p for d in daily.values() for p in d})
    month = {p: statistics.fmean(d[p] for d in daily.values() if p in d) for p in params}
    return month, _class_or_none(month, waterbody)


def compute(influx: InfluxClient, store: AlertStore | None, registry: Registry, section: str,
            month: str) -> SectionMonth:
    """Read one month of a section and evaluate it."""
    st = registry.get(section)
    if st is None or st.medium != "water" or st.is_outfall or not st.target_class:
        raise ReportError(f"{section!r} is not a water section with a target class in the registry")
    start, end = month_bounds(month)
    waterbody = st.waterbody or "river"
    target = gb3838.parse_class(st.target_class)
    sm = SectionMonth(st.id, month, int((end - start).total_seconds() // 3600))
    req = HistoryRequest((st.id,), start, end, interval="1h")
    hours: set[datetime] = set()
    by_day: dict[str, dict[str, list[float]]] = {}
    for row in iter_rows(influx, plan(registry, req)):
        sm.hourly.setdefault(row.parameter, []).append((row.time, row.value))
        hours.add(row.time)
        day = row.time.astimezone(CST).date().isoformat()
        by_day.setdefault(day, {}).setdefault(row.parameter, []).append(row.value)
    sm.hours_with_data = len(hours)
    sm.first, sm.last = (min(hours), max(hours)) if hours else (None, None)
    daily: dict[str, dict[str, float]] = {}
    day_hours = {d: len({t for p in sm.hourly.values() for t, _ in p if t.astimezone(CST).date().isoformat() == d})
                 for d in by_day}
    d = start
    while d < end:
        key = d.astimezone(CST).date().isoformat()
        means = {p: statistics.fmean(v) for p, v in by_day.get(key, {}).items()}
        if means:
            daily[key] = means
        sm.days.append(DayResult(key, day_hours.get(key, 0), means, _class_or_none(means, waterbody)))
        d += timedelta(days=1)
    sm.month_means, sm.month_class = summarise_days(daily, waterbody, st.target_class)
    for p in gb3838.classed_parameters(waterbody):
        pts = sm.hourly.get(p)
        if not pts:
            continue
        over = sum(1 for _, v in pts if (gb3838.single_factor_class(p, v, waterbody) or 0) > target)
        sm.exceedance[p] = (over, len(pts))
    if store is not None:
        recs = store.list(station=st.id, since=start, limit=100_000)
        sm.alerts = sorted((r for r in recs if r.alert.start < end), key=lambda r: r.alert.start)
    return sm


# -- figures ---------------------------------------------------------------------------------
class _Text:
    """Chinese labels when a CJK font exists, English otherwise (never boxes of tofu)."""

    def __init__(self, cjk: bool):
        self.cjk = cjk

    def __call__(self, zh: str, en: str) -> str:
        return zh if self.cjk else en


def _class_strip(sm: SectionMonth, st: Station, t: _Text) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fig = Figure(figsize=(10, 2.4), dpi=100)
    ax: Any = fig.add_subplot()  # matplotlib's stubs refuse datetimes that it handles
    target = gb3838.parse_class(st.target_class or "III")
    for i, d in enumerate(sm.days):
        c = d.water_class.cls if d.water_class else None
        ax.bar(i + 1, c or 6.3, color=CLASS_COLOURS.get(c or 0, NO_DATA_COLOUR), width=0.85,
               edgecolor="#555" if c and c > target else "none")
        if c:
            ax.text(i + 1, c + 0.1, gb3838.class_label(c), ha="center", va="bottom", fontsize=7)
    ax.axhline(target + 0.5, color="#b71c1c", linestyle="--", linewidth=1)
    ax.set_xlim(0.3, len(sm.days) + 0.7)
    ax.set_ylim(0, 7)
    ax.set_yticks(range(1, 7), labels=list(gb3838.LABELS))
    ax.set_xticks(range(1, len(sm.days) + 1), labels=[d.day[-2:] for d in sm.days], fontsize=7)
    ax.set_title(t(f"{st.name} 逐日水质类别（目标 {st.target_class} 类，虚线以上超标）",
                   f"{st.id} daily class (target {st.target_class}; above the dashed line: worse)"), fontsize=10)
    ax.legend(handles=[Patch(color=NO_DATA_COLOUR, label=t("无数据", "no data"))], loc="upper right", fontsize=7)
    fig.tight_layout()
    return fig


def _series_fig(sm: SectionMonth, st: Station, p: str, t: _Text) -> Any:
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure

    par = load_parameters().get(p)
    waterbody = st.waterbody or "river"
    fig = Figure(figsize=(10, 2.8), dpi=100)
    ax: Any = fig.add_subplot()  # matplotlib's stubs refuse datetimes that it handles
    pts = sm.hourly[p]
    xs = [x.astimezone(CST).replace(tzinfo=None) for x, _ in pts]
    ax.plot(xs, [v for _, v in pts], marker="." if len(pts) < 100 else None, linewidth=1, color="#1565c0",
            label=t("小时均值", "hourly mean"))
    lim = gb3838.limit(p, st.target_class or "III", waterbody=waterbody)
    for i, bound in enumerate(b for b in (lim.lower, lim.upper) if b is not None):
        ax.axhline(bound, color="#c62828", linestyle="--", linewidth=1,
                   label=None if i else t(f"{st.target_class} 类限值 {lim}", f"class {st.target_class} limit {lim}"))
    start, end = month_bounds(sm.month)
    if xs[-1] - xs[0] < timedelta(days=3):
        # A few hours in a month would be one dot on a month axis: show the hours instead.
        pad = timedelta(hours=1)
        ax.set_xlim(xs[0] - pad, xs[-1] + pad)
        ax.xaxis.set_major_formatter(DateFormatter("%m-%d %H:%M"))
    else:
        ax.set_xlim(start.astimezone(CST).replace(tzinfo=None), end.astimezone(CST).replace(tzinfo=None))
        ax.xaxis.set_major_formatter(DateFormatter("%m-%d"))
    unit = par.unit if par else ""
    label = f"{par.label_zh if par and t.cjk else p}" + (f" ({unit})" if unit else "")
    ax.set_ylabel(label, fontsize=8)
    ax.set_title(t(f"{st.name} {label} 小时均值", f"{st.id} {p} hourly mean"), fontsize=10)
    ax.legend(loc="upper right", fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


# -- tables (shared by HTML and PDF) -----------------------------------------------------------
def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3g}"


def _cst(t: datetime | None) -> str:
    return t.astimezone(CST).strftime("%Y-%m-%d %H:%M") if t else "—"


def tables(sm: SectionMonth, st: Station) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The report's tables as (header, rows) of text."""
    target = st.target_class or "III"
    waterbody = st.waterbody or "river"
    table = load_parameters()
    classed = gb3838.classed_parameters(waterbody)
    days = [[d.day, str(d.hours), d.water_class.label if d.water_class else "无数据",
             d.water_class.label_zh if d.water_class else "—",
             ("达标" if gb3838.meets_target(d.water_class.cls, target) else "不达标") if d.water_class else "—",
             "、".join(table[p].label_zh if p in table else p for p in d.water_class.worse_than(target))
             if d.water_class else ""] for d in sm.days]
    month_rows = []
    for p, v in sm.month_means.items():
        label = table[p].label_zh if p in table else p
        unit = table[p].unit if p in table else ""
        if p in classed:
            c = gb3838.single_factor_class(p, v, waterbody)
            month_rows.append([f"{label} {p}", f"{v:.4g} {unit}".strip(), gb3838.class_label(c) if c else "—",
                               str(gb3838.limit(p, target, waterbody=waterbody))])
        else:
            note = "不参与河流评价" if p == "tn" else "不评价"
            month_rows.append([f"{label} {p}", f"{v:.4g} {unit}".strip(), note, ""])
    exc = [[f"{table[p].label_zh if p in table else p} {p}", str(gb3838.limit(p, target, waterbody=waterbody)),
            str(n), str(over), f"{100 * over / n:.1f}%" if n else "—",
            _fmt(max((v for _, v in sm.hourly[p]), default=None)) if p != "do"
            else _fmt(min((v for _, v in sm.hourly[p]), default=None))]
           for p, (over, n) in sm.exceedance.items()]
    alerts = []
    for r in sm.alerts:
        a = r.alert
        handled = "；".join(x for x in (
            f"原因：{r.cause and _cause_zh(r.cause)}" if r.cause else "",
            f"反馈：{r.resolution_note}" if r.resolution_note else "",
            f"{r.resolved_by} {_cst(r.resolved_at)}" if r.resolved_by else "",
            f"派往 {r.dispatched_to}" if r.dispatched_to and not r.resolved_by else "") if x)
        alerts.append([_cst(a.start), KIND_ZH.get(a.kind, a.kind), SEVERITY_ZH.get(r.severity, r.severity),
                       a.message, STATUS_ZH.get(r.status, r.status), handled or "—"])
    return {
        "days": (["日期", "有数据小时", "类别", "水质", f"对照目标 {target} 类", "超标参数"], days),
        "month": (["参数", "月均值", "单因子类别", f"{target} 类限值"], month_rows),
        "exceedance": (["参数", f"{target} 类限值", "有数据小时", "超标小时", "超标率",
                        "最差小时均值（DO 为最小）"], exc),
        "alerts": (["开始（北京时间）", "类型", "级别", "内容", "状态", "处置情况"], alerts),
    }


def _label(p: str) -> str:
    table = load_parameters()
    return table[p].label_zh if p in table else p


def _cause_zh(cause: str) -> str:
    from envmon.alerting.store import CAUSES

    return CAUSES.get(cause, cause)


# -- HTML and PDF ------------------------------------------------------------------------------
_CSS = """
body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;
margin:2em auto;max-width:60em;color:#222}
h1{font-size:1.5em;border-bottom:2px solid #1565c0}h2{font-size:1.15em;color:#1565c0;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #bbb;padding:.25em .5em}
th{background:#e3f2fd}.bad{color:#b71c1c;font-weight:bold}.note{background:#fff8e1;padding:.5em;
border-left:4px solid #f9a825}img{max-width:100%}.meta td:first-child{font-weight:bold}
"""


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    if not rows:
        return f"<p>{html.escape(empty)}</p>"
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        cells = "".join(f'<td class="bad">{html.escape(c)}</td>' if c in ("不达标",) else f"<td>{html.escape(c)}</td>"
                        for c in r)
        out.append(f"<tr>{cells}</tr>")
    return "\n".join(out) + "</table>"


def _summary_lines(sm: SectionMonth, st: Station) -> list[str]:
    target = st.target_class or "III"
    y, m = sm.month.split("-")
    lines = []
    if sm.month_class:
        ok = gb3838.meets_target(sm.month_class.cls, target)
        lines.append(f"{y}年{int(m)}月 月均值评价：{sm.month_class.label} 类（{sm.month_class.label_zh}），"
                     f"目标 {target} 类，{'达标' if ok else '不达标'}"
                     + ("" if ok else "，超标参数：" + "、".join(_label(p) for p in sm.month_class.worse_than(target)))
                     + "。")
    else:
        lines.append(f"{y}年{int(m)}月 无可评价数据。")
    lines.append(f"本月有数据 {sm.hours_with_data} 小时 / {sm.hours_in_month} 小时（覆盖率 {100 * sm.coverage:.1f}%），"
                 f"数据时段 {_cst(sm.first)} — {_cst(sm.last)}。")
    if sm.indicative:
        lines.append(f"注意：本月数据仅 {sm.hours_with_data} 小时，不足 {int(MIN_COVERAGE * 100)}%，"
                     "月度类别仅供参考，不作为考核结论。")
    resolved = sum(1 for r in sm.alerts if r.status in ("resolved", "closed"))
    lines.append(f"本月告警 {len(sm.alerts)} 条，已处置 {resolved} 条。")
    return lines


def render_html(sm: SectionMonth, st: Station, figures: Sequence[tuple[str, str]]) -> str:
    """The self-contained HTML page (figures: (caption, base64 PNG))."""
    tb = tables(sm, st)
    y, m = sm.month.split("-")
    shared = "、".join(JURISDICTION_ZH[j] for j in st.jurisdictions)
    note = ' class="note"'
    summary = "".join(f"<p{note if line.startswith('注意') else ''}>{html.escape(line)}</p>"
                      for line in _summary_lines(sm, st))
    figs = "\n".join(f'<figure><img alt="{html.escape(c)}" src="data:image/png;base64,{b}">'
                     f"<figcaption>{html.escape(c)}</figcaption></figure>" for c, b in figures)
    meta = [("断面", f"{st.name}（{st.id}）"), ("河流", st.river or "—"), ("属地", JURISDICTION_ZH[st.jurisdiction]),
            ("共享方", shared), ("目标类别", f"{st.target_class} 类"), ("备注", st.note or "—")]
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>跨界断面联合监测月报 {html.escape(st.name)} {y}年{int(m)}月</title><style>{_CSS}</style></head><body>
<h1>跨界断面联合监测月报 — {html.escape(st.name)} — {y}年{int(m)}月</h1>
<table class="meta">{"".join(f"<tr><td>{k}</td><td>{html.escape(v)}</td></tr>" for k, v in meta)}</table>
<h2>一、评价结论</h2>{summary}
<h2>二、月均值与单因子类别</h2>{_html_table(*tb["month"], "本月无数据。")}
<h2>三、逐日水质类别</h2>{_html_table(*tb["days"], "本月无数据。")}
<h2>四、超标小时数（小时均值劣于目标类别）</h2>{_html_table(*tb["exceedance"], "本月无评价参数数据。")}
<h2>五、告警及处置情况</h2>{_html_table(*tb["alerts"], "本月无告警。")}
<h2>六、图表</h2>{figs or "<p>本月无数据，无图表。</p>"}
<h2>说明</h2><p>小时均值为该小时有效读数（数据标记 N、T）的算术平均；日均值为小时均值的平均，月均值为日均值的平均；
类别按 GB 3838-2002 单因子评价，河流断面不评价总氮。时间为北京时间。由 envmon 生成。</p>
</body></html>
"""


def _pdf_table_page(pdf: Any, title: str, lines: Sequence[str], blocks: Sequence[tuple[str, list[str],
                    list[list[str]]]], t: _Text) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.27, 11.69))  # A4 portrait
    fig.text(0.06, 0.96, title, fontsize=14)
    y = 0.93
    for line in lines:
        fig.text(0.06, y, line, fontsize=8.5, wrap=True)
        y -= 0.022
    for caption, head, rows in blocks:
        if y < 0.1:
            break
        fig.text(0.06, y - 0.01, caption, fontsize=11, color="#1565c0")
        y -= 0.025
        shown = rows[: max(1, int((y - 0.05) / 0.019) - 1)]
        h = 0.019 * (len(shown) + 1)
        ax: Any = fig.add_axes((0.06, y - h, 0.88, h))
        ax.axis("off")
        if shown:
            tab = ax.table(cellText=[[c[:40] for c in r] for r in shown], colLabels=head, loc="upper left",
                           cellLoc="left", bbox=(0, 0, 1, 1))
            tab.auto_set_font_size(False)
            tab.set_fontsize(7)
        else:
            ax.text(0, 0.5, t("无", "none"), fontsize=8)
        y -= h + 0.03
    pdf.savefig(fig)


def build_report(influx: InfluxClient, store: AlertStore | None, registry: Registry, section: str, month: str,
                 out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``<section>-<month>.html`` and ``.pdf`` under ``out_dir``; return both paths.

    Works for a month with only a few hours of data (the report says the monthly class is
    then only indicative) and for one without any (it says so).
    """
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    try:
        sm = compute(influx, store, registry, section, month)
    except HistoryError as err:
        raise ReportError(str(err)) from err
    st = registry[section]
    font = cjk_font()
    if font is None:
        warnings.warn("no CJK font found (install fonts-wqy-microhei or fonts-noto-cjk): the report's images "
                      "and PDF use English labels", RuntimeWarning, stacklevel=2)
    t = _Text(font is not None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html_path, pdf_path = out / f"{st.id}-{month}.html", out / f"{st.id}-{month}.pdf"
    rc: Any = {"font.family": "sans-serif", "font.sans-serif": [*([font] if font else []), "DejaVu Sans"],
          "axes.unicode_minus": False}
    with matplotlib.rc_context(rc):
        figs = [(t("逐日水质类别", "daily class"), _class_strip(sm, st, t))]
        waterbody = st.waterbody or "river"
        for p in gb3838.classed_parameters(waterbody):
            if p in sm.hourly:
                caption = t(f"{p} 小时均值与目标限值", f"{p} hourly mean and target limit")
                figs.append((caption, _series_fig(sm, st, p, t)))
        html_path.write_text(render_html(sm, st, [(c, _png(f)) for c, f in figs]), encoding="utf-8")
        tb = tables(sm, st)
        y, m = sm.month.split("-")
        title = t(f"跨界断面联合监测月报 {st.name} {y}年{int(m)}月", f"Joint inspection report {st.id} {sm.month}")
        lines = _summary_lines(sm, st) if font else [
            f"month class: {sm.month_class.label if sm.month_class else 'no data'} (target {st.target_class}); "
            f"hours with data {sm.hours_with_data}/{sm.hours_in_month}; alerts {len(sm.alerts)}"]
        with PdfPages(pdf_path, metadata={"Title": f"{st.id} {month}", "Creator": "envmon"}) as pdf:
            _pdf_table_page(pdf, title, lines, [(t("月均值与单因子类别", "monthly means"), *tb["month"]),
                                                (t("超标小时数", "exceedance hours"), *tb["exceedance"])], t)
            _pdf_table_page(pdf, t("逐日水质类别", "daily classes"), [], [("", *tb["days"])], t)
            _pdf_table_page(pdf, t("告警及处置情况", "alerts"), [], [("", *tb["alerts"])], t)
            for _, f in figs:
                pdf.savefig(f)
    return html_path, pdf_path


def boundary_sections(registry: Registry, jurisdiction: str | None = None) -> list[Station]:
    """Every ``boundary_section`` (visible to ``jurisdiction`` when given), in registry order.

    >>> from envmon.stations import load_registry
    >>> [s.id for s in boundary_sections(load_registry(), "qingpu")][:2]
    ['TP_DONGCAI', 'TP_JINZE']
    """
    return [s for s in registry.values() if s.kind == "boundary_section"
            and (jurisdiction is None or s.visible_to(jurisdiction))]


__all__ = ["ReportError", "SectionMonth", "boundary_sections", "build_report", "compute", "render_html", "tables"]
