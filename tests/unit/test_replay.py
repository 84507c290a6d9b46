"""Replay streams a readings CSV whose rows come in any order within a station."""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from envmon.reading import Reading
from envmon.replay import read_csv, reorder, replay
from envmon.stations import load_registry
from envmon.timeutil import format_time, parse_time
from firmware_sim.engine import generate
from firmware_sim.scenario import load_scenario

T0 = parse_time("2026-07-14T00:00:00Z")


def test_reorder_restores_time_order_within_its_window() -> None:
    from datetime import timedelta

    rs = [Reading("TZ_TOWN", T0 + timedelta(minutes=m), "cod", float(m)) for m in range(60)]
    shuffled = rs[:]
    rng = random.Random(3)
    for i in range(0, 60, 5):  # shuffle within 5-minute blocks
        block = shuffled[i:i + 5]
        rng.shuffle(block)
        shuffled[i:i + 5] = block
    assert list(reorder(shuffled, window_s=600)) == rs
    # a window too small to absorb the disorder cannot restore it (the test can fail)
    assert list(reorder(shuffled, window_s=0)) != rs


def _held_in_a_heap(readings: list[Reading], window_s: float) -> list[Reading]:
    """The buffer's definition: every reading waits in one heap until it is ``window_s``
    older than the newest seen, ties in arrival order."""
    import heapq

    heap: list = []
    out: list[Reading] = []
    newest = float("-inf")
    for n, r in enumerate(readings):
        newest = max(newest, r.time.timestamp())
        heapq.heappush(heap, (r.time.timestamp(), n, r))
        while heap and heap[0][0] < newest - window_s:
            out.append(heapq.heappop(heap)[2])
    return out + [heapq.heappop(heap)[2] for _ in range(len(heap))]


@pytest.mark.parametrize("seed", range(6))
def test_reorder_yields_what_one_heap_would_whatever_the_disorder(seed: int) -> None:
    # The queue that holds in-order runs and the heap it turns into for a late reading
    # must give exactly the one heap's order, ties and readings dropped behind the window
    # included: in order, a few late, long runs late, and stations repeating timestamps.
    rng = random.Random(seed)
    rs = []
    for i in range(400):
        late = rng.random() < (0.02, 0.2, 0.5)[seed % 3]
        minutes = i - (rng.randint(1, 40) if late else 0)
        rs.append(Reading(rng.choice(["A", "B"]), T0 + timedelta(minutes=minutes), "cod", float(i)))
    for window in (0.0, 300.0, 900.0, 3600.0):
        got = list(reorder(rs, window))
        assert got == _held_in_a_heap(rs, window)
        assert sorted(r.value for r in got) == [r.value for r in rs]  # none lost, none twice


