"""The field teams' phone page, served by the API under ``/m/``.

One static HTML page with a small script (``static/``): it asks for the team's token once
(kept in the phone's local storage), lists unresolved alerts first, shows an alert with an
inline-SVG chart of the hours around it (``/api/v1/alerts/{id}/series``), and offers the
buttons to acknowledge and to resolve with a cause and a note. Links in notifications point
at ``/m/#<alert id>``; the fragment never reaches the server, and neither does a token in
a URL, because the page never puts one there.

>>> from fastapi import FastAPI
>>> app = FastAPI()
>>> mount_web(app)
>>> sorted(r.path for r in app.routes if r.path.startswith("/m"))
['/m', '/m/', '/m/static']
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = resources.files("envmon.alerting") / "static"


def mount_web(app: FastAPI) -> None:
    """Add ``/`` and ``/m/`` (the page) and ``/m/static`` (its script and style)."""

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/m/")

    @app.get("/m", include_in_schema=False)
    def m_redirect() -> RedirectResponse:
        return RedirectResponse("/m/")

    @app.get("/m/", include_in_schema=False, response_class=HTMLResponse)
    def page() -> HTMLResponse:
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        # no-store: a phone must not show yesterday's list from cache
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    app.mount("/m/static", StaticFiles(directory=str(STATIC)), name="field-static")
