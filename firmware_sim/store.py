"""A node's store-and-forward queue: bounded, on disk, survives a restart.

Every sample is written here first and deleted only after the broker acknowledged it
(PUBACK), so a link outage, a broker restart or a node reboot loses nothing up to the
capacity; beyond it the oldest samples go first (the newest data matter most) and are
counted. One SQLite file per node (WAL: a crash leaves the file consistent).

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> q = DiskQueue(os.path.join(d, "n.sqlite"), capacity=2)
>>> for i in range(3): _ = q.put(f"p{i}")
>>> [p for _, p in q.peek(10)], q.dropped
(['p1', 'p2'], 1)
>>> q.set_meta("seq", 3); q.close()
>>> q2 = DiskQueue(os.path.join(d, "n.sqlite"), capacity=2)
>>> len(q2), q2.get_meta("seq", 0)
(2, 3)
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class DiskQueue:
    """Bounded FIFO of payloads in one SQLite file, plus a few integer counters (``meta``).

    >>> import os, tempfile
    >>> q = DiskQueue(os.path.join(tempfile.mkdtemp(), "q.sqlite"), capacity=10)
    >>> q.put("a") > 0, len(q)
    (True, 1)
    """

    def __init__(self, path: str | Path, capacity: int = 5000):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.capacity = capacity
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS q "
            "(id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
        self.dropped = int(self.get_meta("dropped", 0))
        self._n = int(self._db.execute("SELECT COUNT(*) FROM q").fetchone()[0])

    def put(self, payload: str) -> int:
        with self._lock:
            cur = self._db.execute("INSERT INTO q (payload) VALUES (?)", (payload,))
            self._n += 1
            if self._n > self.capacity:
                over = self._n - self.capacity
                self._db.execute(
                    "DELETE FROM q WHERE id IN (SELECT id FROM q ORDER BY id LIMIT ?)", (over,)
                )
                self._n -= over
                self.dropped += over
                self._set("dropped", self.dropped)
            return int(cur.lastrowid or 0)

    def peek(self, n: int, after: int = 0) -> list[tuple[int, str]]:
        with self._lock:
            return list(
                self._db.execute(
                    "SELECT id, payload FROM q WHERE id > ? ORDER BY id LIMIT ?", (after, n)
                )
            )

    def delete(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            cur = self._db.executemany("DELETE FROM q WHERE id = ?", [(i,) for i in ids])
            self._n -= max(cur.rowcount, 0)

    def __len__(self) -> int:
        return self._n

    def get_meta(self, k: str, default: int) -> int:
        row = self._db.execute("SELECT v FROM meta WHERE k = ?", (k,)).fetchone()
        return int(row[0]) if row else default

    def set_meta(self, k: str, v: int) -> None:
        with self._lock:
            self._set(k, v)

    def _set(self, k: str, v: int) -> None:
        self._db.execute(
            "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
            (k, v),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()
