"""Scenarios: what to simulate, read from TOML in ``seeds/scenarios/``.

A scenario fixes the period, the seed, the sampling intervals, how much weather and how many
random events of each type, and any scripted events (exact time, place and size). The same
scenario with the same seed always gives the same readings and the same ground truth.

>>> sc = load_scenario("demo-night")
>>> sc.name, sc.seed, sc.hours, sc.live_from.isoformat()
('demo-night', 20260714, 30.0, '2026-07-14T14:00:00+00:00')
>>> sc.scripted[0].type, sc.scripted[0].station
('illegal_discharge', 'OF_TZ_RAIN')
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envmon.paths import SCENARIOS_DIR
from envmon.timeutil import parse_time

EVENT_TYPES = (
    "illegal_discharge",
    "dry_weather_flow",
    "sensor_fault",
    "noise_night_burst",
    "noise_exceedance",
    "air_episode",
    "station_offline",
)
HARD_KINDS = ("small_discharge", "discharge_in_rain", "fault_mimic", "overlap", "offset")
# Sampling intervals in seconds when a scenario does not say: online water probes report
# every 5 min (the data logger's minute/5-minute records), sound level meters give a 1-min
# Leq, ambient analysers a 5-min mean.
DEFAULT_INTERVALS = {"water": 300, "noise": 60, "air": 300}


class ScenarioError(ValueError):
    """A scenario file that breaks the format; the message names the file and key."""


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One scripted event: type, where, when, how long, and type-specific options.

    >>> e = EventSpec("sensor_fault", "TZ_TOWN", parse_time("2026-07-01T00:00:00Z"), 60.0,
    ...               {"fault": "stuck", "parameter": "do"})
    >>> e.options["fault"]
    'stuck'
    """

    type: str
    station: str | None
    start: datetime
    duration_minutes: float
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A simulation run: period, seed, sampling, weather, random and scripted events.

    >>> sc = Scenario(name="t", seed=1, start=parse_time("2026-07-01T00:00:00Z"),
    ...               end=parse_time("2026-07-01T01:00:00Z"))
    >>> sc.hours, sc.intervals["water"]
    (1.0, 300)
    """

    name: str
    seed: int
    start: datetime
    end: datetime
    description: str = ""
    intervals: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_INTERVALS))
    # Wet-chemistry analysers (CODMn, NH3-N, TP, TN) at river/lake stations measure once per
    # cycle and the logger repeats the last result in between, as in the field.
    wet_chem_cycle_minutes: float = 60.0
    # weather: rain storms per day (Poisson), air episodes are events
    rain_per_day: float = 0.25
    rain_scripted: tuple[tuple[datetime, float, float], ...] = ()  # (start, hours, peak mm/h)
    random_events: dict[str, int] = field(default_factory=dict)
    # hard cases on top of the random events: small discharges, discharges during rain,
    # faults that mimic pollution, pairs of overlapping events
    hard_events: dict[str, int] = field(default_factory=dict)
    scripted: tuple[EventSpec, ...] = ()
    stations_file: str | None = None
    synthetic: dict[str, int] = field(default_factory=dict)  # stress: extra stations per medium
    hj212_share: float = 0.0  # share of stations that speak HJ 212 instead of MQTT
    queue_capacity: int = 5000  # store-and-forward capacity per node (messages)
    path: str | None = None
    # Live runs: samples before this time are already on the nodes' disks when the run
    # starts (yesterday, kept by store-and-forward) and go out as backfill batches at once;
    # the rest is sampled in (accelerated) real time. None: everything live.
    live_from: datetime | None = None

    def __post_init__(self) -> None:
        for t in (self.start, self.end):
            if t.tzinfo is None:
                raise ScenarioError(f"scenario {self.name!r}: times must carry an offset")
        if self.end <= self.start:
            raise ScenarioError(f"scenario {self.name!r}: end {self.end} is not after start")
        if self.live_from is not None and not self.start <= self.live_from < self.end:
            raise ScenarioError(f"scenario {self.name!r}: live_from {self.live_from} is not within start..end")
        for medium, sec in self.intervals.items():
            if medium not in DEFAULT_INTERVALS or not isinstance(sec, int) or sec <= 0:
                raise ScenarioError(
                    f"scenario {self.name!r}: key 'sampling.{medium}' has bad value {sec!r}"
                )
        for key in self.random_events:
            if key not in EVENT_TYPES:
                raise ScenarioError(f"scenario {self.name!r}: unknown event type {key!r}")
        for key in self.hard_events:
            if key not in HARD_KINDS:
                raise ScenarioError(
                    f"scenario {self.name!r}: unknown hard case {key!r} "
                    f"(allowed: {', '.join(HARD_KINDS)})"
                )
        for e in self.scripted:
            if e.type not in EVENT_TYPES:
                raise ScenarioError(f"scenario {self.name!r}: unknown event type {e.type!r}")

    @property
    def events(self) -> tuple[EventSpec, ...]:
        """The scripted events (random ones are drawn by the planner from ``seed``)."""
        return self.scripted

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0


def _time(value: object, where: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ScenarioError(f"{where}: time {value} has no UTC offset")
        return value.astimezone(UTC)
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError as err:
            raise ScenarioError(f"{where}: {err}") from err
    raise ScenarioError(f"{where}: bad time {value!r}")


def resolve(name_or_path: str | Path) -> Path:
    """A scenario name (``month``) or a path to a TOML file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    return SCENARIOS_DIR / f"{name_or_path}.toml"


