"""A bounded on-disk spool of line-protocol batches for InfluxDB outages.

While InfluxDB is down, ingest may acknowledge messages whose lines are safely in the
spool (fsynced); once the spool is full it acknowledges nothing more, so the broker keeps
the rest. Batches are drained oldest first when InfluxDB is back. A batch file is
``<seq>-<readings>.lp``: the sequence number orders the drain and survives restarts, the
reading count lets the drain report what it stored without parsing the lines.

A crash (even SIGKILL) leaves whole batches or none: a batch is written to a ``.tmp`` file,
fsynced, then renamed; leftover ``.tmp`` files are partial by definition and were never
acknowledged, so they are deleted at start-up.

>>> import tempfile
>>> s = Spool(tempfile.mkdtemp(), max_bytes=1_000)
>>> s.put(["a x=1 1"]), s.put(["b x=2 2"], readings=1), len(s)
(True, True, 2)
>>> s.oldest()[1]
b'a x=1 1'
>>> s.put(["c x=3 3" * 200])
False
"""

from __future__ import annotations

import builtins
import os
import threading
from pathlib import Path


class Spool:
    """Durable FIFO of batches with a byte bound; thread-safe."""

    def __init__(self, directory: str | Path, *, max_bytes: int):
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.dir.mkdir(parents=True, exist_ok=True)
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink()
        files = self._files()
        self._seq = _seq_of(files[-1]) + 1 if files else 0
        self._count = len(files)
        self._bytes = sum(f.stat().st_size for f in files)

    def _files(self) -> list[Path]:
        return sorted(self.dir.glob("*.lp"))  # zero-padded sequence numbers sort in order

    def __len__(self) -> int:
        return self._count

    @property
    def bytes(self) -> int:
        return self._bytes

    def put(self, lines: list[str], readings: int = 0) -> bool:
        """Store a batch durably; False when it does not fit (caller keeps it unacked)."""
        body = "\n".join(lines).encode("utf-8")
        with self._lock:
            if self._bytes + len(body) > self.max_bytes:
                return False
            path = self.dir / f"{self._seq:012d}-{readings}.lp"
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)  # atomic: a crash leaves a whole batch or none
            self._seq += 1
            self._count += 1
            self._bytes += len(body)
            return True

    def oldest(self) -> tuple[Path, builtins.bytes] | None:
        files = self._files()
        if not files:
            return None
        return files[0], files[0].read_bytes()

    @staticmethod
    def readings_of(path: Path) -> int:
        """Reading count recorded when the batch was spooled (0 when unknown)."""
        _, _, n = path.stem.partition("-")
        return int(n) if n.isdigit() else 0

    def remove(self, path: Path) -> None:
        with self._lock:
            size = path.stat().st_size
            path.unlink()
            self._count -= 1
            self._bytes -= size


def _seq_of(path: Path) -> int:
    return int(path.stem.partition("-")[0])
