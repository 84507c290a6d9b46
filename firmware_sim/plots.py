"""Figures of docs/simulator.md: a normal day, rain, and each event type at the stations
that see it (readings with the event, and the same run without it, faint).

``envmon sim plots --out docs/img`` writes them; everything comes from the month scenario
and the demo night, so the figures show exactly what detectors are measured on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from envmon.stations import Registry, load_registry
from envmon.timeutil import CST, parse_time
from firmware_sim.engine import Simulation, generate
from firmware_sim.scenario import load_scenario


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    return plt, mdates


def _dt(t: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(x, UTC).astimezone(CST) for x in t]


def _series(
    sim: Simulation, sid: str, p: str, t0: float, t1: float
) -> tuple[np.ndarray, np.ndarray]:
    d = sim.data[sid]
    if p not in d.params:
        return np.array([]), np.array([])
    t, v = d.series(p)
    m = (t >= t0) & (t <= t1)
    return t[m], v[m]


def _panel(
    ax, sims: list[tuple[Simulation, dict]], sid: str, p: str, t0: float, t1: float, mdates
) -> None:
    for sim, style in sims:
        t, v = _series(sim, sid, p, t0, t1)
        if len(t):
            ax.plot(_dt(t), v, **style)
    ax.set_ylabel(f"{sid}\n{p}", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=CST))


def _shade(ax, e: dict) -> None:
    a = parse_time(e["start"]).astimezone(CST)
    b = parse_time(e["end"]).astimezone(CST)
    ax.axvspan(a, b, color="tab:red", alpha=0.08)


def _figure(
    path: Path,
    title: str,
    rows: list[tuple[str, str]],
    sims: list[tuple[Simulation, dict]],
    t0: float,
    t1: float,
    events: Sequence[dict] = (),
    marks: bool = False,
) -> Path:
    plt, mdates = _mpl()
    fig, axes = plt.subplots(
        len(rows), 1, figsize=(10, 1.5 * len(rows) + 0.8), sharex=True, squeeze=False
    )
    for ax, (sid, p) in zip(axes[:, 0], rows, strict=True):
        _panel(ax, sims, sid, p, t0, t1, mdates)
        for e in events:
            if sid in e["stations"]:
                _shade(ax, e)
                if marks and sid in e.get("arrivals", {}):
                    ax.axvline(
                        parse_time(e["arrivals"][sid]).astimezone(CST),
                        color="tab:red",
                        lw=0.6,
                        ls=":",
                    )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


WITH = {"color": "tab:blue", "lw": 0.9}
WITHOUT = {"color": "0.6", "lw": 0.7, "alpha": 0.8}


def _pick(sim: Simulation, typ: str, pred=lambda e: True) -> dict | None:
    for e in sim.truth:
        if e["type"] == typ and pred(e):
            return e
    return None


def make_plots(
    out: Path | str, *, registry: Registry | None = None, progress: bool = True
) -> Iterator[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reg = registry or load_registry()
    month = load_scenario("month")
    sim = generate(month, reg)
    clean = generate(month, reg, include=lambda e: False)
    both = [(clean, WITHOUT), (sim, WITH)]
    # A normal day: a dry weekday with no event at these stations.
    day = parse_time("2026-07-22T00:00:00+08:00").timestamp()
    yield _figure(
        out / "normal-day-water.png",
        "normal day, water (no events): temperature, the "
        "photosynthesis cycle of DO and pH, river vs lake",
        [
            ("TZ_TOWN", "temp"),
            ("TZ_TOWN", "do"),
            ("TZ_TOWN", "ph"),
            ("FH_LAKE", "do"),
            ("FH_LAKE", "ph"),
            ("TZ_TOWN", "cond"),
            ("TZ_TOWN", "turb"),
            ("TZ_TOWN", "nh3n"),
            ("TP_DONGCAI", "turb"),
        ],
        [(clean, WITH)],
        day,
        day + 86400,
    )
    yield _figure(
        out / "normal-day-noise.png",
        "normal day, noise: traffic-shaped Leq and Lmax by zone "
        "(4a road, 1 residential, 3 industrial)",
        [
            ("NZ_JS_G320", "laeq"),
            ("NZ_JS_G320", "lmax"),
            ("NZ_JS_WEITANG", "laeq"),
            ("NZ_YZ_PARK", "laeq"),
        ],
        [(clean, WITH)],
        day,
        day + 86400,
    )
    yield _figure(
        out / "normal-day-air.png",
        "normal days, air: rush-hour NO2, night inversions, "
        "afternoon O3, regional PM at two stations",
        [
            ("AQ_JS_CENTER", "no2"),
            ("AQ_JS_CENTER", "o3"),
            ("AQ_JS_CENTER", "pm25"),
            ("AQ_WJ_FENHU", "pm25"),
        ],
        [(clean, WITH)],
        day - 86400,
        day + 86400,
    )
    # Rain: the storm with the most rain inside the month.
    storms = [
        s
        for s in sim.weather.storms
        if month.start.timestamp() < s[0] < month.end.timestamp() - 86400
    ]
    s0 = max(storms, key=lambda s: s[2] * (s[1] - s[0]))[0]
    yield _figure(
        out / "rain.png",
        "a storm: rain gauge, first flush at a rain outfall, rivers rise, dilute and turn turbid",
        [
            ("OF_XT_RAIN", "rain"),
            ("OF_XT_RAIN", "flow"),
            ("OF_XT_RAIN", "cod"),
            ("OF_XT_RAIN", "turb"),
            ("XT_TOWN", "flow"),
            ("XT_TOWN", "turb"),
            ("XT_TOWN", "cond"),
        ],
        [(clean, WITH)],
        s0 - 6 * 3600,
        s0 + 36 * 3600,
    )
    # The demo night's discharge: outfall, then the two stations below, with the arrivals.
    demo = load_scenario("demo-night")
    dsim, dclean = generate(demo, reg), generate(demo, reg, include=lambda e: False)
    (de,) = dsim.truth
    yield _figure(
        out / "event-illegal-discharge-demo.png",
        "illegal discharge (demo night): OF_TZ_RAIN → TZ_TOWN (30 min) → XT_TOWN (150 min)",
        [
            ("OF_TZ_RAIN", "flow"),
            ("OF_TZ_RAIN", "cond"),
            ("TZ_TOWN", "cond"),
            ("TZ_TOWN", "nh3n"),
            ("TZ_TOWN", "do"),
            ("XT_TOWN", "cond"),
            ("XT_TOWN", "codmn"),
        ],
        [(dclean, WITHOUT), (dsim, WITH)],
        demo.start.timestamp(),
        demo.end.timestamp(),
        [de],
        marks=True,
    )
    long = _pick(sim, "illegal_discharge", lambda e: len(e["stations"]) >= 4)
    if long:
        rows = [(s, "cond") for s in long["stations"]]
        t0 = parse_time(long["start"]).timestamp()
        yield _figure(
            out / "event-illegal-discharge-chain.png",
            f"illegal discharge at {long['source']}: the plume down the chain, "
            "later, lower, broader",
            rows,
            both,
            t0 - 2 * 3600,
            parse_time(long["end"]).timestamp() + 3 * 3600,
            [long],
            marks=True,
        )
    small = _pick(sim, "illegal_discharge", lambda e: e.get("hard") == "small_discharge")
    if small:
        sid = small["stations"][0]
        t0 = parse_time(small["start"]).timestamp()
        rows = [(sid, p) for p in ("flow", "cond", "nh3n", "cod")]
        yield _figure(
            out / "event-illegal-discharge-small.png",
            f"a small discharge at {sid} (hard case)",
            rows,
            both,
            t0 - 4 * 3600,
            t0 + 6 * 3600,
            [small],
        )
    rain_ev = _pick(sim, "illegal_discharge", lambda e: e.get("hard") == "discharge_in_rain")
    if rain_ev:
        sid = rain_ev["stations"][0]
        t0 = parse_time(rain_ev["start"]).timestamp()
        rows = [(sid, p) for p in ("flow", "cond", "nh3n", "cod")] + [
            (s, "cond") for s in rain_ev["stations"][1:3]
        ]
        yield _figure(
            out / "event-illegal-discharge-in-rain.png",
            f"a discharge during rain at {sid} (hard case)",
            rows,
            both,
            t0 - 6 * 3600,
            t0 + 8 * 3600,
            [rain_ev],
        )
    dwf = _pick(sim, "dry_weather_flow", lambda e: len(e["stations"]) > 1) or _pick(
        sim, "dry_weather_flow"
    )
    if dwf:
        sid = dwf["source"]
        rows = [(sid, p) for p in ("rain", "flow", "level", "cond", "nh3n")] + [
            (s, "nh3n") for s in dwf["stations"][1:2]
        ]
        t0, t1 = parse_time(dwf["start"]).timestamp(), parse_time(dwf["end"]).timestamp()
        yield _figure(
            out / "event-dry-weather-flow.png",
            f"dry-weather flow at rain outfall {sid}: flow with no rain",
            rows,
            both,
            t0 - 12 * 3600,
            t1 + 6 * 3600,
            [dwf],
        )
    for fault in (
        "drift",
        "biofouling",
        "stuck",
        "spikes",
        "dropouts",
        "calibration",
        "sediment_ingress",
    ):
        e = _pick(sim, "sensor_fault", lambda e, f=fault: e.get("fault") == f)
        if not e:
            continue
        sid = e["stations"][0]
        params = e["parameters"] or [sim.data[sid].params[0]]
        t0, t1 = parse_time(e["start"]).timestamp(), parse_time(e["end"]).timestamp()
        pad = max(3 * 3600, 0.3 * (t1 - t0))
        yield _figure(
            out / f"event-sensor-fault-{fault.replace('_', '-')}.png",
            f"sensor fault '{fault}' at {sid}" + (" (mimics pollution)" if e.get("hard") else ""),
            [(sid, p) for p in params[:4]],
            both,
            t0 - pad,
            t1 + pad,
            [e],
        )
    for cause in ("power", "link"):
        e = _pick(sim, "station_offline", lambda e, c=cause: e.get("cause") == c)
        if e:
            sid = e["stations"][0]
            t0, t1 = parse_time(e["start"]).timestamp(), parse_time(e["end"]).timestamp()
            shown = sim.data[sid].params[:2]
            yield _figure(
                out / f"event-station-offline-{cause}.png",
                f"station offline ({cause}) at {sid}: "
                + ("no data" if cause == "power" else "data kept on the node, backfilled later"),
                [(sid, x) for x in shown],
                [(sim, {**WITH, "marker": ".", "ms": 2, "lw": 0})],
                t0 - 3 * 3600,
                t1 + 3 * 3600,
                [e],
            )
    for typ in ("noise_night_burst", "noise_exceedance"):
        e = _pick(sim, typ)
        if e:
            sid = e["stations"][0]
            t0, t1 = parse_time(e["start"]).timestamp(), parse_time(e["end"]).timestamp()
            yield _figure(
                out / f"event-{typ.replace('_', '-')}.png",
                f"{typ} at {sid} (zone {reg[sid].zone})",
                [(sid, "laeq"), (sid, "lmax")],
                both,
                t0 - 4 * 3600,
                t1 + 4 * 3600,
                [e],
            )
    for kind in ("haze", "ozone"):
        e = _pick(sim, "air_episode", lambda e, k=kind: e.get("episode") == k)
        if e:
            t0, t1 = parse_time(e["start"]).timestamp(), parse_time(e["end"]).timestamp()
            par = "pm25" if kind == "haze" else "o3"
            yield _figure(
                out / f"event-air-episode-{kind}.png",
                f"regional {kind} episode seen by all air stations",
                [(s, par) for s in e["stations"]],
                both,
                t0 - 86400,
                t1 + 86400,
                [e],
            )


__all__ = ["make_plots"]
