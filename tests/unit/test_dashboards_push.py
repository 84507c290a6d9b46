"""`envmon dashboards push` at the requests level, against a local HTTP test double of the
parts of Grafana's API it uses (Grafana itself cannot run here). The double keeps state like
Grafana: objects by uid, 404 for unknown ones, and records every request."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dashboards.catalog import BuildInputs, build_all
from dashboards.push import GrafanaPusher, PushRejected, PushSettings
from envmon.cli import main
from envmon.stations import load_registry


class FakeGrafana:
    """Folders, datasources and dashboards by uid, as Grafana's HTTP API serves them."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.next_id = 1
        self.auth: list[str] = []

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if m := re.fullmatch(r"/api/folders/([^/]+)", path):
            uid = m[1]
            if uid not in self.folders:
                return 404, {"message": "folder not found"}
            if method == "PUT":
                self.folders[uid]["title"] = body["title"]
            return 200, self.folders[uid]
        if path == "/api/folders" and method == "POST":
            if body["uid"] in self.folders:
                return 409, {"message": "a folder with the same uid already exists"}
            self.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"],
                                         "id": self._id()}
            return 200, self.folders[body["uid"]]
        if m := re.fullmatch(r"/api/datasources/uid/([^/]+)", path):
            uid = m[1]
            if uid not in self.datasources:
                return 404, {"message": "Data source not found"}
            if method == "PUT":
                self.datasources[uid] = {**body, "id": self.datasources[uid]["id"]}
            return 200, self.datasources[uid]
        if path == "/api/datasources" and method == "POST":
            if any(d["name"] == body["name"] for d in self.datasources.values()):
                return 409, {"message": "data source with the same name already exists"}
            self.datasources[body["uid"]] = {**body, "id": self._id()}
            return 200, {"datasource": self.datasources[body["uid"]]}
        if m := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path):
            if m[1] not in self.dashboards:
                return 404, {"message": "Dashboard not found"}
            return 200, {"dashboard": self.dashboards[m[1]]["dashboard"],
                         "meta": {"folderUid": self.dashboards[m[1]]["folderUid"]}}
        if path == "/api/dashboards/db" and method == "POST":
            d = body["dashboard"]
            old = self.dashboards.get(d["uid"])
            if old and not body.get("overwrite") and d.get("version") != old["dashboard"]["version"]:
                return 412, {"message": "version-mismatch"}
            if d.get("id") is None and old:
                return 412, {"message": "A dashboard with the same uid already exists"}
            stored = {**d, "id": old["dashboard"]["id"] if old else self._id(),
                      "version": (old["dashboard"]["version"] + 1) if old else 1}
            self.dashboards[d["uid"]] = {"dashboard": stored, "folderUid": body["folderUid"]}
            return 200, {"uid": d["uid"], "id": stored["id"], "version": stored["version"],
                         "status": "success"}
        return 404, {"message": f"no route {method} {path}"}

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            fake.auth.append(self.headers.get("Authorization", ""))
            if self.headers.get("Authorization") != "Bearer secret":
                status, payload = 401, {"message": "Unauthorized"}
            else:
                status, payload = fake.handle(self.command, self.path.split("?")[0],
                                              json.loads(raw) if raw else None)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def dashboards() -> list:
    return build_all(BuildInputs(load_registry()))


def _creates(fake: FakeGrafana) -> list[str]:
    return [p for m, p, _ in fake.requests if m == "POST" and p in ("/api/folders",
                                                                    "/api/datasources")]


def test_push_creates_folder_datasource_and_dashboards(grafana, dashboards) -> None:
    fake, url = grafana
    report = GrafanaPusher(PushSettings(url=url, token="secret",
                                        influx_url="http://influxdb:8086",
                                        influx_token="tok")).push(dashboards)
    assert list(fake.folders) == ["envmon"]
    assert fake.folders["envmon"]["title"] == "envmon 环境监测"
    ds = fake.datasources["envmon-influxdb"]
    assert ds["type"] == "influxdb" and ds["jsonData"]["version"] == "InfluxQL"
    assert ds["url"] == "http://influxdb:8086" and ds["jsonData"]["dbName"] == "envmon"
    assert ds["secureJsonData"]["httpHeaderValue1"] == "Token tok"
    assert sorted(fake.dashboards) == sorted(d.uid for d in dashboards)
    assert all(v["folderUid"] == "envmon" for v in fake.dashboards.values())
    assert {a for _, _, a in report.actions} == {"created"}
    assert set(fake.auth) == {"Bearer secret"}


def test_a_second_push_updates_and_creates_no_duplicates(grafana, dashboards) -> None:
    fake, url = grafana
    settings = PushSettings(url=url, token="secret")
    GrafanaPusher(settings).push(dashboards)
    ids = {uid: v["dashboard"]["id"] for uid, v in fake.dashboards.items()}
    first_creates = len(_creates(fake))
    fake.requests.clear()

    report = GrafanaPusher(settings).push(dashboards)

    assert _creates(fake) == [], "the second push created a folder or a datasource"
    assert len(fake.folders) == 1 and len(fake.datasources) == 1
    assert {uid: v["dashboard"]["id"] for uid, v in fake.dashboards.items()} == ids
    assert all(v["dashboard"]["version"] == 2 for v in fake.dashboards.values())
    assert first_creates == 2
    assert {a for _, _, a in report.actions} == {"updated"}
    assert ("PUT", "/api/datasources/uid/envmon-influxdb") in [(m, p) for m, p, _ in fake.requests]


def test_a_renamed_folder_is_updated_in_place(grafana, dashboards) -> None:
    fake, url = grafana
    GrafanaPusher(PushSettings(url=url, token="secret")).push(dashboards[:1])
    GrafanaPusher(PushSettings(url=url, token="secret", folder_title="环境")).push(dashboards[:1])
    assert list(fake.folders) == ["envmon"] and fake.folders["envmon"]["title"] == "环境"


def test_a_bad_token_is_rejected(grafana, dashboards) -> None:
    fake, url = grafana
    with pytest.raises(PushRejected, match="refused"):
        GrafanaPusher(PushSettings(url=url, token="wrong")).push(dashboards)
    assert not fake.dashboards


def test_cli_push(grafana, capsys) -> None:
    fake, url = grafana
    assert main(["dashboards", "push", "--url", url, "--token", "secret"]) == 0
    assert "dashboard envmon-water" in capsys.readouterr().out
    assert "envmon-overview" in fake.dashboards


def test_cli_build_writes_the_files(tmp_path) -> None:
    assert main(["dashboards", "build", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "json" / "envmon-overview.json").is_file()
    text = (tmp_path / "provisioning" / "datasources" / "envmon.yaml").read_text(encoding="utf-8")
    assert "$ENVMON_INFLUX_URL" in text and "InfluxQL" in text
