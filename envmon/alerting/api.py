"""HTTP API for the alert loop (FastAPI; OpenAPI at ``/openapi.json``, docs at ``/docs``).

Every ``/api/v1`` endpoint needs ``Authorization: Bearer <token>``. A token has a name (the
actor written into the audit trail), a role and the jurisdictions it speaks for:

* ``viewer`` — read alerts, audit, chart data and station status;
* ``field`` — also acknowledge, dispatch, resolve with feedback, comment;
* ``admin`` — also close and reopen.

A token only ever sees stations (and their alerts) visible to one of its jurisdictions
(owner or ``shared_with``); anything else answers 404, exactly as if it did not exist, so
a Qingpu token cannot even learn that a Jiashan-only alert exists.

Tokens come from a TOML file; the file holds SHA-256 hashes (or names an environment
variable holding the token), never the tokens themselves::

    [[token]]
    name = "js-field"
    role = "field"
    jurisdictions = ["jiashan"]
    sha256 = "<hex sha256 of the token>"     # or: env = "ENVMON_TOKEN_JS_FIELD"

>>> tokens = TokenStore.from_entries([
...     {"name": "qp", "role": "viewer", "jurisdictions": ["qingpu"], "sha256": hash_token("t")}])
>>> tokens.authenticate("t").jurisdictions
('qingpu',)
>>> tokens.authenticate("wrong") is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Protocol, runtime_checkable

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from envmon import __version__
from envmon.alerting.store import (
    CAUSES,
    STATUSES,
    UNRESOLVED,
    AlertNotFound,
    AlertStore,
    AlertStoreError,
    StateConflict,
    StoredAlert,
    TransitionError,
)
from envmon.alerting.web import mount_web
from envmon.alerts import KIND_ZH, KINDS, SEVERITIES
from envmon.params import load_parameters
from envmon.stations import JURISDICTION_ZH, JURISDICTIONS, Registry, Station, load_registry
from envmon.timeutil import TimeFormatError, format_time, parse_time, utcnow
from envmon.tomlfile import read_toml

ROLES = ("viewer", "field", "admin")
# Minimum role per action.
ACTION_ROLE = {"acknowledge": "field", "dispatch": "field", "resolve": "field",
               "comment": "field", "close": "admin", "reopen": "admin"}


class TokenFileError(ValueError):
    """A token file that breaks the format; the message names the entry and key."""


def hash_token(token: str) -> str:
    """The hex SHA-256 stored in token files."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: audit name, role, jurisdictions."""

    name: str
    role: str
    jurisdictions: tuple[str, ...]

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def sees(self, station: Station | None) -> bool:
        return station is not None and any(station.visible_to(j) for j in self.jurisdictions)

    def sees_alert(self, rec: StoredAlert) -> bool:
        return bool(set(rec.jurisdictions) & set(self.jurisdictions))


class TokenStore:
    """Token hash → :class:`Principal`. Lookup by hash, compared in constant time."""

    def __init__(self, principals: Mapping[str, Principal]):
        self._by_hash = dict(principals)

    @classmethod
    def from_entries(cls, entries: Sequence[Mapping[str, Any]],
                     env: Mapping[str, str] | None = None, source: str = "<tokens>"
                     ) -> TokenStore:
        env = os.environ if env is None else env
        out: dict[str, Principal] = {}
        names: set[str] = set()
        for i, e in enumerate(entries):
            where = f"{source}: token[{i}]"
            name = e.get("name")
            if not isinstance(name, str) or not name.strip() or len(name) > 64:
                raise TokenFileError(f"{where}.name: bad value {name!r}")
            if name in names:
                raise TokenFileError(f"{where}.name: duplicate name {name!r}")
            names.add(name)
            role = e.get("role")
            if role not in ROLES:
                raise TokenFileError(f"{where}.role: bad value {role!r} "
                                     f"(allowed: {', '.join(ROLES)})")
            js = e.get("jurisdictions")
            if js == ["*"]:
                js = list(JURISDICTIONS)
            if (not isinstance(js, list) or not js
                    or any(j not in JURISDICTIONS for j in js)):
                raise TokenFileError(f"{where}.jurisdictions: bad value {js!r} "
                                     f"(allowed: {', '.join(JURISDICTIONS)} or [\"*\"])")
            if "token" in e:
                raise TokenFileError(f"{where}: plain 'token' is not allowed in the file; "
                                     "store 'sha256' or name an 'env' variable")
            if "sha256" in e:
                h = str(e["sha256"]).lower()
                if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
                    raise TokenFileError(f"{where}.sha256: not a hex SHA-256")
            elif "env" in e:
                value = env.get(str(e["env"]))
                if not value:
                    raise TokenFileError(f"{where}.env: variable {e['env']!r} is not set")
                h = hash_token(value)
            else:
                raise TokenFileError(f"{where}: needs 'sha256' or 'env'")
            out[h] = Principal(name, role, tuple(js))
        return cls(out)

    @classmethod
    def load(cls, path: str | Path, env: Mapping[str, str] | None = None) -> TokenStore:
        data = read_toml(path, TokenFileError, "token file")
        return cls.from_entries(data.get("token", []), env, str(path))

    def authenticate(self, token: str) -> Principal | None:
        h = hash_token(token)
        for known, p in self._by_hash.items():
            # constant-time over all entries: timing tells nothing about which one matched
            if hmac.compare_digest(known, h):
                return p
        return None

    def __len__(self) -> int:
        return len(self._by_hash)