def load_scenario(name_or_path: str | Path) -> Scenario:
    path = resolve(name_or_path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError as err:
        known = ", ".join(sorted(p.stem for p in SCENARIOS_DIR.glob("*.toml")))
        raise ScenarioError(f"scenario {name_or_path!r} not found (known: {known})") from err
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{path}: not valid TOML: {err}") from err
    where = str(path)
    try:
        events = []
        for i, e in enumerate(raw.get("event", [])):
            opts = {
                k: v
                for k, v in e.items()
                if k not in ("type", "station", "start", "duration_minutes")
            }
            events.append(
                EventSpec(
                    type=e["type"],
                    station=e.get("station"),
                    start=_time(e["start"], f"{where}: event #{i + 1} key 'start'"),
                    duration_minutes=float(e.get("duration_minutes", 60)),
                    options=opts,
                )
            )
        weather = raw.get("weather", {})
        rains = tuple(
            (_time(r["start"], f"{where}: weather.rain"), float(r["hours"]), float(r["peak_mm_h"]))
            for r in weather.get("rain", [])
        )
        intervals = dict(DEFAULT_INTERVALS)
        intervals.update(raw.get("sampling", {}).get("intervals", {}))
        return Scenario(
            name=raw.get("name", path.stem),
            seed=int(raw["seed"]),
            start=_time(raw["start"], f"{where}: key 'start'"),
            end=_time(raw["end"], f"{where}: key 'end'"),
            description=raw.get("description", ""),
            intervals=intervals,
            wet_chem_cycle_minutes=float(raw.get("sampling", {}).get("wet_chem_cycle_minutes", 60)),
            rain_per_day=float(weather.get("storms_per_day", 0.25)),
            rain_scripted=rains,
            random_events={k: int(v) for k, v in raw.get("random_events", {}).items()},
            hard_events={k: int(v) for k, v in raw.get("hard", {}).items()},
            scripted=tuple(events),
            stations_file=raw.get("stations_file"),
            synthetic={k: int(v) for k, v in raw.get("synthetic", {}).items()},
            hj212_share=float(raw.get("firmware", {}).get("hj212_share", 0.0)),
            live_from=_time(raw["live_from"], f"{where}: key 'live_from'") if "live_from" in raw else None,
            queue_capacity=int(raw.get("firmware", {}).get("queue_capacity", 5000)),
            path=str(path),
        )
    except KeyError as err:
        raise ScenarioError(f"{where}: missing required key {err}") from err


def for_network(sc: Scenario, registry: Mapping[str, object]) -> tuple[Scenario, list[str]]:
    """The scenario for this network, and the stations of scripted events left out. A
    scenario's scripted events name stations of the network it was written for; on another
    network (``--stations``) they are left out, and the random and hard events, drawn from the
    registry given, make the month.

    >>> from envmon.paths import ROOT
    >>> from envmon.stations import load_registry
    >>> reg = load_registry(ROOT / "tests/data/networks/plain_county.toml")
    >>> sc, left_out = for_network(load_scenario("month"), reg)
    >>> sc.scripted, left_out
    ((), ['OF_LX_IND'])
    """
    foreign = [e for e in sc.scripted if e.station is not None and e.station not in registry]
    if foreign:
        sc = replace(sc, scripted=tuple(e for e in sc.scripted if e not in foreign))
    return sc, sorted({str(e.station) for e in foreign})
