"""A local HTTP endpoint for tests: stands in for webhooks and group robots (DingTalk, WeCom,
Feishu, a field team's receiver). Records every POST; answers with ``status``/``reply`` or
with what ``respond(path, body)`` returns."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, path: str = "/robot/send?access_token=t",
                 respond: Callable[[str, bytes], tuple[int, Any]] | None = None) -> None:
        self.requests: list[tuple[str, bytes]] = []
        self.status, self.reply = 200, {"errcode": 0, "errmsg": "ok"}
        self.got = threading.Event()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, body))
                status, reply = respond(self.path, body) if respond else (outer.status, outer.reply)
                raw = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
                outer.got.set()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[Any]:
        return [json.loads(b) for _, b in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
