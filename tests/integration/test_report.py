"""The joint report from a small synthetic month in a fresh database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from envmon.alerting.store import AlertStore
from envmon.alerts import Alert, Event
from envmon.cli import main
from envmon.influx import InfluxClient, line
from envmon.report import build_report, compute
from envmon.stations import load_registry
from envmon.timeutil import parse_time

pytestmark = pytest.mark.integration

REG = load_registry()
SECTION = "TP_DONGCAI"  # target class II: NH3-N ≤ 0.5, DO ≥ 6, TP ≤ 0.1


def write_three_days(influx: InfluxClient) -> None:
    """07-14 clean (class II), 07-15 NH3-N 0.8 from 10:00 to 15:59 (six class III hours),
    07-16 TP 0.25 all day (class IV); TN 5.0 throughout, which must not class a river."""
    st = REG[SECTION]
    t0 = int(parse_time("2026-07-14T00:00:00+08:00").timestamp())
    lines = []
    for m in range(0, 3 * 24 * 60, 5):
        day, hour = divmod(m // 60, 24)
        nh3n = 0.8 if day == 1 and 10 <= hour < 16 else 0.3
        tp = 0.25 if day == 2 else 0.08
        fields = {"do": 7.2, "codmn": 3.1, "nh3n": nh3n, "tp": tp, "ph": 7.5, "tn": 5.0}
        lines.append(line("water", st.tags(), fields, t0 + m * 60))
    influx.write_lines(lines)


def alert_store() -> AlertStore:
    store = AlertStore(":memory:", registry=REG)
    a = Alert(id="a-nh3n", kind="exceedance", station=SECTION, medium="water", parameters=("nh3n",),
              start=parse_time("2026-07-15T10:00:00+08:00"), severity="warning", message="氨氮超过 II 类")
    store.apply(Event("raised", a))
    store.transition("a-nh3n", "acknowledge", "wj-field")
    store.transition("a-nh3n", "resolve", "wj-field", note="上游芦墟塘来水，已通报吴江", cause="other")
    return store


def test_report_classes_exceedance_alerts_plots(influx: InfluxClient, tmp_path: Path) -> None:
    write_three_days(influx)
    store = alert_store()
    sm = compute(influx, store, REG, SECTION, "2026-07")
    classes = {d.day: d.water_class.label for d in sm.days if d.water_class}
    assert classes == {"2026-07-14": "II", "2026-07-15": "II", "2026-07-16": "IV"}  # 07-15 day mean 0.425
    assert sm.month_class is not None and sm.month_class.label == "III" and sm.month_class.worst == ("tp",)
    assert "tn" not in sm.month_class.classes
    assert sm.exceedance["nh3n"] == (6, 72) and sm.exceedance["tp"] == (24, 72) and sm.exceedance["do"] == (0, 72)
    assert sm.hours_with_data == 72 and sm.indicative

    html_path, pdf_path = build_report(influx, store, REG, SECTION, "2026-07", tmp_path)
    page = html_path.read_text(encoding="utf-8")
    for heading in ("逐日水质类别", "超标小时数", "告警及处置情况", "月均值与单因子类别"):
        assert heading in page
    assert "仅供参考" in page  # three days of 31
    assert re.search(r"<td>氨氮 nh3n</td><td>≤ 0.5 mg/L</td><td>72</td><td>6</td>", page)
    assert "上游芦墟塘来水" in page and "已处置" in page
    assert "不参与河流评价" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) >= 5  # class strip + classed parameters
    assert "<img" in page and "http" not in page.split("<body>")[1].split("由 envmon")[0]
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 5


def test_report_cli_and_jurisdiction_scope(influx: InfluxClient, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    write_three_days(influx)
    monkeypatch.setenv("ENVMON_INFLUX_URL", influx.config.url)
    monkeypatch.setenv("ENVMON_INFLUX_DATABASE", influx.config.database)
    out = tmp_path / "joint"
    assert main(["report", "--section", SECTION, "--month", "2026-07", "--out", str(out),
                 "--db", ":memory:"]) == 0
    assert (out / f"{SECTION}-2026-07.html").exists() and (out / f"{SECTION}-2026-07.pdf").exists()
    assert main(["report", "--section", "TZ_TOWN", "--jurisdiction", "qingpu", "--month", "2026-07",
                 "--out", str(out)]) == 2
