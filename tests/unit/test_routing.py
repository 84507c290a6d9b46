"""Routing config: validation, routes per jurisdiction, boundary stations, escalation."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from envmon.alerting.routing import (
    ChannelConfig,
    RoutingError,
    load_routing,
    parse_routing,
)
from envmon.paths import SEEDS
from envmon.stations import load_registry

REG = load_registry()
T0 = datetime(2026, 7, 14, tzinfo=UTC)
SAMPLE = SEEDS / "routing.toml"


@pytest.fixture(scope="module")
def cfg():
    return load_routing(SAMPLE)


def test_sample_file_loads_and_holds_no_secrets(cfg):
    text = SAMPLE.read_text(encoding="utf-8")
    assert "access_token=" not in text.replace("access_token=…", "")
    for ch in cfg.channels.values():
        for k in ch.options:
            assert k not in ("secret", "password", "token")


def test_jiashan_only_station_goes_to_jiashan_teams(cfg):
    st = REG["TZ_TOWN"]
    got = {(t.team.id, t.channel.id) for t in cfg.targets("illegal_discharge", st.jurisdictions,
                                                            "warning")}
    assert got == {("js_enforcement", "js_ding"), ("js_river_patrol", "js_ding")}


def test_boundary_station_goes_to_every_sharing_jurisdiction(cfg):
    st = REG["TP_DONGCAI"]  # jiashan, shared with qingpu and wujiang
    assert set(st.jurisdictions) == {"jiashan", "qingpu", "wujiang"}
    teams = {t.team.id for t in cfg.targets("exceedance", st.jurisdictions, "warning")}
    assert teams == {"js_river_patrol", "qp_enforcement", "wj_enforcement"}


def test_first_matching_route_and_min_severity(cfg):
    assert [t.team.id for t in cfg.targets("sensor_fault", ("jiashan",), "info")] == ["js_ops"]
    assert cfg.targets("exceedance", ("qingpu",), "info") == []  # below min_severity


def test_deadlines(cfg):
    assert cfg.deadline("illegal_discharge", ("jiashan",), "warning") == timedelta(minutes=20)
    assert cfg.deadline("illegal_discharge", ("jiashan",), "critical") == timedelta(minutes=15)
    assert cfg.deadline("sensor_fault", ("jiashan",), "info") == timedelta(minutes=120)


def test_escalation_steps(cfg):
    js = ("jiashan", "qingpu")
    assert cfg.escalation_due("illegal_discharge", js, "warning", T0, 0,
                              T0 + timedelta(minutes=19)) is None
    step = cfg.escalation_due("illegal_discharge", js, "warning", T0, 0,
                              T0 + timedelta(minutes=20))
    assert step.level == 1 and step.severity == "critical"
    assert {t.team.id for t in step.targets} == {"js_duty_chief", "qp_duty_chief"}
    # the second step waits for a second deadline (escalated severity is critical: 15 min)
    assert cfg.escalation_due("illegal_discharge", js, "critical", T0, 1,
                              T0 + timedelta(minutes=29)) is None
    assert cfg.escalation_due("illegal_discharge", js, "critical", T0, 1,
                              T0 + timedelta(minutes=30)).level == 2


def test_channel_env_resolution():
    ch = ChannelConfig("d", "dingtalk", {"url_env": "U", "secret_env": "S"})
    assert ch.resolve({"U": "https://x", "S": "SECy"}) == {"url": "https://x", "secret": "SECy"}
    with pytest.raises(RoutingError, match=r"'S' .*not set"):
        ch.resolve({"U": "https://x"})


BASE = {
    "channels": {"c": {"type": "mqtt"}},
    "teams": {"t": {"name": "T", "jurisdiction": "jiashan", "channels": ["c"]}},
    "routes": [{"jurisdiction": "jiashan", "kinds": ["*"], "teams": ["t"]}],
}


def mutate(path: str, value: object) -> dict:
    d = copy.deepcopy(BASE)
    cur: dict = d
    keys = path.split(".")
    for k in keys[:-1]:
        cur = cur[int(k)] if isinstance(cur, list) else cur[k]
    cur[keys[-1]] = value
    return d


@pytest.mark.parametrize(("data", "fragment"), [
    (mutate("channels.c.type", "pager"), "channels.c.type: bad value 'pager'"),
    (mutate("channels.c.secret", "x"), "secrets must not be in the file"),
    (mutate("channels.c.colour", "x"), "unknown key"),
    (mutate("teams.t.jurisdiction", "shanghai"), "teams.t.jurisdiction: bad value"),
    (mutate("teams.t.channels", ["nope"]), "unknown channel 'nope'"),
    ({**BASE, "routes": [{"jurisdiction": "jiashan", "kinds": ["fire"], "teams": ["t"]}]},
     "unknown kind 'fire'"),
    ({**BASE, "routes": [{"jurisdiction": "jiashan", "teams": ["ghost"]}]}, "unknown team"),
    ({**BASE, "routes": [{"jurisdiction": "jiashan", "teams": ["t"],
                          "ack_deadline_minutes": -5}]}, "positive number"),
    ({**BASE, "extra": {}}, "unknown section"),
    ({**BASE, "defaults": {"link_base": "ftp://x"}}, "link_base"),
    ({**BASE, "channels": {"m": {"type": "email", "smtp_host": "h", "sender": "a"}},
      "teams": {}, "routes": []}, "missing required key 'to'"),
])
def test_bad_config_names_key(data, fragment):
    with pytest.raises(RoutingError, match=fragment):
        parse_routing(data)


def test_missing_file():
    with pytest.raises(RoutingError, match="not found"):
        load_routing("/nonexistent/routing.toml")
