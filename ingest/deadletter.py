"""Dead letters: every rejected payload or value, with its reason, in a JSONL file and
(optionally) on an MQTT topic, so operators can see and replay what was refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from envmon.timeutil import format_time, utcnow
from ingest.decode import Rejection


class DeadLetters:
    """Append-only JSONL file; ``publish(topic, payload)`` is optional (MQTT)."""

    def __init__(self, path: str | Path, *, topic: str = "", publish: Callable[[str, bytes], None] | None = None):
        self.path = Path(path)
        self.topic = topic
        self.publish = publish
        self._lock = threading.Lock()
        self._fh: TextIO | None = None

    def write(self, rejections: list[Rejection]) -> None:
        if not rejections:
            return
        now = format_time(utcnow())
        docs = [json.dumps({"received": now, **r.to_dict()}, ensure_ascii=False) for r in rejections]
        with self._lock:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a", encoding="utf-8")
            self._fh.write("\n".join(docs) + "\n")
            self._fh.flush()
        if self.publish and self.topic:
            for d in docs:
                try:
                    self.publish(self.topic, d.encode())
                except Exception:
                    pass

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
