"""The offline engine: a whole network over a whole period, vectorised per station.

>>> from envmon.stations import load_registry
>>> from firmware_sim.scenario import load_scenario
>>> sim = generate(load_scenario("demo-night"), load_registry())
>>> first = next(iter(sim.readings()))
>>> first.time.isoformat(), first.flag
('2026-07-13T14:00:00+00:00', 'N')
>>> [e["type"] for e in sim.truth]
['illegal_discharge']
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from envmon.params import load_parameters
from envmon.reading import Reading
from envmon.stations import Registry, Station
from envmon.timeutil import format_time
from firmware_sim.common import key, rng, smooth_noise
from firmware_sim.events import FLAG_CODES, Event
from firmware_sim.instrument import NOISE, WET_CHEM, hold, noise_sd
from firmware_sim.physics import (
    AIR_PARAMS,
    NOISE_PARAMS,
    air_env,
    noise_env,
    water_env,
    water_profile,
)
from firmware_sim.planner import plan_events
from firmware_sim.scenario import Scenario
from firmware_sim.weather import Weather

PARAM_NAMES: tuple[str, ...] = tuple(NOISE)
PARAM_INDEX = {p: i for i, p in enumerate(PARAM_NAMES)}
FLAG_ARRAY = np.array(list(FLAG_CODES))


@dataclass
class StationData:
    """The readings of one station: a time grid, values and flags per parameter, and which
    sampling instants exist in the output (power outages and dropouts remove them).

    >>> from envmon.stations import load_registry
    >>> d = StationData(load_registry()["TZ_TOWN"], ("do",), np.array([0.0, 300.0]),
    ...                 np.array([[5.1, 5.3]]), np.zeros((1, 2), np.uint8), np.array([True, False]))
    >>> d.series("do")[1].tolist()
    [5.1]
    """

    station: Station
    params: tuple[str, ...]
    t: np.ndarray  # float seconds since epoch, UTC
    values: np.ndarray  # (n_params, n_t)
    flags: np.ndarray  # (n_params, n_t) uint8 index into FLAG_CODES
    present: np.ndarray  # (n_t,) bool

    def series(self, param: str) -> tuple[np.ndarray, np.ndarray]:
        """(times, values) of one parameter, only instants that exist."""
        i = self.params.index(param)
        return self.t[self.present], self.values[i][self.present]


def grid(scenario: Scenario, medium: str) -> np.ndarray:
    step = scenario.intervals[medium]
    t0 = scenario.start.timestamp()
    first = np.ceil(t0 / step) * step  # sampling instants on the interval's boundaries
    return np.arange(first, scenario.end.timestamp(), step, dtype=float)


def station_params(st: Station) -> tuple[str, ...]:
    if st.medium == "water":
        return water_profile(st).params
    return NOISE_PARAMS if st.medium == "noise" else AIR_PARAMS


def simulate_station(
    st: Station, scenario: Scenario, wx: Weather, events: list[Event]
) -> StationData:
    seed = scenario.seed
    t = grid(scenario, st.medium)
    if st.medium == "water":
        prof = water_profile(st)
        true = water_env(st, prof, t, wx, seed)
    elif st.medium == "noise":
        true = noise_env(st, t, wx, seed)
    else:
        true = air_env(st, t, wx, seed)
    params = tuple(true)
    mine = [e for e in events if st.id in e.targets]
    base = {p: v.copy() for p, v in true.items()}
    deltas: list[dict[str, np.ndarray]] = []
    for ev in mine:
        before = {p: v.copy() for p, v in true.items()}
        ev.env(st.id, t, true)
        deltas.append({p: true[p] - before[p] for p in params})
    g = rng(seed, "instrument", st.id)
    meas = {p: measure_raw(p, true[p], g, t) for p in params}
    # Wet-chemistry analysers at river and lake stations report the last cycle's result
    # (noise included) until the next one; the logger repeats it at every interval.
    cycle = scenario.wet_chem_cycle_minutes * 60
    held = set()
    phase = float(key("phase", st.id) % max(int(cycle), 1))
    if st.medium == "water" and not st.is_outfall and cycle > scenario.intervals["water"]:
        held = {p for p in params if p in WET_CHEM}
        for p in held:
            meas[p] = hold(t, meas[p], cycle, phase)
            base[p] = hold(t, base[p], cycle, phase)
    flags = {p: np.zeros(len(t), dtype=np.uint8) for p in params}
    # Sporadic lost records (a logger reboot, a corrupted frame): about 0.3 % of instants at
    # every station, in no ground truth — a single gap is not an outage.
    present = g.random(len(t)) > 0.003
    for ev in mine:
        ev.instr(st.id, t, meas, flags, present)
    # What the truth says a station saw is what it recorded: a plume that passes while the
    # station has no power (or between lost records) is not in its data, and its arrival
    # there is the first recorded sample that holds it.
    for ev, d in zip(mine, deltas, strict=True):
        if held:
            d = {p: (hold(t, x, cycle, phase) if p in held else x) for p, x in d.items()}
        ev.observe(st.id, t, {p: np.where(present, x, 0.0) for p, x in d.items()}, base)
    pt = load_parameters()
    values = np.empty((len(params), len(t)))
    fl = np.empty((len(params), len(t)), dtype=np.uint8)
    for i, p in enumerate(params):
        v = meas[p]
        par = pt.get(p)
        if par is not None:
            over = v > par.range_max
            flags[p][over & (flags[p] == 0)] = FLAG_CODES.index("T")  # saturated analyser
            v = np.clip(
                v,
                par.range_min if p in ("flow", "level", "temp") else max(par.range_min, 0.0),
                par.range_max,
            )
        values[i] = np.round(v, NOISE[p][2])
        fl[i] = flags[p]
    if st.medium == "noise":
        # One meter measures both: the maximum of an interval is never below its Leq.
        values[1] = np.maximum(values[1], values[0])
    if st.is_outfall and "flow" in params:
        i = params.index("flow")
        values[i] = np.maximum(values[i], 0.0)  # a pipe does not run backwards
    return StationData(st, params, t, values, fl, present)


def measure_raw(p: str, true: np.ndarray, g: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Noise without clipping yet: faults act on the raw signal, the range comes last.

    Real probe noise is not white: part of it wanders over hours (temperature
    compensation, bubbles, light), so a quarter of the variance is a slow component.
    """
    white = g.standard_normal(len(true))
    slow = smooth_noise(g, t, 7200, 0.5) if len(t) > 1 else 0.0
    return true + noise_sd(p, true) * (0.87 * white + 0.5 * slow)


