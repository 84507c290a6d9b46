"""The one module that talks to Grafana (``grafana-client``): push the folder, the InfluxDB
datasource and the dashboards over Grafana's HTTP API, idempotently.

Each object is looked up first (folder and datasource by uid, dashboard by uid) and updated
when it exists, so pushing twice changes nothing and creates no duplicates. Failures are
classified at this edge: :class:`PushRejected` (4xx: bad token, bad payload; retrying will
not help) and :class:`PushUnavailable` (5xx, timeouts, refused connections).

>>> r = PushReport()
>>> r.add("folder", "envmon", "created")
>>> r.summary()
'folder envmon: created'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import niquests
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from dashboards.model import Dashboard, Datasource
from dashboards.render import DATABASE, FOLDER_TITLE, FOLDER_UID


class PushError(Exception):
    """Base of this module's errors."""


class PushRejected(PushError):
    """Grafana refused a request (4xx)."""


class PushUnavailable(PushError):
    """Grafana could not be reached or failed (5xx, timeout, connection refused)."""


@dataclass(slots=True)
class PushReport:
    """What a push did, one (kind, name, action) per object; action created | updated."""

    actions: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, kind: str, name: str, action: str) -> None:
        self.actions.append((kind, name, action))

    def summary(self) -> str:
        return "\n".join(f"{k} {n}: {a}" for k, n, a in self.actions)


@dataclass(frozen=True, slots=True)
class PushSettings:
    """Where and what to push. ``influx_url`` is the URL Grafana (not this machine) uses.

    >>> PushSettings(url="http://127.0.0.1:3000", token="t").folder_title
    'envmon 环境监测'
    """

    url: str
    token: str
    influx_url: str = "http://influxdb:8086"
    database: str = DATABASE
    influx_token: str = ""
    folder_title: str = FOLDER_TITLE
    folder_uid: str = FOLDER_UID
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"PushSettings.url: bad value {self.url!r} (http:// or https://)")
        if not self.token:
            raise ValueError("PushSettings.token: a Grafana service account token is required")


def datasource_payload(ds: Datasource, s: PushSettings) -> dict[str, Any]:
    """The datasource as the API takes it (same settings as the provisioning file)."""
    payload: dict[str, Any] = {
        "name": ds.name, "uid": ds.uid, "type": ds.type, "access": "proxy",
        "url": s.influx_url, "database": s.database, "isDefault": True,
        "jsonData": {"version": "InfluxQL", "dbName": s.database, "httpMode": "GET",
                     "timeInterval": "1m"},
    }
    if s.influx_token:
        payload["jsonData"]["httpHeaderName1"] = "Authorization"
        payload["secureJsonData"] = {"httpHeaderValue1": f"Token {s.influx_token}"}
    return payload


def _missing(err: GrafanaException) -> bool:
    return isinstance(err, GrafanaClientError) and err.status_code == 404


class GrafanaPusher:
    """Pushes to one Grafana; no connection is opened before :meth:`push`."""

    def __init__(self, settings: PushSettings, datasource: Datasource | None = None):
        self.settings = settings
        self.datasource = datasource or Datasource()

    def push(self, dashboards: Iterable[Dashboard]) -> PushReport:
        api = GrafanaApi.from_url(self.settings.url, credential=self.settings.token,
                                  timeout=self.settings.timeout)
        report = PushReport()
        try:
            self._folder(api, report)
            self._datasource(api, report)
            for d in dashboards:
                self._dashboard(api, d, report)
        except GrafanaClientError as err:
            raise PushRejected(f"Grafana at {self.settings.url} refused: {err.message}") from err
        except GrafanaException as err:
            raise PushUnavailable(f"Grafana at {self.settings.url}: {err.message}") from err
        except niquests.exceptions.RequestException as err:
            raise PushUnavailable(f"Grafana at {self.settings.url}: {err}") from err
        return report

    def _folder(self, api: GrafanaApi, report: PushReport) -> None:
        s = self.settings
        try:
            existing = api.folder.get_folder(s.folder_uid)
        except GrafanaException as err:
            if not _missing(err):
                raise
            api.folder.create_folder(s.folder_title, uid=s.folder_uid)
            report.add("folder", s.folder_title, "created")
            return
        if existing.get("title") != s.folder_title:
            api.folder.update_folder(s.folder_uid, title=s.folder_title, overwrite=True)
        report.add("folder", s.folder_title, "updated")

    def _datasource(self, api: GrafanaApi, report: PushReport) -> None:
        payload = datasource_payload(self.datasource, self.settings)
        try:
            api.datasource.get_datasource_by_uid(self.datasource.uid)
        except GrafanaException as err:
            if not _missing(err):
                raise
            api.datasource.create_datasource(payload)
            report.add("datasource", self.datasource.name, "created")
            return
        api.datasource.update_datasource_by_uid(self.datasource.uid, payload)
        report.add("datasource", self.datasource.name, "updated")

    def _dashboard(self, api: GrafanaApi, d: Dashboard, report: PushReport) -> None:
        model = d.to_json(self.datasource)
        model["id"] = None
        action = "created"
        try:
            existing = api.dashboard.get_dashboard(d.uid)
        except GrafanaException as err:
            if not _missing(err):
                raise
        else:
            # Same uid: update that dashboard (its id and version), never add a second one.
            model["id"] = existing.get("dashboard", {}).get("id")
            model["version"] = existing.get("dashboard", {}).get("version")
            action = "updated"
        api.dashboard.update_dashboard({"dashboard": model, "folderUid": self.settings.folder_uid,
                                        "overwrite": True, "message": "envmon dashboards push"})
        report.add("dashboard", f"{d.uid} {d.title}", action)
