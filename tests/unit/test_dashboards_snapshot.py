"""The committed dashboard files are exactly what the code renders, and they are sound.

Regenerate after a deliberate change with ``.venv/bin/envmon dashboards build`` and commit
dashboards/json, dashboards/provisioning and dashboards/gazetteer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dashboards.catalog import UIDS, BuildInputs, build_all, load_standards, noise_dashboard
from dashboards.model import Datasource, Thresholds
from dashboards.queries import all_queries, substitute
from dashboards.render import PACKAGE_DIR, render_files
from dashboards.standards import (
    GB3096_FILE,
    StandardsError,
    load_noise_standard,
    parse_noise_limits,
)
from envmon.stations import Registry, load_registry, parse_station

REGEN = ".venv/bin/envmon dashboards build"
CJK = re.compile(r"[\u4e00-\u9fff]")

needs_gb3096 = pytest.mark.skipif(
    not GB3096_FILE.exists(),
    reason=f"{GB3096_FILE} is missing: the noise dashboard reads its limits from it",
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="module")
def rendered(registry: Registry) -> dict[str, str]:
    return render_files(build_all(BuildInputs(registry)), registry)


@pytest.fixture(scope="module")
def models(rendered: dict[str, str]) -> list[dict]:
    return [json.loads(text) for path, text in rendered.items() if path.startswith("json/")]


@needs_gb3096
def test_committed_files_equal_the_rendered_ones(rendered: dict[str, str]) -> None:
    committed = {str(p.relative_to(PACKAGE_DIR)): p.read_text(encoding="utf-8")
                 for sub in ("json", "provisioning", "gazetteer")
                 for p in sorted((PACKAGE_DIR / sub).rglob("*")) if p.is_file()}
    stale = sorted(set(committed) - set(rendered))
    missing = sorted(set(rendered) - set(committed))
    changed = sorted(k for k in set(rendered) & set(committed) if rendered[k] != committed[k])
    assert not (stale or missing or changed), (
        f"dashboards/ is out of date (changed {changed}, missing {missing}, stale {stale}); "
        f"regenerate with `{REGEN}` and commit the result")


@needs_gb3096
def test_every_dashboard_is_rendered_with_a_unique_uid(models: list[dict]) -> None:
    uids = [m["uid"] for m in models]
    assert sorted(uids) == sorted(UIDS)
    assert len(set(uids)) == len(uids)


@needs_gb3096
def test_every_panel_has_a_title_datasource_and_rawquery_targets(models: list[dict]) -> None:
    ds = Datasource().ref()
    for m in models:
        ids = [p["id"] for p in m["panels"]]
        assert len(set(ids)) == len(ids), m["uid"]
        for p in m["panels"]:
            assert p["title"].strip(), (m["uid"], p)
            if p["type"] == "row":
                continue
            assert p["datasource"] == ds, (m["uid"], p["title"])
            assert p["targets"], (m["uid"], p["title"])
            refs = [t["refId"] for t in p["targets"]]
            assert len(set(refs)) == len(refs), (m["uid"], p["title"])
            for t in p["targets"]:
                assert t["rawQuery"] is True and t["datasource"] == ds and t["query"].strip()
            assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, (m["uid"], p["title"])


@needs_gb3096
def test_titles_are_chinese_and_the_time_zone_is_shanghai(models: list[dict]) -> None:
    for m in models:
        assert CJK.search(m["title"]), m["title"]
        assert m["timezone"] == "Asia/Shanghai"
        assert all(CJK.search(p["title"]) for p in m["panels"]), m["uid"]


@needs_gb3096
def test_every_time_series_dashboard_has_the_alerts_annotation(models: list[dict]) -> None:
    for m in models:
        if any(p["type"] == "timeseries" for p in m["panels"]):
            queries = [a.get("query", "") for a in m["annotations"]["list"]]
            assert any('FROM "alerts"' in q for q in queries), m["uid"]


@needs_gb3096
def test_every_query_can_be_substituted_with_all_values(models: list[dict]) -> None:
    names = {v["name"] for m in models for v in m["templating"]["list"]}
    values = {n: ["x"] for n in names}
    for uid, title, q in all_queries(models):
        out = substitute(q, **values)
        assert "$" not in out.replace("$/", "/"), (uid, title, out)


def test_substitute_refuses_an_unknown_variable() -> None:
    with pytest.raises(KeyError, match=r"\$river"):
        substitute('SHOW TAG VALUES WITH KEY = "station" WHERE "river" =~ /^$river$/')


def test_substitute_escapes_regex_values() -> None:
    assert substitute("/^$s$/", s="a.b") == r"/^a\.b$/"


@needs_gb3096
def test_noise_limits_come_from_the_standards_file(models: list[dict]) -> None:
    limits = load_noise_standard().limits
    noise = next(m for m in models if m["uid"] == "envmon-noise")
    steps = {p["title"]: [s["value"] for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]
             for p in noise["panels"] if "类区 昼间 Ld" in p["title"]}
    assert steps, "no day-time panels"
    for title, values in steps.items():
        zone = title.split("类区")[0]
        assert values == [None, limits[zone].day], title


@needs_gb3096
def test_another_network_gives_other_dashboards() -> None:
    reg = Registry([
        parse_station({"id": "X_B", "name": "测试断面", "medium": "water",
                       "kind": "boundary_section", "lat": 30.0, "lon": 121.0,
                       "jurisdiction": "qingpu", "river": "测试河", "waterbody": "river",
                       "target_class": "II"}),
        parse_station({"id": "X_N", "name": "测试噪声", "medium": "noise", "kind": "noise",
                       "lat": 30.1, "lon": 121.1, "jurisdiction": "qingpu", "zone": "0"}),
    ])
    std = load_standards(reg)
    noise = noise_dashboard(reg, std.noise).to_json(Datasource())  # type: ignore[arg-type]
    rows = [p["title"] for p in noise["panels"] if p["type"] == "row"]
    assert len(rows) == 2 and rows[1].startswith("0类")
    files = render_files(build_all(BuildInputs(reg)), reg)
    assert json.loads(files["gazetteer/envmon-stations.json"])[0]["key"] == "X_B"


def test_a_missing_noise_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(StandardsError, match=r"gb3096-2008\.toml"):
        load_noise_standard(tmp_path / "gb3096-2008.toml")


def test_incomplete_noise_limits_are_refused() -> None:
    with pytest.raises(StandardsError, match="4b"):
        parse_noise_limits({"zone": {z: {"day": 1, "night": 1} for z in ("0", "1", "2", "3", "4a")}})


def test_thresholds_must_increase() -> None:
    from dashboards.model import Step

    with pytest.raises(ValueError, match="increase"):
        Thresholds((Step(None, "green"), Step(5, "red"), Step(3, "blue")))