class Simulation:
    """Readings and ground truth of one scenario run.

    ``readings()`` streams :class:`~envmon.reading.Reading` in nondecreasing time order
    across all stations; ``truth`` is the list of ground-truth events (DESIGN.md format plus
    ``arrivals``, ``signature`` and type-specific keys).

    >>> from envmon.stations import load_registry
    >>> from firmware_sim.scenario import load_scenario
    >>> sim = generate(load_scenario("demo-night"), load_registry(), stations=["TZ_TOWN"])
    >>> sim.n_readings > 700, sim.truth[0]["stations"]
    (True, ['TZ_TOWN'])
    """

    def __init__(
        self,
        scenario: Scenario,
        registry: Registry,
        weather: Weather,
        events: list[Event],
        data: dict[str, StationData],
    ):
        self.scenario = scenario
        self.registry = registry
        self.weather = weather
        self.events = events
        self.data = data
        self.truth = [e.truth() for e in sorted(events, key=lambda e: (e.start, e.id)) if e.visible]
        self.unseen = [e.id for e in events if not e.visible]
        self._ids = list(data)

    @property
    def n_readings(self) -> int:
        return int(sum(d.present.sum() * len(d.params) for d in self.data.values()))

    def chunks(self, hours: float = 6.0) -> Iterator[tuple[np.ndarray, ...]]:
        """Time-sorted blocks: (t, station index, param index, value, flag index)."""
        t0 = self.scenario.start.timestamp()
        t1 = self.scenario.end.timestamp()
        step = hours * 3600
        a = t0
        while a < t1:
            b = min(a + step, t1)
            ts, si, pi, vs, fs = [], [], [], [], []
            for k, sid in enumerate(self._ids):
                d = self.data[sid]
                i0, i1 = np.searchsorted(d.t, [a, b])
                if i1 <= i0:
                    continue
                keep = d.present[i0:i1]
                tt = d.t[i0:i1][keep]
                n_p = len(d.params)
                ts.append(np.repeat(tt, n_p))
                si.append(np.full(len(tt) * n_p, k, dtype=np.int32))
                pi.append(
                    np.tile(np.array([PARAM_INDEX[p] for p in d.params], dtype=np.int16), len(tt))
                )
                vs.append(d.values[:, i0:i1][:, keep].T.ravel())
                fs.append(d.flags[:, i0:i1][:, keep].T.ravel())
            a = b
            if not ts:
                continue
            t_all = np.concatenate(ts)
            order = np.argsort(t_all, kind="stable")
            yield (
                t_all[order],
                np.concatenate(si)[order],
                np.concatenate(pi)[order],
                np.concatenate(vs)[order],
                np.concatenate(fs)[order],
            )

    def readings(self) -> Iterator[Reading]:
        cache: dict[float, datetime] = {}
        ids = self._ids
        for t, si, pi, v, f in self.chunks():
            for tt, s, p, val, fl in zip(
                t.tolist(), si.tolist(), pi.tolist(), v.tolist(), f.tolist(), strict=True
            ):
                dt = cache.get(tt)
                if dt is None:
                    dt = cache[tt] = datetime.fromtimestamp(tt, UTC)
                    if len(cache) > 100_000:
                        cache.clear()
                yield Reading(ids[s], dt, PARAM_NAMES[p], val, FLAG_CODES[fl])

    def csv_lines(self) -> Iterator[list[str]]:
        """Blocks of CSV lines (without the header), time-ordered."""
        ids = self._ids
        decimals = [NOISE[p][2] for p in PARAM_NAMES]
        fmts = [f"{{:.{d}f}}" for d in decimals]
        cache: dict[float, str] = {}
        for t, si, pi, v, f in self.chunks():
            vstr = np.empty(len(v), dtype=object)
            for p in np.unique(pi):
                m = pi == p
                fmt = fmts[p]
                vstr[m] = [fmt.format(x) for x in v[m].tolist()]
            lines = []
            for tt, s, p, vv, fl in zip(
                t.tolist(), si.tolist(), pi.tolist(), vstr.tolist(), f.tolist(), strict=True
            ):
                ts = cache.get(tt)
                if ts is None:
                    ts = cache[tt] = format_time(datetime.fromtimestamp(tt, UTC))
                lines.append(f"{ts},{ids[s]},{PARAM_NAMES[p]},{vv},{FLAG_CODES[fl]}\n")
            yield lines

    def write_csv(self, path: str | Path, progress: Callable[[int], None] | None = None) -> int:
        n = 0
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write("time,station,parameter,value,flag\n")
            for lines in self.csv_lines():
                f.writelines(lines)
                n += len(lines)
                if progress:
                    progress(len(lines))
        return n

    def write_truth(self, path: str | Path) -> int:
        with open(path, "w", encoding="utf-8") as f:
            for e in self.truth:
                f.write(json.dumps(e, ensure_ascii=False, sort_keys=False) + "\n")
        return len(self.truth)

    def instants(self) -> Iterator[tuple[float, str, dict[str, float], dict[str, str]]]:
        """(time, station, values, flags) per station per sampling instant, time-ordered:
        what a node puts in one MQTT v1 payload."""
        ids = self._ids
        for t, si, pi, v, f in self.chunks():
            order = np.lexsort((si, t))
            t, si, pi, v, f = t[order], si[order], pi[order], v[order], f[order]
            brk = np.nonzero((np.diff(t) != 0) | (np.diff(si) != 0))[0] + 1
            starts = np.concatenate([[0], brk])
            ends = np.concatenate([brk, [len(t)]])
            tl, sl, pl, vl, fl = t.tolist(), si.tolist(), pi.tolist(), v.tolist(), f.tolist()
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
                vals = {PARAM_NAMES[pl[i]]: vl[i] for i in range(a, b)}
                flags = {PARAM_NAMES[pl[i]]: FLAG_CODES[fl[i]] for i in range(a, b)}
                yield tl[a], ids[sl[a]], vals, flags


def generate(
    scenario: Scenario,
    registry: Registry,
    *,
    seed: int | None = None,
    include: Callable[[Event], bool] | None = None,
    stations: Iterable[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Simulation:
    """Simulate ``scenario`` on ``registry``.

    ``seed`` overrides the scenario's; ``include`` keeps only some planned events (tests
    compare a run with and without an event: the noise is the same, so the difference is
    the event); ``stations`` restricts the output to some stations (events are planned on
    the whole network either way).
    """
    if seed is not None:
        scenario = dataclasses.replace(scenario, seed=seed)
    if scenario.synthetic:
        from firmware_sim.synthetic import extend_registry

        registry = extend_registry(
            registry, scenario.synthetic, scenario.seed, scenario.hj212_share
        )
    wx = Weather(scenario)
    events = plan_events(scenario, registry, wx)
    if include is not None:
        events = [e for e in events if include(e)]
    wanted = set(stations) if stations is not None else None
    data: dict[str, StationData] = {}
    for sid, st in registry.items():
        if wanted is not None and sid not in wanted:
            continue
        data[sid] = simulate_station(st, scenario, wx, events)
        if progress:
            progress(1)
    return Simulation(scenario, registry, wx, events, data)
