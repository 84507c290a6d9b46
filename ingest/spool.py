"""A bounded on-disk spool of line-protocol batches for InfluxDB outages.

While InfluxDB is down, ingest may acknowledge messages whose lines are safely in the
spool (fsynced); once the spool is full it acknowledges nothing more, so the broker keeps
the rest. Batches are drained oldest first when InfluxDB is back.

>>> import tempfile
>>> s = Spool(tempfile.mkdtemp(), max_bytes=1_000)
>>> s.put(["a x=1 1"]), s.put(["b x=2 2"]), len(s)
(True, True, 2)
>>> s.oldest()[1]
b'a x=1 1'
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


class Spool:
    def __init__(self, directory: str | Path, *, max_bytes: int):
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.dir.mkdir(parents=True, exist_ok=True)
        files = sorted(self.dir.glob("*.lp"))
        self._seq = int(files[-1].stem) + 1 if files else 0
        self._bytes = sum(f.stat().st_size for f in files)

    def __len__(self) -> int:
        return len(list(self.dir.glob("*.lp")))

    @property
    def bytes(self) -> int:
        return self._bytes

    def put(self, lines: list[str]) -> bool:
        """Store a batch durably; False when it does not fit (caller keeps it unacked)."""
        body = "\n".join(lines).encode("utf-8")
        with self._lock:
            if self._bytes + len(body) > self.max_bytes:
                return False
            path = self.dir / f"{self._seq:012d}.lp"
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)  # atomic: a crash leaves a whole batch or none
            self._seq += 1
            self._bytes += len(body)
            return True

    def oldest(self) -> tuple[Path, bytes] | None:
        files = sorted(self.dir.glob("*.lp"))
        if not files:
            return None
        return files[0], files[0].read_bytes()

    def remove(self, path: Path) -> None:
        with self._lock:
            size = path.stat().st_size
            path.unlink()
            self._bytes -= size
