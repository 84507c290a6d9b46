"""Authorization of the alert API: endpoints × roles × jurisdictions, table-driven.

Every endpoint refuses a missing or invalid token (401); a token never sees another
jurisdiction's station or alert (404, as if it did not exist); a role below the endpoint's
needs 403; everything else succeeds with real effect (200).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from envmon.alerting.api import TokenFileError, TokenStore, create_app, hash_token
from envmon.alerting.store import AlertStore
from envmon.alerts import Alert, Event, alert_id
from envmon.stations import load_registry

T0 = datetime(2026, 7, 13, 18, 0, tzinfo=UTC)
REG = load_registry()
# station -> who may see it (from the registry: owner + shared_with)
STATIONS = {"TZ_TOWN": "jiashan only", "NZ_QP_JINZE": "qingpu only",
            "HQT_HENGGANG": "jiashan + qingpu (boundary)", "NZ_WJ_FENHU": "wujiang only"}
KIND = {"TZ_TOWN": "illegal_discharge", "NZ_QP_JINZE": "noise_night_burst",
        "HQT_HENGGANG": "exceedance", "NZ_WJ_FENHU": "noise_night_burst"}
ROLES = ("viewer", "field", "admin")
JURS = ("jiashan", "qingpu", "wujiang")


def aid(station: str) -> str:
    return alert_id(station, KIND[station], T0)


def token_of(role: str, jur: str) -> str:
    return f"tok-{role}-{jur}"


# (name, method, path, body, minimum role, actions to run first so the call is legal)
ENDPOINTS = [
    ("me", "GET", "/api/v1/me", None, "viewer", []),
    ("causes", "GET", "/api/v1/causes", None, "viewer", []),
    ("list", "GET", "/api/v1/alerts", None, "viewer", []),
    ("get", "GET", "/api/v1/alerts/{aid}", None, "viewer", []),
    ("audit", "GET", "/api/v1/alerts/{aid}/audit", None, "viewer", []),
    ("deliveries", "GET", "/api/v1/alerts/{aid}/deliveries", None, "viewer", []),
    ("series", "GET", "/api/v1/alerts/{aid}/series", None, "viewer", []),
    ("stations", "GET", "/api/v1/stations", None, "viewer", []),
    ("station", "GET", "/api/v1/stations/{station}", None, "viewer", []),
    ("acknowledge", "POST", "/api/v1/alerts/{aid}/acknowledge", {}, "field", []),
    ("dispatch", "POST", "/api/v1/alerts/{aid}/dispatch", {"team": "一队"}, "field", []),
    ("resolve", "POST", "/api/v1/alerts/{aid}/resolve", {"cause": "误报", "note": "现场正常"},
     "field", ["acknowledge"]),
    ("comment", "POST", "/api/v1/alerts/{aid}/comment", {"note": "已联系企业"}, "field", []),
    ("close", "POST", "/api/v1/alerts/{aid}/close", {}, "admin", ["acknowledge", "resolve"]),
    ("reopen", "POST", "/api/v1/alerts/{aid}/reopen", {}, "admin", ["acknowledge", "resolve"]),
]
SCOPED = {"get", "audit", "deliveries", "series", "station", "acknowledge", "dispatch",
          "resolve", "comment", "close", "reopen"}


@pytest.fixture
def world():
    store = AlertStore(":memory:", registry=REG)  # fast; file behaviour is unit-tested
    for st in STATIONS:
        medium = REG[st].medium
        params = ("laeq",) if medium == "noise" else ("cod",)
        store.apply(Event("raised", Alert(
            id=aid(st), kind=KIND[st], station=st, medium=medium, parameters=params, start=T0,
            severity="warning", message="test", last_seen=T0 + timedelta(minutes=5))))
    tokens = TokenStore.from_entries([
        {"name": f"{role}-{j}", "role": role, "jurisdictions": [j],
         "sha256": hash_token(token_of(role, j))} for role, j in itertools.product(ROLES, JURS)])
    app = create_app(store=store, tokens=tokens, registry=REG)
    with TestClient(app) as client:
        yield client, store
    store.close()


def call(client, method, path, body, token):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.request(method, path, json=body, headers=headers)


def prepare(store, alert, steps):
    for s in steps:
        kw = {"cause": "误报", "note": "x"} if s == "resolve" else {}
        store.transition(alert, s, "setup", **kw)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
@pytest.mark.parametrize("token", [None, "", "Bearer", "not-a-token", "tok-admin-JIASHAN"],
                         ids=["missing", "empty", "scheme-only", "invalid", "wrong-case"])
def test_refuses_missing_or_invalid_token(world, endpoint, token):
    client, _ = world
    _, method, path, body, _, _ = endpoint
    path = path.format(aid=aid("TZ_TOWN"), station="TZ_TOWN")
    headers = {}
    if token == "Bearer":
        headers = {"Authorization": "Bearer "}
    elif token == "":
        headers = {"Authorization": ""}
    elif token is not None:
        headers = {"Authorization": f"Bearer {token}"}
    r = client.request(method, path, json=body, headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers.get("www-authenticate") == "Bearer"


CASES = [(e, role, j, st) for e in ENDPOINTS for role in ROLES for j in JURS
         for st in (STATIONS if e[0] in SCOPED else ["TZ_TOWN"])]


@pytest.mark.parametrize(("endpoint", "role", "jur", "station"), CASES,
                         ids=[f"{e[0]}-{r}-{j}-{s}" for e, r, j, s in CASES])
def test_endpoint_role_jurisdiction(world, endpoint, role, jur, station):
    client, store = world
    name, method, path, body, min_role, steps = endpoint
    visible = REG[station].visible_to(jur)
    a = aid(station)
    prepare(store, a, steps)
    before = [e.action for e in store.audit(a)]
    r = call(client, method, path.format(aid=a, station=station), body, token_of(role, jur))
    allowed_role = ROLES.index(role) >= ROLES.index(min_role)
    if name in SCOPED and not visible:
        assert r.status_code == 404, r.text
        # the same answer as for an id that does not exist: nothing leaks
        assert r.json()["detail"] in (f"no alert {a!r}", f"no station {station!r}")
    elif not allowed_role:
        assert r.status_code == 403, r.text
    else:
        assert r.status_code == 200, r.text
    if method == "POST":
        after = [e.action for e in store.audit(a)]
        if r.status_code == 200:
            assert after == [*before, name]
            assert store.audit(a)[-1].actor == f"{role}-{jur}"
        else:
            assert after == before  # a refused call changes nothing


@pytest.mark.parametrize("jur", JURS)
def test_lists_only_own_jurisdiction(world, jur):
    client, _ = world
    r = call(client, "GET", "/api/v1/alerts", None, token_of("viewer", jur))
    assert r.status_code == 200
    got = {a["station"] for a in r.json()}
    assert got == {s for s in STATIONS if REG[s].visible_to(jur)}
    r = call(client, "GET", "/api/v1/stations", None, token_of("viewer", jur))
    ids = {s["id"] for s in r.json()}
    assert ids == {s.id for s in REG.values() if s.visible_to(jur)}
    assert "TZ_TOWN" not in ids or jur == "jiashan"


def test_boundary_alert_visible_to_both_sides(world):
    client, _ = world
    for jur in ("jiashan", "qingpu"):
        r = call(client, "GET", f"/api/v1/alerts/{aid('HQT_HENGGANG')}", None,
                 token_of("viewer", jur))
        assert r.status_code == 200
        assert r.json()["jurisdictions"] == ["jiashan", "qingpu"]


@pytest.mark.parametrize(("path", "body", "status", "fragment"), [
    ("/api/v1/alerts?status=pending", None, 422, "status: bad value 'pending'"),
    ("/api/v1/alerts?kind=fire", None, 422, "kind: bad value 'fire'"),
    ("/api/v1/alerts?since=2026-07-14T00:00:00", None, 422, "no UTC offset"),
    ("/api/v1/alerts?limit=0", None, 422, "limit"),
    ("/api/v1/alerts/{aid}/resolve", {"cause": "误报", "note": "x"}, 409, "it is open"),
    ("/api/v1/alerts/{aid}/dispatch", {}, 422, "team"),
    ("/api/v1/alerts/{aid}/resolve", {"note": "x"}, 422, "cause"),
])
def test_input_errors_are_clear(world, path, body, status, fragment):
    client, _ = world
    method = "GET" if body is None else "POST"
    r = call(client, method, path.format(aid=aid("TZ_TOWN")), body, token_of("admin", "jiashan"))
    assert r.status_code == status, r.text
    assert fragment in r.text


def test_bad_cause_lists_allowed(world):
    client, store = world
    store.transition(aid("TZ_TOWN"), "acknowledge", "setup")
    r = call(client, "POST", f"/api/v1/alerts/{aid('TZ_TOWN')}/resolve",
             {"cause": "外星人", "note": "x"}, token_of("field", "jiashan"))
    assert r.status_code == 422 and "雨污混接" in r.text


def test_openapi_published(world):
    client, _ = world
    spec = client.get("/openapi.json").json()
    assert "/api/v1/alerts/{alert_id}/resolve" in spec["paths"]


@pytest.mark.parametrize(("entry", "fragment"), [
    ({"name": "a", "role": "boss", "jurisdictions": ["jiashan"], "sha256": "0" * 64}, "role"),
    ({"name": "a", "role": "field", "jurisdictions": ["shanghai"], "sha256": "0" * 64},
     "jurisdictions"),
    ({"name": "a", "role": "field", "jurisdictions": ["jiashan"], "token": "x"}, "plain"),
    ({"name": "a", "role": "field", "jurisdictions": ["jiashan"], "sha256": "xyz"}, "sha256"),
    ({"name": "a", "role": "field", "jurisdictions": ["jiashan"], "env": "NOPE_X"}, "not set"),
])
def test_token_file_errors(entry, fragment):
    with pytest.raises(TokenFileError, match=fragment):
        TokenStore.from_entries([entry], env={})


def test_token_from_env():
    ts = TokenStore.from_entries([{"name": "a", "role": "field", "jurisdictions": ["*"],
                                   "env": "TOK"}], env={"TOK": "s3cret"})
    p = ts.authenticate("s3cret")
    assert p is not None and p.jurisdictions == JURS


@pytest.mark.parametrize(("source", "name"), [
    ("OF_TZ_RAIN", "陶庄工业区雨水排口"),
    ("LXT_TAOZHUANG..TZ_TOWN", "芦墟塘陶庄枢纽至陶庄镇河之间河段"),
    ("..TZ_TOWN", "陶庄镇河以上河段"),
])
def test_the_field_page_gets_the_suspected_source_in_words(world, source, name):
    # The field page shows suspected_source_name; a river segment has a name too (before,
    # only an outfall's id was looked up and a segment showed as "A..B").
    client, store = world
    t = T0 + timedelta(hours=1)
    a = Alert(id=alert_id("TZ_TOWN", "illegal_discharge", t), kind="illegal_discharge", station="TZ_TOWN",
              medium="water", parameters=("nh3n",), start=t, severity="warning", message="test",
              suspected_source=source, confidence=0.5)
    store.apply(Event("raised", a))
    r = call(client, "GET", f"/api/v1/alerts/{a.id}", None, token_of("viewer", "jiashan"))
    assert r.status_code == 200 and r.json()["suspected_source_name"] == name
