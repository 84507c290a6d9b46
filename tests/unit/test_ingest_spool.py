"""The disk spool: bounded, FIFO across restarts, crash leftovers discarded."""

from __future__ import annotations

from pathlib import Path

from ingest.spool import Spool


def test_bound_is_respected_and_order_kept(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=100)
    assert s.put(["a" * 40], readings=3) and s.put(["b" * 40], readings=4)
    assert not s.put(["c" * 40])  # would exceed 100 bytes: the caller keeps it unacknowledged
    assert len(s) == 2 and s.bytes == 80
    path, body = s.oldest()
    assert body == b"a" * 40 and Spool.readings_of(path) == 3
    s.remove(path)
    assert s.put(["c" * 40])
    assert [s.oldest()[1]] == [b"b" * 40]


def test_restart_continues_sequence_and_drops_partial_files(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=10_000)
    for i in range(12):
        s.put([f"m x={i} {i}"], readings=1)
    (tmp_path / "000000000099-1.tmp").write_bytes(b"half a bat")  # a crash mid-write
    again = Spool(tmp_path, max_bytes=10_000)
    assert len(again) == 12 and again.bytes == s.bytes
    assert not list(tmp_path.glob("*.tmp"))
    again.put(["m x=99 99"])
    bodies = []
    while (item := again.oldest()) is not None:
        bodies.append(item[1])
        again.remove(item[0])
    assert bodies == [f"m x={i} {i}".encode() for i in range(12)] + [b"m x=99 99"]
    assert again.bytes == 0
