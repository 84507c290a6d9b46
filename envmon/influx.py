"""The one module that talks to InfluxDB: line protocol on ``/write``, InfluxQL on ``/query``.

That HTTP API is served natively by InfluxDB 1.x and by 2.x (v1 compatibility with a DBRP
mapping and token auth) and 3.x Core, so one client works with all three (DESIGN.md).
Failures are classified at this edge (STYLE rule 10): a 4xx other than 429 is the data's
fault (:class:`InfluxRejected`, split the batch to find the bad line); 429, 5xx, timeouts
and refused connections are the server's (:class:`InfluxUnavailable`, retry, keep the data).

>>> line("water", {"station": "TZ_TOWN", "river": "陶庄 塘"}, {"cod": 18.2, "cod_flag": "T"}, 1_700_000_000)
'water,river=陶庄\\\\ 塘,station=TZ_TOWN cod=18.2,cod_flag="T" 1700000000'
"""

from __future__ import annotations

import gzip
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


class InfluxError(Exception):
    """Base of this module's errors."""


class InfluxRejected(InfluxError):
    """The server refused the data or query (4xx other than 429): retrying will not help."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class InfluxUnavailable(InfluxError):
    """The server could not take the request now (429, 5xx, timeout, refused): retry later."""


_TAG_ESCAPE = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": "", "\r": ""})
_MEAS_ESCAPE = str.maketrans({",": r"\,", " ": r"\ ", "\n": "", "\r": ""})


def _field_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}i"
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"field value {v!r} is not finite")
        return repr(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, Any], ts: int) -> str:
    """One line of line protocol; tags sorted (InfluxDB's preferred order), ``ts`` in the
    write precision. Escaping makes tag injection impossible: a value can never end the
    tag set or start a field set."""
    if not fields:
        raise ValueError("a point needs at least one field")
    tag_part = "".join(
        f",{k.translate(_TAG_ESCAPE)}={str(v).translate(_TAG_ESCAPE)}"
        for k, v in sorted(tags.items()) if v != ""
    )
    field_part = ",".join(f"{k.translate(_TAG_ESCAPE)}={_field_value(v)}" for k, v in fields.items())
    return f"{measurement.translate(_MEAS_ESCAPE)}{tag_part} {field_part} {ts}"


@dataclass(frozen=True, slots=True)
class InfluxConfig:
    url: str = "http://127.0.0.1:28086"
    database: str = "envmon"
    retention_policy: str = ""
    username: str = ""
    password: str = ""
    # InfluxDB 2.x/3.x: token auth on the v1 compatibility API.
    token: str = ""
    timeout: float = 10.0
    gzip: bool = True


class InfluxClient:
    """Small synchronous client (urllib; no connection at construction).

    Thread-safe: every call opens its own request.
    """

    def __init__(self, config: InfluxConfig):
        self.config = config

    # -- plumbing -------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        h = {}
        if self.config.token:
            h["Authorization"] = f"Token {self.config.token}"
        return h

    def _auth_params(self) -> dict[str, str]:
        if self.config.username and not self.config.token:
            return {"u": self.config.username, "p": self.config.password}
        return {}

    def _request(self, method: str, path: str, params: Mapping[str, str], body: bytes | None = None,
                 headers: Mapping[str, str] | None = None, timeout: float | None = None) -> bytes:
        url = f"{self.config.url.rstrip('/')}{path}?{urllib.parse.urlencode({**params, **self._auth_params()})}"
        req = urllib.request.Request(url, data=body, method=method, headers={**self._headers(), **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.config.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as err:
            msg = err.read().decode("utf-8", "replace")[:500]
            if err.code == 429 or err.code >= 500:
                raise InfluxUnavailable(f"HTTP {err.code}: {msg}") from err
            raise InfluxRejected(err.code, msg) from err
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
            raise InfluxUnavailable(f"{self.config.url}: {err}") from err

    # -- API ------------------------------------------------------------------------------
    def ping(self) -> bool:
        try:
            self._request("GET", "/ping", {}, timeout=2)
            return True
        except InfluxError:
            return False

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ping():
            if time.monotonic() > deadline:
                raise InfluxUnavailable(f"InfluxDB at {self.config.url} did not answer within {timeout:.0f} s")
            time.sleep(0.1)

    def write_lines(self, lines: Iterable[str] | bytes, precision: str = "s", database: str | None = None) -> None:
        body = lines if isinstance(lines, bytes) else "\n".join(lines).encode("utf-8")
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.config.gzip:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        params = {"db": database or self.config.database, "precision": precision}
        if self.config.retention_policy:
            params["rp"] = self.config.retention_policy
        self._request("POST", "/write", params, body, headers)

    def query(self, q: str, database: str | None = None, epoch: str | None = "s",
              method: str = "GET") -> list[dict[str, Any]]:
        """Run InfluxQL; returns the list of series of the first statement's result.

        Raises :class:`InfluxRejected` when the statement has an error.
        """
        results = self.query_all(q, database=database, epoch=epoch, method=method)
        return results[0].get("series", []) if results else []

    def query_all(self, q: str, database: str | None = None, epoch: str | None = "s",
                  method: str = "GET") -> list[dict[str, Any]]:
        params = {"q": q, "db": database if database is not None else self.config.database}
        if epoch:
            params["epoch"] = epoch
        if method == "POST":
            raw = self._request("POST", "/query", params, b"")
        else:
            raw = self._request("GET", "/query", params)
        doc = json.loads(raw)
        if "error" in doc:
            raise InfluxRejected(400, doc["error"])
        results = doc.get("results", [])
        for r in results:
            if "error" in r:
                raise InfluxRejected(400, r["error"])
        return results

    def rows(self, q: str, database: str | None = None, epoch: str | None = "s") -> Iterator[dict[str, Any]]:
        """Flatten series into dict rows; tags of grouped series are merged in."""
        for series in self.query(q, database=database, epoch=epoch):
            cols = series["columns"]
            tags = series.get("tags", {})
            for values in series.get("values", []):
                yield {**tags, **dict(zip(cols, values, strict=False))}

    def create_database(self, name: str | None = None) -> None:
        self.query(f'CREATE DATABASE "{_ident(name or self.config.database)}"', database="", method="POST")

    def drop_database(self, name: str) -> None:
        self.query(f'DROP DATABASE "{_ident(name)}"', database="", method="POST")

    def count(self, measurement: str, field: str, where: str = "", database: str | None = None) -> int:
        q = f'SELECT count("{_ident(field)}") FROM "{_ident(measurement)}"' + (f" WHERE {where}" if where else "")
        series = self.query(q, database=database)
        return int(series[0]["values"][0][1]) if series else 0


def _ident(name: str) -> str:
    """Quote-safe identifier for InfluxQL double-quoted names."""
    return name.replace("\\", "\\\\").replace('"', '\\"')


def quote_string(value: str) -> str:
    """An InfluxQL single-quoted string literal (for WHERE tag = '...')."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