@runtime_checkable
class SeriesSource(Protocol):
    """Where the chart around an alert gets its data (InfluxDB in production).

    ``series`` returns, per parameter, ``(time, value)`` pairs with ``start <= time <= end``
    in time order; parameters without data may be missing from the mapping.
    """

    def series(self, station: str, parameters: Sequence[str], start: datetime,
               end: datetime) -> Mapping[str, Sequence[tuple[datetime, float]]]: ...


class InMemorySeriesSource:
    """A :class:`SeriesSource` over points added in memory (tests, demos).

    >>> from envmon.timeutil import parse_time
    >>> s = InMemorySeriesSource()
    >>> s.add("TZ_TOWN", "cod", parse_time("2026-07-14T02:00:00Z"), 18.0)
    >>> s.series("TZ_TOWN", ["cod"], parse_time("2026-07-14T01:00:00Z"),
    ...          parse_time("2026-07-14T03:00:00Z"))["cod"][0][1]
    18.0
    """

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], list[tuple[datetime, float]]] = {}

    def add(self, station: str, parameter: str, t: datetime, value: float) -> None:
        self._data.setdefault((station, parameter), []).append((t, float(value)))

    def series(self, station: str, parameters: Sequence[str], start: datetime,
               end: datetime) -> dict[str, list[tuple[datetime, float]]]:
        out = {}
        for p in parameters:
            pts = sorted(x for x in self._data.get((station, p), []) if start <= x[0] <= end)
            if pts:
                out[p] = pts
        return out


def principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, from ``Authorization: Bearer <token>``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer token (Authorization: Bearer <token>)",
                            headers={"WWW-Authenticate": "Bearer"})
    p = request.app.state.tokens.authenticate(token.strip())
    if p is None:
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
    return p  # type: ignore[no-any-return]


# Module level, so that FastAPI can resolve the (string) annotation.
Who = Annotated[Principal, Depends(principal)]


# -- request bodies ------------------------------------------------------------------------
class ActionBody(BaseModel):
    note: str | None = Field(default=None, max_length=2000, description="free text")
    by: str | None = Field(default=None, max_length=40,
                           description="person acting with a shared team token (audit)")


class DispatchBody(ActionBody):
    team: str = Field(min_length=1, max_length=100, description="team sent to the site")


class ResolveBody(ActionBody):
    cause: str = Field(description="cause code or Chinese label: "
                       + ", ".join(f"{c} ({z})" for c, z in CAUSES.items()))
    note: str = Field(min_length=1, max_length=2000, description="处置反馈: what was found/done")


class CommentBody(ActionBody):
    note: str = Field(min_length=1, max_length=2000)


