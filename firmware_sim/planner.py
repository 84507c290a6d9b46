"""Turn a scenario into concrete events: scripted ones as written, random ones drawn.

Random events follow what the field sees: illegal discharges mostly at night, sizes from
barely detectable to gross; dry-weather flow at rain outfalls only after dry days; faults
of the kinds online stations really have; construction noise at night; regional episodes.

>>> from envmon.stations import load_registry
>>> from firmware_sim.scenario import load_scenario
>>> from firmware_sim.weather import Weather
>>> sc = load_scenario("demo-night")
>>> evs = plan_events(sc, load_registry(), Weather(sc))
>>> [(e.type, e.source, e.targets[:3]) for e in evs]
[('illegal_discharge', 'OF_TZ_RAIN', ('OF_TZ_RAIN', 'TZ_TOWN', 'XT_TOWN'))]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envmon.params import RAIN_MM_H
from envmon.stations import Registry
from firmware_sim.common import DAY_S, cst_hour, rng
from firmware_sim.events import (
    AirEpisode,
    Discharge,
    Event,
    NoiseSource,
    Outage,
    SensorFault,
    smooth_pieces,
)
from firmware_sim.physics import AIR_PARAMS, NOISE_PARAMS, water_profile
from firmware_sim.scenario import EventSpec, Scenario, ScenarioError
from firmware_sim.weather import Weather

NOISE_LIMITS = {
    "0": (50, 40),
    "1": (55, 45),
    "2": (60, 50),
    "3": (65, 55),
    "4a": (70, 55),
    "4b": (70, 60),
}
FAULTS = ("drift", "biofouling", "stuck", "spikes", "dropouts", "calibration")
FAULT_PARAMS = {
    "drift": ("nh3n", "ph", "do", "cond"),
    "biofouling": ("do", "turb", "cond"),
    "stuck": ("do", "cond", "ph", "turb", "nh3n", "laeq", "pm25"),
    "spikes": ("turb", "cond", "cod", "nh3n", "pm10", "laeq"),
    "dropouts": ("*",),
    "calibration": ("ph", "cond", "nh3n", "cod", "do"),
}
DRIFT_PER_WEEK = {"nh3n": 0.6, "ph": -0.4, "do": -1.5, "cond": 80.0}
# Offsets (a probe's reading shifted and staying shifted): the shift, as a share of the
# station's usual level (cond, COD) or in the parameter's units (NH3-N, DO, pH), and the
# chance that it goes the way pollution would (markers up, DO down).
OFFSETS: dict[str, tuple[str, float, float, float]] = {
    "nh3n": ("abs", 0.4, 2.5, 0.75),
    "cond": ("rel", 0.15, 0.4, 0.6),
    "cod": ("rel", 0.3, 1.0, 0.75),
    "do": ("abs", 1.0, 3.0, 0.75),
    "ph": ("abs", 0.4, 1.0, 0.5),
}


class Planner:
    """Draws the events of one scenario from its own seeded stream.

    >>> from envmon.stations import load_registry
    >>> from firmware_sim.scenario import load_scenario
    >>> sc = load_scenario("demo-night")
    >>> Planner(sc, load_registry(), Weather(sc)).next_id("sensor_fault")
    'demo-night-0001-sensor_fault'
    """

    def __init__(self, scenario: Scenario, reg: Registry, wx: Weather):
        self.sc = scenario
        self.reg = reg
        self.wx = wx
        self.g = rng(scenario.seed, "planner")
        self.t0 = scenario.start.timestamp()
        self.t1 = scenario.end.timestamp()
        self.events: list[Event] = []
        self.water = [s for s in reg.by_medium("water")]
        self.outfalls = [s for s in self.water if s.is_outfall]
        self.rivers = [s for s in self.water if not s.is_outfall and s.downstream]

    def next_id(self, kind: str) -> str:
        return f"{self.sc.name}-{len(self.events) + 1:04d}-{kind}"

    def add(self, ev: Event) -> Event:
        self.events.append(ev)
        return ev

    # ---- building blocks ---------------------------------------------------------------

    def discharge(
        self,
        point: str,
        start: float,
        minutes: float,
        *,
        signature: str,
        flow_l_s: float,
        strength: float = 1.0,
        fraction: float = 0.5,
        irregular: bool = True,
        kind: str = "illegal_discharge",
        extra: dict[str, Any] | None = None,
    ) -> Discharge:
        st = self.reg[point]
        end = start + minutes * 60
        pieces = (
            smooth_pieces(self.g, start, end, diurnal=kind == "dry_weather_flow")
            if irregular
            else [(start, end, 1.0)]
        )
        ex: dict[str, Any] = {"signature_type": signature, "flow_l_s": round(flow_l_s, 1)}
        if not st.is_outfall:
            ex["segment"] = f"{st.id}..{st.downstream}"
        if kind == "illegal_discharge" and self.wx.raining(start, end, RAIN_MM_H):
            # Whether it rained while it lasted, scripted that way or not: a breakdown by
            # setting must not file sewage let into a storm's flow under dry weather.
            ex["raining"] = True
        ex.update(extra or {})
        ev = Discharge(
            id=self.next_id(kind),
            type=kind,
            start=start,
            end=end,
            source=st.id if st.is_outfall else None,
            targets=(),
            extra=ex,
            signature=signature,
            flow_l_s=flow_l_s,
            strength=strength,
            pieces=pieces,
        )
        ev.setup(self.reg, point, fraction)
        return ev  # type: ignore[return-value]

    def fault(
        self,
        sid: str,
        start: float,
        minutes: float,
        fault: str,
        param: str,
        magnitude: float = 1.0,
        extra: dict[str, Any] | None = None,
    ) -> SensorFault:
        ex = {"fault": fault, **(extra or {})}
        params: tuple[str, ...] = () if fault == "dropouts" else (param,)
        if fault == "sediment_ingress":
            params = tuple(p for p in ("turb", "tp", "codmn", "cod") if p in self._params(sid))
        return SensorFault(
            id=self.next_id("sensor_fault"),
            type="sensor_fault",
            start=start,
            end=start + minutes * 60,
            source=None,
            targets=(sid,),
            parameters=params,
            extra=ex,
            declared=True,
            fault=fault,
            param=param,
            magnitude=magnitude,
            seed=int(self.g.integers(2**31)),
        )

    def _params(self, sid: str) -> tuple[str, ...]:
        st = self.reg[sid]
        if st.medium == "water":
            return water_profile(st).params
        return NOISE_PARAMS if st.medium == "noise" else AIR_PARAMS

    def night_start(self, share_night: float = 0.75) -> float:
        """A start time, at night (22:00–05:00 CST) with probability ``share_night``."""
        want_night = bool(self.g.random() < share_night)
        for _ in range(500):
            t = float(self.g.uniform(self.t0, self.t1 - 3600))
            h = cst_hour(np.array([t]))[0]
            if (h >= 22 or h < 5) == want_night:
                return t
        return float(self.g.uniform(self.t0, self.t1 - 3600))

    # ---- scripted ----------------------------------------------------------------------

    def scripted(self, e: EventSpec) -> None:
        o = e.options
        start = e.start.timestamp()
        if e.station is not None and e.station not in self.reg:
            raise ScenarioError(
                f"scenario {self.sc.name!r}: event at unknown station {e.station!r}"
            )
        if e.type in ("illegal_discharge", "dry_weather_flow"):
            if e.station is None:
                raise ScenarioError(f"scenario {self.sc.name!r}: {e.type} needs a station")
            sig = o.get("signature", "sewage" if e.type == "illegal_discharge" else "misconnection")
            self.add(
                self.discharge(
                    e.station,
                    start,
                    e.duration_minutes,
                    signature=sig,
                    flow_l_s=float(o.get("flow_l_s", 50)),
                    strength=float(o.get("strength", 1.0)),
                    fraction=float(o.get("fraction", 0.5)),
                    irregular=bool(o.get("irregular", False)),
                    kind=e.type,
                )
            )
        elif e.type == "sensor_fault":
            self.add(
                self.fault(
                    e.station or "",
                    start,
                    e.duration_minutes,
                    o.get("fault", "drift"),
                    o.get("parameter", "do"),
                    float(o.get("magnitude", 1.0)),
                )
            )
        elif e.type == "station_offline":
            self.add(
                Outage(
                    id=self.next_id("station_offline"),
                    type="station_offline",
                    start=start,
                    end=start + e.duration_minutes * 60,
                    source=None,
                    targets=(e.station or "",),
                    declared=True,
                    extra={"cause": o.get("cause", "power")},
                    cause=o.get("cause", "power"),
                )
            )
        elif e.type in ("noise_night_burst", "noise_exceedance"):
            self.add(
                self._noise(
                    e.type,
                    e.station or "",
                    start,
                    e.duration_minutes,
                    float(o["level"]) if "level" in o else None,
                )
            )
        elif e.type == "air_episode":
            self.add(
                self._episode(
                    start, e.duration_minutes, o.get("kind", "haze"), float(o.get("factor", 2.5))
                )
            )

    # ---- random ------------------------------------------------------------------------

    def random_discharge(
        self, small: bool = False, start: float | None = None, outfall: bool = False
    ) -> Discharge:
        g = self.g
        # 80 % through outfalls, 20 % through hidden pipes on a reach (a hidden pipe into a
        # big river can be invisible: such events are dropped from the truth, see engine).
        if g.random() < 0.8 or outfall or not self.rivers:
            src = self.outfalls[g.integers(len(self.outfalls))]
            point = src.id
            sig = "industrial" if src.outfall_type == "industrial" or g.random() < 0.3 else "sewage"
        else:
            point = self.rivers[g.integers(len(self.rivers))].id
            sig = "sewage" if g.random() < 0.6 else "industrial"
        start = self.night_start() if start is None else start
        minutes = float(np.clip(g.lognormal(np.log(60), 0.6), 20, 300))
        # Sizes: lognormal from a few L/s (a hose, barely detectable) to 200 L/s (gross).
        flow = float(np.clip(g.lognormal(np.log(30), 0.9), 4, 220))
        strength = float(np.clip(g.lognormal(0, 0.35), 0.4, 2.0))
        if small:
            flow = float(g.uniform(2.0, 6.0))
            strength = float(g.uniform(0.4, 0.8))
        return self.discharge(
            point,
            start,
            minutes,
            signature=sig,
            flow_l_s=flow,
            strength=strength,
            fraction=float(g.uniform(0.2, 0.8)),
            extra={"hard": "small_discharge"} if small else None,
        )

    def random_dry_weather(self) -> Discharge | None:
        g = self.g
        rains = [s for s in self.outfalls if s.outfall_type == "rain"]
        if not rains:
            return None
        for _ in range(100):
            st = rains[g.integers(len(rains))]
            start = float(g.uniform(self.t0, self.t1 - 3 * 3600))
            minutes = float(g.uniform(180, 24 * 60))
            if self.wx.dry_hours_before(start) >= 24 and not self.wx.raining(
                start, start + minutes * 60
            ):
                return self.discharge(
                    st.id,
                    start,
                    minutes,
                    signature="misconnection",
                    flow_l_s=float(g.uniform(3, 25)),
                    kind="dry_weather_flow",
                    extra={"dry_hours_before": round(min(self.wx.dry_hours_before(start), 999), 1)},
                )
        return None

    def random_fault(self, fault: str | None = None) -> SensorFault:
        g = self.g
        fault = fault or FAULTS[g.integers(len(FAULTS))]
        for _ in range(100):
            sid = list(self.reg)[g.integers(len(self.reg))]
            params = self._params(sid)
            cands = [p for p in FAULT_PARAMS[fault] if p in params or p == "*"]
            if cands:
                break
        param = cands[g.integers(len(cands))]
        if param == "*":
            param = params[0]
        minutes = {
            "drift": g.uniform(3, 12) * 1440,
            "biofouling": g.uniform(5, 14) * 1440,
            "stuck": g.uniform(2, 30) * 60,
            "spikes": g.uniform(1, 8) * 60,
            "dropouts": g.uniform(1, 12) * 60,
            "calibration": g.uniform(30, 90),
        }[fault]
        minutes = float(min(minutes, max((self.t1 - self.t0) / 60 - 60, 30)))
        start = float(g.uniform(self.t0, max(self.t0, self.t1 - minutes * 60)))
        mag = 1.0
        if fault == "drift":
            mag = DRIFT_PER_WEEK[param] * minutes / (7 * 1440) * float(g.uniform(0.6, 1.5))
        if fault == "calibration":  # maintenance visits happen in working hours
            day0 = start - (start + 8 * 3600) % DAY_S
            start = day0 + float(g.uniform(9, 16)) * 3600
            start = min(max(start, self.t0), self.t1 - minutes * 60)
        return self.fault(sid, start, minutes, fault, param, mag)

    def random_offset(self) -> SensorFault:
        """A water probe's reading shifted for half a day to three (until a maintenance visit):
        a jump in one parameter, nothing else moving and nothing travelling downstream."""
        g = self.g
        cands = [(s, p) for s in self.water for p in OFFSETS if p in water_profile(s).params]
        st, param = cands[g.integers(len(cands))]
        kind, lo, hi, polluting = OFFSETS[param]
        size = float(g.uniform(lo, hi)) * (water_profile(st).base.get(param, 1.0) if kind == "rel" else 1.0)
        toward = (g.random() < polluting) != (param == "do")  # DO falls where wastewater comes in
        minutes = float(g.uniform(12, 72) * 60)
        start = float(g.uniform(self.t0, max(self.t0, self.t1 - minutes * 60)))
        shift = size if toward else -size
        ev = self.fault(st.id, start, minutes, "offset", param, shift, extra={"shift": round(shift, 3)})
        ev.extra["hard"] = "fault_mimic"
        return ev

    def random_outage(self) -> Outage:
        g = self.g
        sid = list(self.reg)[g.integers(len(self.reg))]
        cause = "power" if g.random() < 0.5 else "link"
        minutes = float(np.clip(g.lognormal(np.log(90), 1.0), 15, 36 * 60))
        start = float(g.uniform(self.t0, max(self.t0, self.t1 - minutes * 60)))
        return Outage(
            id=self.next_id("station_offline"),
            type="station_offline",
            start=start,
            end=start + minutes * 60,
            source=None,
            targets=(sid,),
            declared=True,
            extra={"cause": cause},
            cause=cause,
        )

    def _noise(
        self, kind: str, sid: str, start: float, minutes: float, level: float | None = None
    ) -> NoiseSource:
        g = self.g
        day_lim, night_lim = NOISE_LIMITS[self.reg[sid].zone or "2"]
        if kind == "noise_night_burst":
            # Night piling/concrete pouring: Leq at the receiver 5–20 dB over the night limit,
            # strongly impulsive (Lmax 10–20 dB above its Leq).
            lv = level if level is not None else night_lim + float(g.uniform(3, 18))
            return NoiseSource(
                id=self.next_id(kind),
                type=kind,
                start=start,
                end=start + minutes * 60,
                source=None,
                targets=(sid,),
                parameters=("laeq", "lmax"),
                extra={"source_leq": round(lv, 1)},
                level=lv,
                impulsive=float(g.uniform(10, 20)),
                duty=float(g.uniform(0.5, 0.95)),
                seed=int(g.integers(2**31)),
            )
        lv = level if level is not None else day_lim + float(g.uniform(1, 8))
        return NoiseSource(
            id=self.next_id(kind),
            type=kind,
            start=start,
            end=start + minutes * 60,
            source=None,
            targets=(sid,),
            parameters=("laeq",),
            extra={"source_leq": round(lv, 1)},
            level=lv,
            impulsive=4.0,
            duty=0.97,
            seed=int(g.integers(2**31)),
        )

    def random_noise(self, kind: str) -> NoiseSource | None:
        g = self.g
        stations = self.reg.by_medium("noise")
        if not stations:
            return None
        sid = stations[g.integers(len(stations))].id
        if kind == "noise_night_burst":
            day0 = self.g.uniform(self.t0, self.t1)
            day0 = day0 - (day0 + 8 * 3600) % DAY_S
            start = day0 + float(g.choice([22, 23, 24, 25, 26])) * 3600 + float(g.uniform(0, 3600))
            minutes = float(g.uniform(40, 240))
        else:
            day0 = self.g.uniform(self.t0, self.t1)
            day0 = day0 - (day0 + 8 * 3600) % DAY_S
            start = day0 + float(g.uniform(7, 14)) * 3600
            minutes = float(g.uniform(120, 480))
        start = min(max(start, self.t0), self.t1 - 600)
        minutes = min(minutes, (self.t1 - start) / 60)
        return self._noise(kind, sid, start, minutes)

    def _episode(self, start: float, minutes: float, kind: str, factor: float) -> AirEpisode:
        g = self.g
        offsets = {
            s.id: (float(g.uniform(-5400, 5400)), float(g.uniform(0.85, 1.15)))
            for s in self.reg.by_medium("air")
        }
        return AirEpisode(
            id=self.next_id("air_episode"),
            type="air_episode",
            start=start,
            end=start + minutes * 60,
            source=None,
            targets=tuple(offsets),
            parameters=(),
            extra={"episode": kind, "factor": round(factor, 2)},
            kind=kind,
            factor=factor,
            offsets=offsets,
        )

    def random_episode(self) -> AirEpisode:
        g = self.g
        doy = (self.t0 / DAY_S) % 365.25
        summer = 120 < doy < 270
        kind = "ozone" if summer and g.random() < 0.6 else "haze"
        minutes = float(g.uniform(1, 3) * 1440)
        start = float(g.uniform(self.t0, max(self.t0, self.t1 - minutes * 60)))
        factor = float(g.uniform(1.8, 3.5)) if kind == "haze" else float(g.uniform(1.25, 1.6))
        return self._episode(start, minutes, kind, factor)

    def plan(self) -> list[Event]:
        for e in self.sc.scripted:
            self.scripted(e)
        for kind, n in self.sc.random_events.items():
            for _ in range(n):
                ev: Event | None
                if kind == "illegal_discharge":
                    ev = self.random_discharge()
                elif kind == "dry_weather_flow":
                    ev = self.random_dry_weather()
                elif kind == "sensor_fault":
                    ev = self.random_fault()
                elif kind == "station_offline":
                    ev = self.random_outage()
                elif kind in ("noise_night_burst", "noise_exceedance"):
                    ev = self.random_noise(kind)
                else:
                    ev = self.random_episode()
                if ev is not None:
                    self.add(ev)
        self.hard()
        return self.events

    def hard(self) -> None:
        g = self.g
        h = self.sc.hard_events
        ev: Event
        for _ in range(h.get("small_discharge", 0)):
            self.add(self.random_discharge(small=True))
        for _ in range(h.get("discharge_in_rain", 0)):
            storms = [s for s in self.wx.storms if self.t0 < s[0] < self.t1 - 3600]
            if not storms:
                break
            s0, s1, _ = storms[g.integers(len(storms))]
            ev = self.random_discharge(
                start=float(g.uniform(s0, max(s0 + 1, s1 - 1800))), outfall=True
            )
            ev.extra["hard"] = "discharge_in_rain"
            self.add(ev)
        for _ in range(h.get("fault_mimic", 0)):
            # Faults that look like pollution at one station: an NH3-N electrode drifting up,
            # sediment pulled into the intake, a calibration with the 1413 µS/cm standard.
            choice = g.integers(3)
            if choice == 0:
                cands = [s for s in self.water if "nh3n" in water_profile(s).params]
                st = cands[g.integers(len(cands))]
                ev = self.fault(
                    st.id,
                    float(g.uniform(self.t0, max(self.t0, self.t1 - 2 * 86400))),
                    float(g.uniform(2, 6) * 1440),
                    "drift",
                    "nh3n",
                    float(g.uniform(0.8, 2.0)),
                )
            elif choice == 1:
                cands = [s for s in self.water if not s.is_outfall]
                st = cands[g.integers(len(cands))]
                ev = self.fault(
                    st.id,
                    self.night_start(0.6),
                    float(g.uniform(40, 150)),
                    "sediment_ingress",
                    "turb",
                    float(g.uniform(0.8, 2.0)),
                )
            else:
                cands = [s for s in self.water if "cond" in water_profile(s).params]
                st = cands[g.integers(len(cands))]
                ev = self.fault(
                    st.id,
                    float(g.uniform(self.t0, self.t1 - 7200)),
                    float(g.uniform(30, 60)),
                    "calibration",
                    "cond",
                )
            ev.extra["hard"] = "fault_mimic"
            self.add(ev)
        for _ in range(h.get("overlap", 0)):
            # Two discharges from different sources whose plumes meet at a shared station,
            # or a discharge while the downstream station has a fault.
            a = self.random_discharge(outfall=True)
            a.extra["hard"] = "overlap"
            self.add(a)
            river_targets = [s for s in a.targets if not self.reg[s].is_outfall]
            if river_targets and g.random() < 0.5:
                sid = river_targets[0]
                ev = self.fault(
                    sid,
                    a.start + float(g.uniform(-1800, 1800)),
                    float(g.uniform(60, 180)),
                    "spikes",
                    "turb" if "turb" in self._params(sid) else "cond",
                )
            else:
                ev = self.random_discharge(
                    start=a.start + float(g.uniform(-1800, 3600)), outfall=True
                )
            ev.extra["hard"] = "overlap"
            ev.extra["overlaps"] = a.id
            self.add(ev)
        for _ in range(h.get("offset", 0)):
            # Drawn last, so that a seed's other events stay what they were before offsets existed.
            self.add(self.random_offset())


def plan_events(scenario: Scenario, reg: Registry, wx: Weather) -> list[Event]:
    return Planner(scenario, reg, wx).plan()