def test_shuffled_file_gives_the_same_alerts_as_the_ordered_one(tmp_path: Path) -> None:
    registry = load_registry()
    sim = generate(load_scenario("demo-night"), registry)
    rows = [(r.time, f"{format_time(r.time)},{r.station},{r.parameter},{r.value},{r.flag}") for r in sim.readings()]
    ordered, shuffled = tmp_path / "ordered.csv", tmp_path / "shuffled.csv"
    header = "time,station,parameter,value,flag\n"
    ordered.write_text(header + "\n".join(r for _, r in rows) + "\n", encoding="utf-8")
    rng = random.Random(7)
    blocks: dict[int, list[str]] = {}
    for t, r in rows:  # disorder within each 10-minute block, as loggers' uploads do
        blocks.setdefault(int(t.timestamp()) // 600, []).append(r)
    out = []
    for k in sorted(blocks):
        rng.shuffle(blocks[k])
        out += blocks[k]
    shuffled.write_text(header + "\n".join(out) + "\n", encoding="utf-8")

    def alerts(path: Path) -> list[tuple[str, str, str]]:
        with open(tmp_path / f"{path.stem}.jsonl", "w", encoding="utf-8") as fh:
            res = replay(path, registry, alerts_out=fh, reorder_s=900)
        assert res.readings == len(rows) and not res.bad_rows
        docs = [json.loads(x) for x in open(tmp_path / f"{path.stem}.jsonl", encoding="utf-8")]
        return sorted((d["station"], d["kind"], d["start"]) for d in docs)

    got = alerts(shuffled)
    assert got == alerts(ordered)
    assert ("TZ_TOWN", "illegal_discharge") in {(s, k) for s, k, _ in got}


def _river_discharges(tmp_path: Path, samples: int, on) -> list[dict]:
    """Replay ``samples`` 5-min samples of XT_TOWN from T0, a sewage plume on top while
    ``on(t)``; the alerts file's illegal_discharge records."""
    base = {"cond": 520.0, "nh3n": 0.45, "cod": 16.0, "codmn": 4.2, "tp": 0.12, "turb": 18.0, "do": 6.5}
    plume = {"cond": 300.0, "nh3n": 3.0, "cod": 12.0, "turb": 20.0}
    g = np.random.default_rng(5)
    lines = ["time,station,parameter,value,flag"]
    for i in range(samples):
        t = T0 + timedelta(minutes=5 * i)
        for p, v in base.items():
            x = v + g.normal(0, 0.01 * v) + (plume.get(p, 0.0) if on(t) else 0.0)
            lines.append(f"{format_time(t)},XT_TOWN,{p},{x:.3f},N")
    path = tmp_path / "r.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "alerts.jsonl"
    with open(out, "w", encoding="utf-8") as fh:
        replay(path, load_registry(), alerts_out=fh)
    recs = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    return [r for r in recs if r["kind"] == "illegal_discharge"]


def test_a_reopened_alert_is_an_episode_of_its_own_in_the_alerts_file(tmp_path: Path) -> None:
    """A discharge that clears and comes back within the re-arm window re-opens the same
    alert; the file gets one line per episode, the second with its own raised_at."""
    t1 = T0 + timedelta(hours=6)
    second = t1 + timedelta(minutes=100)  # cleared after ~30 min, back well within 2 h
    recs = _river_discharges(tmp_path, 12 * 10, lambda t: t1 <= t < t1 + timedelta(minutes=30)
                             or second <= t < second + timedelta(minutes=30))
    assert len(recs) == 2 and recs[0]["id"] == recs[1]["id"]
    assert "reopened" not in recs[0] and recs[1]["reopened"] is True
    first, again = (parse_time(r["raised_at"]) for r in recs)
    assert t1 <= first <= t1 + timedelta(minutes=10)
    assert second <= again <= second + timedelta(minutes=10)


def test_an_alert_open_at_the_end_of_the_file_carries_its_last_evaluation(tmp_path: Path) -> None:
    """A discharge still going when the file ends is written with the open alert as the
    policy holds it: ``last_seen`` is the file's last sample, not the last time something a
    field team reads changed (once raised, an unchanged signature emits no event). The
    scorer credits an alert open when an event arrives by that field."""
    t1 = T0 + timedelta(hours=6)
    n = 12 * 9
    (rec,) = _river_discharges(tmp_path, n, lambda t: t >= t1)
    assert "end" not in rec or rec["end"] is None
    assert parse_time(rec["last_seen"]) == T0 + timedelta(minutes=5 * (n - 1))


def _factory_csv(path: Path) -> None:
    """OF_YZ_IND every 5 min for 56 h from 2026-07-13 00:00 CST; COD 120 mg/L all of
    2026-07-14 (CST), 50 the rest of the time."""
    rng = np.random.default_rng(5)
    t0 = parse_time("2026-07-13T00:00:00+08:00")
    day = t0 + timedelta(days=1)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("time,station,parameter,value,flag\n")
        for i in range(56 * 12):
            t = t0 + i * timedelta(minutes=5)
            cod = 120.0 if day <= t < day + timedelta(days=1) else 50.0
            for p, v in (("cod", cod), ("nh3n", 2.5), ("ph", 7.8), ("flow", 35.0)):
                fh.write(f"{format_time(t)},OF_YZ_IND,{p},{v * (1 + rng.normal(0, 0.01)):.3f},N\n")


@pytest.mark.parametrize(("flags", "exceedances"), [([], 1), (["--industrial-grade", "2"], 0)])
def test_replay_judges_a_factorys_day_at_the_gb8978_grade_asked(tmp_path: Path, flags: list[str],
                                                               exceedances: int) -> None:
    # OF_YZ_IND discharges into class III water: grade 1 by default (COD ≤ 100 mg/L); grade 2
    # (≤ 150), asked for on the command line, lets the same day pass.
    from envmon.cli import main

    csv_path, out = tmp_path / "factory.csv", tmp_path / "alerts.jsonl"
    _factory_csv(csv_path)
    assert main(["replay", str(csv_path), "--alerts-out", str(out), "--no-progress", *flags]) == 0
    found = [a for a in map(json.loads, out.read_text(encoding="utf-8").splitlines()) if a["kind"] == "exceedance"]
    assert len(found) == exceedances
    if found:
        assert "GB 8978-1996 一级标准" in found[0]["message"] and found[0]["parameters"] == ["cod"]


def test_replay_judges_a_factory_by_its_permit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Grade 2 (COD ≤ 150) lets the day of COD 120 pass; the sample permit of OF_YZ_IND
    # (COD ≤ 80, made up) does not, and the alert names it. A permit for a rain outfall is
    # refused before anything is replayed, with the reason.
    from envmon.cli import main
    from envmon.paths import ROOT

    csv_path, out = tmp_path / "factory.csv", tmp_path / "alerts.jsonl"
    _factory_csv(csv_path)
    sample = ROOT / "seeds" / "permits.sample.toml"
    assert main(["replay", str(csv_path), "--alerts-out", str(out), "--no-progress", "--industrial-grade", "2",
                 "--permits", str(sample)]) == 0
    (a,) = [a for a in map(json.loads, out.read_text(encoding="utf-8").splitlines()) if a["kind"] == "exceedance"]
    assert a["details"]["permit"] == "EXAMPLE-330421-0001" and "许可限值 ≤ 80 mg/L" in a["message"]
    bad = tmp_path / "permits.toml"
    bad.write_text(sample.read_text(encoding="utf-8").replace('outfall = "OF_XT_WWTP"', 'outfall = "OF_XT_RAIN"'),
                   encoding="utf-8")
    capsys.readouterr()
    assert main(["replay", str(csv_path), "--no-progress", "--permits", str(bad)]) == 2
    assert "permit 2: OF_XT_RAIN is a rain outfall" in capsys.readouterr().err


def test_every_row_of_a_known_station_and_parameter_is_still_checked() -> None:
    # read_csv checks a station id and parameter name once; the value, the flag and the time
    # are checked on every row, and a bad one is counted and skipped, never passed on.
    text = (
        "time,station,parameter,value,flag\n"
        "2026-07-14T00:00:00Z,TZ_TOWN,cod,18.2,N\n"
        "2026-07-14T00:05:00Z,TZ_TOWN,cod,nan,N\n"
        "2026-07-14T00:10:00Z,TZ_TOWN,cod,inf,N\n"
        "2026-07-14T00:15:00Z,TZ_TOWN,cod,18.4,X\n"
        "2026-07-14T00:20:00,TZ_TOWN,cod,18.5,N\n"
        "2026-07-14T00:25:00Z,TZ_TOWN,cod,abc,N\n"
        "2026-07-14T00:30:00Z,TZ_TOWN,cod,18.6,\n"
        "2026-07-14T00:35:00Z,bad id!,cod,18.7,N\n"
    )
    bad: Counter = Counter()
    got = list(read_csv(io.StringIO(text), bad))
    assert [(r.value, r.flag) for r in got] == [(18.2, "N"), (18.6, "N")]
    assert bad == Counter({"value not finite": 2, "unknown data flag": 1, "bad station id": 1,
                           "time not ISO 8601 with an offset": 1, "value not a number": 1})


def test_unknown_stations_and_broken_rows_are_counted_by_name_and_good_rows_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A station the registry does not know is no reading of this network: its rows are
    # counted under its id (one by one up to UNKNOWN_KEYS ids, the rest together) and never
    # reach the core; the good rows around them are all replayed.
    from envmon.cli import main
    from envmon.replay import UNKNOWN_KEYS

    rows = ["time,station,parameter,value,flag"]
    for m in range(0, 60, 5):
        t = format_time(T0 + timedelta(minutes=m))
        rows += [f"{t},TZ_TOWN,cod,18.{m % 10},N", f"{t},NOPE,cod,1,N", f"{t},TZ_TOWN"]
    rows += [f"{format_time(T0)},GHOST_{i},cod,1,N" for i in range(UNKNOWN_KEYS + 3)]
    path = tmp_path / "r.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    bad: Counter = Counter()
    with open(path, encoding="utf-8") as fh:
        got = list(read_csv(fh, bad, load_registry()))
    assert len(got) == 12 and {r.station for r in got} == {"TZ_TOWN"}
    assert bad["unknown station NOPE"] == 12 and bad["row shorter than the header"] == 12
    assert bad["unknown station (others)"] == 4  # NOPE and 19 ghosts by name, 4 ghosts together
    assert main(["replay", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("12 readings in ") and "unknown station NOPE 12" in out
    assert "row shorter than the header 12" in out