def create_app(*, store: AlertStore, tokens: TokenStore, registry: Registry | None = None,
               series: SeriesSource | None = None, title: str = "envmon alerts",
               influx: Any = None) -> FastAPI:
    """The API (and the field page under ``/m/``) over ``store``; with ``influx`` (an
    :class:`~envmon.influx.InfluxClient`) also history and export (``history_api``)."""
    reg = registry if registry is not None else load_registry()
    src: SeriesSource = series if series is not None else InMemorySeriesSource()
    try:
        units = {p: t.unit for p, t in load_parameters().items()}
        labels = {p: t.label_zh for p, t in load_parameters().items()}
    except (OSError, ValueError):
        units, labels = {}, {}

    app = FastAPI(title=title, version=__version__,
                  description="Alerts of the Jiashan–Qingpu–Wujiang monitoring network: "
                  "list, acknowledge, dispatch, resolve with feedback (监测—预警—处置—反馈).")
    app.state.tokens = tokens

    def visible_alert(p: Principal, alert_id: str) -> StoredAlert:
        try:
            rec = store.get(alert_id)
        except AlertNotFound:
            rec = None
        if rec is None or not p.sees_alert(rec):
            raise HTTPException(404, f"no alert {alert_id!r}")
        return rec

    def view(rec: StoredAlert) -> dict[str, Any]:
        d = rec.to_dict()
        st = reg.get(rec.alert.station)
        d["kind_zh"] = KIND_ZH.get(rec.alert.kind, rec.alert.kind)
        d["station_name"] = d.get("station_name") or (st.name if st else rec.alert.station)
        d["river"] = st.river if st else None
        d["lat"], d["lon"] = (st.lat, st.lon) if st else (None, None)
        src_id = rec.alert.suspected_source
        if src_id:
            d["suspected_source_name"] = reg.describe_source(src_id, ids=False)
        d["parameter_labels"] = {p: labels.get(p, p) for p in rec.alert.parameters}
        return d

    def act(p: Principal, alert_id: str, action: str, body: ActionBody,
            **kw: Any) -> dict[str, Any]:
        rec = visible_alert(p, alert_id)
        if not p.may(ACTION_ROLE[action]):
            raise HTTPException(403, f"role {p.role!r} may not {action} "
                                f"(needs {ACTION_ROLE[action]})")
        actor = p.name + (f"/{body.by.strip()}" if body.by and body.by.strip() else "")
        try:
            out = store.transition(rec.id, action, actor, note=body.note, **kw)
        except StateConflict as err:
            raise HTTPException(409, str(err)) from err
        except TransitionError as err:
            raise HTTPException(422, str(err)) from err
        return view(out)

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        """Liveness, without authentication."""
        return {"status": "ok"}

    @app.get("/api/v1/me", tags=["meta"])
    def me(p: Who) -> dict[str, Any]:
        """The calling token: name, role, jurisdictions."""
        return {"name": p.name, "role": p.role, "jurisdictions": list(p.jurisdictions),
                "jurisdictions_zh": [JURISDICTION_ZH[j] for j in p.jurisdictions]}

    @app.get("/api/v1/causes", tags=["meta"])
    def causes(p: Who) -> list[dict[str, str]]:
        """Cause categories for resolving an alert."""
        return [{"code": c, "label": z} for c, z in CAUSES.items()]

    @app.get("/api/v1/alerts", tags=["alerts"])
    def list_alerts(
        p: Who,
        status: Annotated[list[str] | None, Query(
            description=f"repeatable; one of {', '.join(STATUSES)} or 'unresolved'")] = None,
        kind: Annotated[str | None, Query(description=", ".join(KINDS))] = None,
        station: Annotated[str | None, Query(max_length=32)] = None,
        since: Annotated[str | None, Query(
            description="ISO 8601 with offset; alerts seen at or after it")] = None,
        active: Annotated[bool | None, Query(description="condition still present")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Alerts visible to the token, unresolved first, newest first."""
        statuses: list[str] | None = None
        if status:
            statuses = []
            for s in status:
                for part in s.split(","):
                    if part == "unresolved":
                        statuses.extend(UNRESOLVED)
                    elif part in STATUSES:
                        statuses.append(part)
                    else:
                        raise HTTPException(422, f"status: bad value {part!r} (allowed: "
                                            f"{', '.join(STATUSES)}, unresolved)")
        if kind is not None and kind not in KINDS:
            raise HTTPException(422, f"kind: bad value {kind!r} (allowed: {', '.join(KINDS)})")
        t_since = None
        if since is not None:
            try:
                t_since = parse_time(since)
            except TimeFormatError as err:
                raise HTTPException(422, f"since: {err}") from err
        try:
            recs = store.list(status=statuses, jurisdictions=p.jurisdictions, kind=kind,
                              station=station, since=t_since, limit=limit, active=active)
        except AlertStoreError as err:
            raise HTTPException(422, str(err)) from err
        return [view(r) for r in recs]

    @app.get("/api/v1/alerts/{alert_id}", tags=["alerts"])
    def get_alert(alert_id: str, p: Who) -> dict[str, Any]:
        """One alert with its lifecycle fields."""
        return view(visible_alert(p, alert_id))

    @app.get("/api/v1/alerts/{alert_id}/audit", tags=["alerts"])
    def get_audit(alert_id: str, p: Who) -> list[dict[str, Any]]:
        """The append-only audit trail, oldest first."""
        rec = visible_alert(p, alert_id)
        return [e.to_dict() for e in store.audit(rec.id)]

    @app.get("/api/v1/alerts/{alert_id}/deliveries", tags=["alerts"])
    def get_deliveries(alert_id: str, p: Who) -> list[dict[str, Any]]:
        """Notification outcomes (channel, attempts, error)."""
        rec = visible_alert(p, alert_id)
        return [d.to_dict() for d in store.deliveries(rec.id)]

    @app.get("/api/v1/alerts/{alert_id}/series", tags=["alerts"])
    def get_series(alert_id: str, p: Who,
                   before_hours: Annotated[float, Query(gt=0, le=48)] = 3.0,
                   after_hours: Annotated[float, Query(ge=0, le=48)] = 1.0) -> dict[str, Any]:
        """Readings of the alert's parameters around it, for the page's chart."""
        rec = visible_alert(p, alert_id)
        a = rec.alert
        start = a.start - timedelta(hours=before_hours)
        last = a.end or a.last_seen or a.start
        end = min(last + timedelta(hours=after_hours), max(utcnow(), last))
        data = src.series(a.station, list(a.parameters), start, end)
        return {
            "station": a.station, "start": format_time(start), "end": format_time(end),
            "alert_start": format_time(a.start),
            "alert_end": format_time(a.end) if a.end else None,
            "series": {k: [[format_time(t), v] for t, v in pts] for k, pts in data.items()},
            "units": {k: units.get(k, "") for k in a.parameters},
            "labels": {k: labels.get(k, k) for k in a.parameters},
        }

    @app.post("/api/v1/alerts/{alert_id}/acknowledge", tags=["lifecycle"])
    def acknowledge(alert_id: str, p: Who, body: ActionBody | None = None) -> dict[str, Any]:
        """open → acknowledged (stops escalation). Role: field."""
        return act(p, alert_id, "acknowledge", body or ActionBody())

    @app.post("/api/v1/alerts/{alert_id}/dispatch", tags=["lifecycle"])
    def dispatch(alert_id: str, p: Who, body: DispatchBody) -> dict[str, Any]:
        """open|acknowledged → dispatched to a team. Role: field."""
        return act(p, alert_id, "dispatch", body, target=body.team)

    @app.post("/api/v1/alerts/{alert_id}/resolve", tags=["lifecycle"])
    def resolve(alert_id: str, p: Who, body: ResolveBody) -> dict[str, Any]:
        """acknowledged|dispatched → resolved, with cause and feedback note. Role: field."""
        return act(p, alert_id, "resolve", body, cause=body.cause)

    @app.post("/api/v1/alerts/{alert_id}/comment", tags=["lifecycle"])
    def comment(alert_id: str, p: Who, body: CommentBody) -> dict[str, Any]:
        """Add a note to the audit trail without changing the status. Role: field."""
        return act(p, alert_id, "comment", body)

    @app.post("/api/v1/alerts/{alert_id}/close", tags=["lifecycle"])
    def close(alert_id: str, p: Who, body: ActionBody | None = None) -> dict[str, Any]:
        """resolved → closed. Role: admin."""
        return act(p, alert_id, "close", body or ActionBody())

    @app.post("/api/v1/alerts/{alert_id}/reopen", tags=["lifecycle"])
    def reopen(alert_id: str, p: Who, body: ActionBody | None = None) -> dict[str, Any]:
        """resolved|closed → open. Role: admin."""
        return act(p, alert_id, "reopen", body or ActionBody())

    def station_view(st: Station, p: Principal) -> dict[str, Any]:
        recs = store.list(station=st.id, status=UNRESOLVED, jurisdictions=p.jurisdictions,
                          limit=1000)
        worst = max((r.severity for r in recs), key=SEVERITIES.index, default=None)
        return {"id": st.id, "name": st.name, "medium": st.medium, "kind": st.kind,
                "river": st.river, "lat": st.lat, "lon": st.lon,
                "jurisdiction": st.jurisdiction, "jurisdictions": list(st.jurisdictions),
                "open_alerts": len(recs), "worst_severity": worst,
                "alerts": [r.id for r in recs]}

    @app.get("/api/v1/stations", tags=["stations"])
    def stations(p: Who) -> list[dict[str, Any]]:
        """Stations visible to the token with their unresolved alerts."""
        return [station_view(st, p) for st in reg.values() if p.sees(st)]

    @app.get("/api/v1/stations/{station_id}", tags=["stations"])
    def station(station_id: str, p: Who) -> dict[str, Any]:
        """One station's status."""
        st = reg.get(station_id)
        if st is None or not p.sees(st):
            raise HTTPException(404, f"no station {station_id!r}")
        return station_view(st, p)

    @app.exception_handler(AlertStoreError)
    def store_error(request: Request, err: AlertStoreError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=422)

    if influx is not None:
        from envmon.alerting.history_api import history_router  # imports this module: load late

        app.include_router(history_router(influx, reg))
    mount_web(app)
    return app
