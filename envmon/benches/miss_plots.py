"""Figures of the illegal discharges ``envmon bench detect`` did not raise within 30 min.

One PNG a miss: the wastewater markers at the station the discharge reached first (and at
its outfall, when that is another station), from two hours before the arrival to three
after, the readings as replayed. Marked on it: the discharge (shaded), its arrival, the 30-min
deadline, when each parameter first showed it by three instrument SDs (the truth's
``seen_at``) and when the core raised an alert there, if it did. Reading a miss is looking
at these, not at rows of numbers.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from envmon.stations import Registry
from envmon.timeutil import CST, parse_time

# What a discharge moves, in the order a reader looks for it (total nitrogen among them: the
# river rules weigh it beside NH3-N); flow and rain explain a storm.
PARAMS = ("cond", "nh3n", "cod", "codmn", "tp", "tn", "turb", "do", "flow", "rain")
BEFORE, AFTER = timedelta(hours=2), timedelta(hours=3)


def _stations(ev: Mapping[str, Any]) -> list[str]:
    """The station the discharge reached first, and its outfall when that is another."""
    arrivals = ev.get("arrivals") or {}
    first = min(arrivals, key=lambda s: parse_time(arrivals[s])) if arrivals else (ev.get("stations") or [None])[0]
    out = [s for s in (first, ev.get("source")) if s]
    return list(dict.fromkeys(out))


def _window(ev: Mapping[str, Any]) -> tuple[datetime, datetime, datetime]:
    from analytics.scoring import first_arrival

    t = first_arrival(ev)
    return t - BEFORE, t + AFTER, t


def read_windows(path: Path, wanted: Mapping[str, list[tuple[datetime, datetime]]]
                 ) -> dict[str, dict[str, list[tuple[datetime, float]]]]:
    """``station -> parameter -> [(time, value)]`` of a readings CSV, for the stations and time
    windows in ``wanted`` only: one pass over the file, times parsed only for those stations."""
    got: dict[str, dict[str, list[tuple[datetime, float]]]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh)
        head = next(rows, None)
        if head is None:
            return got
        i_t, i_s, i_p, i_v = (head.index(k) for k in ("time", "station", "parameter", "value"))
        for row in rows:
            spans = wanted.get(row[i_s])
            if spans is None or row[i_p] not in PARAMS:
                continue
            try:
                t, v = parse_time(row[i_t]), float(row[i_v])
            except ValueError:
                continue
            if any(a <= t <= b for a, b in spans):
                got.setdefault(row[i_s], {}).setdefault(row[i_p], []).append((t, v))
    return got


def _drawn(ev: Mapping[str, Any], sid: str, p: str, values: list[float]) -> bool:
    """Is ``p`` a row of the figure at ``sid``: readings there, and the truth names it, or it
    always tells (conductivity, NH3-N, flow, rain), or it moved at all."""
    if not values:
        return False
    named = p in (ev.get("signature") or {}).get(sid, {})
    return named or p in ("cond", "nh3n", "flow", "rain") or len(set(values)) > 1


def _figure(path: Path, title: str, ev: Mapping[str, Any], data: Mapping[str, Mapping[str, list]],
            alerts: Iterable[Mapping[str, Any]], registry: Registry, font: str | None) -> Path | None:
    """Draw one miss into ``path``; None when its stations have no readings in the window."""
    from firmware_sim.plots import _mpl

    plt, mdates = _mpl()
    t0, t1, arrival = _window(ev)
    seen = ev.get("seen_at") or {}
    rows = [(s, p) for s in _stations(ev) for p in PARAMS
            if _drawn(ev, s, p, [v for t, v in data.get(s, {}).get(p, []) if t0 <= t <= t1])]
    if not rows:
        return None
    with plt.rc_context({"font.family": [font, "DejaVu Sans"]} if font else {}):
        fig, axes = plt.subplots(len(rows), 1, figsize=(10, 1.25 * len(rows) + 1.0), sharex=True, squeeze=False)
        prev = None
        for ax, (sid, p) in zip(axes[:, 0], rows, strict=True):
            pts = sorted(x for x in data[sid][p] if t0 <= x[0] <= t1)
            ax.plot([t.astimezone(CST) for t, _ in pts], [v for _, v in pts], color="tab:blue", lw=0.9)
            ax.axvspan(parse_time(ev["start"]).astimezone(CST), min(parse_time(ev["end"]), t1).astimezone(CST),
                       color="tab:red", alpha=0.08)
            ax.axvline(arrival.astimezone(CST), color="tab:red", lw=0.8, ls=":")
            ax.axvline((arrival + timedelta(minutes=30)).astimezone(CST), color="black", lw=0.8, ls="--")
            if p in seen.get(sid, {}):
                ax.axvline(parse_time(seen[sid][p]).astimezone(CST), color="tab:orange", lw=1.4, alpha=0.8)
            for a in alerts:
                if a["station"] == sid and a.get("raised_at"):
                    ax.axvline(parse_time(a["raised_at"]).astimezone(CST), color="tab:green", lw=1.4)
            ax.set_ylabel(p, fontsize=7)
            if sid != prev:  # each station's first row names it (in Chinese where a font has it)
                st = registry.get(sid)
                ax.set_title(f"{sid} {st.name}" if st is not None and font else sid, fontsize=8, loc="left")
            prev = sid
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=CST))
        fig.suptitle(title, fontsize=9)
        fig.text(0.01, 0.005, "shaded: the discharge · red dotted: arrival · black dashed: 30 min after it · "
                 "orange: first 3-SD change in that parameter · green: alert raised (CST)", fontsize=7)
        fig.tight_layout(rect=(0, 0.02, 1, 1))
        fig.savefig(path, dpi=90)
        plt.close(fig)
    return path


def plot_misses(missed: Iterable[tuple[int, Any]], out: Path, scenario: str, registry: Registry,
                describe: Callable[[int, Any], str]) -> list[Path]:
    """Write one figure per missed discharge (``(seed, Outcome)``) into ``out/misses/``, reading
    each seed's readings and alerts from ``out`` once. ``describe(seed, outcome)`` gives the title.
    Returns the files written."""
    from envmon.report import cjk_font

    by_seed: dict[int, list[Any]] = {}
    for seed, o in missed:
        by_seed.setdefault(seed, []).append(o)
    folder = out / "misses"
    folder.mkdir(parents=True, exist_ok=True)
    font = cjk_font()
    written: list[Path] = []
    for seed, outcomes in sorted(by_seed.items()):
        wanted: dict[str, list[tuple[datetime, datetime]]] = {}
        for o in outcomes:
            a, b, _ = _window(o.event)
            for s in _stations(o.event):
                wanted.setdefault(s, []).append((a, b))
        data = read_windows(out / f"{scenario}-{seed}.csv", wanted)
        with open(out / f"{scenario}-{seed}.alerts.jsonl", encoding="utf-8") as fh:
            alerts = [json.loads(x) for x in fh]
        for o in outcomes:
            a, b, _ = _window(o.event)
            near = [x for x in alerts if x["kind"] == "illegal_discharge" and x.get("raised_at")
                    and a <= parse_time(x["raised_at"]) <= b]
            name = re.sub(r"[^\w.-]", "_", f"{seed}-{o.event['id']}") + ".png"
            png = _figure(folder / name, describe(seed, o), o.event, data, near, registry, font)
            if png is not None:
                written.append(png)
    return written
