"""History and export endpoints of the API (joint inspections), scoped by the token.

* ``GET /api/v1/history`` — rows as JSON (at most ``limit``), for a quick look;
* ``GET /api/v1/history/export`` — a CSV, xlsx or JSON file, built by the same streaming
  export as ``envmon export``; the manifest travels in the ``X-Envmon-Manifest`` header
  (JSON, ASCII-escaped) and the file's hash in ``X-Envmon-SHA256``, so the receiver can save
  the manifest beside the file and run ``envmon export --verify`` on it.

A station the token's jurisdictions may not see answers 404 as if it did not exist; a river
selects only the visible stations of that river (DESIGN.md: only what a jurisdiction may see).

>>> from envmon.influx import InfluxConfig
>>> [r.path for r in history_router(InfluxClient(InfluxConfig()), Registry([])).routes]
['/api/v1/history', '/api/v1/history/export']
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from envmon.alerting.api import Who
from envmon.history import (
    HistoryError,
    HistoryRequest,
    ScopeError,
    columns,
    cst_iso,
    export,
    iter_rows,
    parse_when,
    plan,
    records,
    resolve_stations,
)
from envmon.influx import InfluxClient, InfluxError
from envmon.stations import Registry
from envmon.timeutil import format_time

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


# Module level, so that FastAPI can resolve the (string) annotations.
Stations = Annotated[list[str] | None, Query(description="station id (repeatable or comma-separated)")]
River = Annotated[str | None, Query(description="every visible station on this river")]
Start = Annotated[str, Query(alias="from", description="CST date or ISO 8601 time with offset")]
End = Annotated[str, Query(alias="to", description="CST date (included) or ISO 8601 time (exclusive)")]
Params = Annotated[str | None, Query(description="comma-separated parameters; default all")]
Interval = Annotated[str, Query(pattern="^(raw|1h|1d)$")]
Layout = Annotated[str, Query(pattern="^(long|wide)$")]
Format = Annotated[str, Query(pattern="^(csv|xlsx|json)$")]
Limit = Annotated[int, Query(ge=1, le=100_000)]


def history_router(influx: InfluxClient, registry: Registry) -> APIRouter:
    """The ``/api/v1/history`` routes over ``influx``, stations from ``registry``."""
    router = APIRouter(prefix="/api/v1/history", tags=["history"])

    def build(p: Any, station: list[str] | None, river: str | None, start: str, end: str,
              parameters: str | None, interval: str, layout: str) -> HistoryRequest:
        try:
            sts = resolve_stations(registry, [s for x in station or [] for s in x.split(",") if s], river=river,
                                   jurisdictions=p.jurisdictions)
            params = tuple(x.strip() for x in (parameters or "").split(",") if x.strip())
            return HistoryRequest(tuple(s.id for s in sts), parse_when(start), parse_when(end, end=True), params,
                                  interval, layout)
        except ScopeError as err:
            raise HTTPException(404, str(err)) from err
        except HistoryError as err:
            raise HTTPException(422, str(err)) from err

    @router.get("")
    def history(p: Who, start: Start, end: End, station: Stations = None, river: River = None,
                parameters: Params = None, interval: Interval = "raw",
                layout: Layout = "long",
                limit: Limit = 10_000) -> dict[str, Any]:
        """Rows of the selection (times CST with offset); ``truncated`` when ``limit`` cut it."""
        req = build(p, station, river, start, end, parameters, interval, layout)
        try:
            pl = plan(registry, req)
            keys = [c.key for c in columns(pl)]
            rows: list[dict[str, Any]] = []
            truncated = False
            for rec in records(iter_rows(influx, pl), pl):
                if len(rows) >= limit:
                    truncated = True
                    break
                rows.append({k: (cst_iso(v) if isinstance(v, datetime) else v)
                             for k, v in zip(keys, rec, strict=True)})
        except HistoryError as err:
            raise HTTPException(422, str(err)) from err
        except InfluxError as err:
            raise HTTPException(503, f"InfluxDB: {err}") from err
        return {"request": req.to_dict(), "columns": keys, "rows": rows, "truncated": truncated}

    @router.get("/export")
    def export_file(p: Who, start: Start, end: End, station: Stations = None, river: River = None,
                    parameters: Params = None, interval: Interval = "raw",
                    layout: Layout = "long",
                    format: Format = "csv") -> FileResponse:
        """The selection as a file with its manifest in ``X-Envmon-Manifest``."""
        req = build(p, station, river, start, end, parameters, interval, layout)
        tmp = Path(tempfile.mkdtemp(prefix="envmon-export-"))
        name = f"envmon-{req.interval}-{format_time(req.start)[:10]}-{format_time(req.end)[:10]}.{format}"
        try:
            res = export(influx, registry, req, tmp / name, format, scope=p.jurisdictions, progress=False,
                         exported_by=p.name)
        except HistoryError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise HTTPException(422, str(err)) from err
        except InfluxError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise HTTPException(503, f"InfluxDB: {err}") from err
        manifest = {k: v for k, v in res.manifest.items() if k != "source"}  # no server URLs to clients
        headers = {"X-Envmon-SHA256": res.manifest["sha256"], "X-Envmon-Rows": str(res.rows),
                   "X-Envmon-Manifest": json.dumps(manifest, ensure_ascii=True, separators=(",", ":"))}
        return FileResponse(res.path, media_type=MEDIA_TYPES[format], filename=name, headers=headers,
                            background=BackgroundTask(shutil.rmtree, tmp, True))

    return router

