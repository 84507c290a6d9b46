"""Events with ground truth: what happens, where, when, and which stations see it.

Each event changes the true environment (:meth:`Event.env`: discharges, noise sources, air
episodes) or the instrument and the link (:meth:`Event.instr`: sensor faults, outages). The
engine tells each event what its change looked like at every station after the analyser
(:meth:`Event.observe`), so the ground truth names exactly the stations and parameters where
the change is at least three times the instrument noise — no more, no less.

>>> ev = Event(id="e1", type="sensor_fault", start=0.0, end=600.0, source=None,
...            targets=("TZ_TOWN",))
>>> ev.truth()["type"]
'sensor_fault'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from envmon.stations import Registry
from envmon.timeutil import format_time
from firmware_sim.common import DAY_S, bump, cst_hour, smooth_noise
from firmware_sim.instrument import NOISE, noise_sd
from firmware_sim.physics import do_saturation, water_profile
from firmware_sim.transport import DECAY_PER_DAY, pulse_response, reach_path

FLAG_CODES = "NFMSDCTB"
FLAG = {c: i for i, c in enumerate(FLAG_CODES)}
SNR_SEEN = 3.0  # a station "sees" a change of at least 3 instrument standard deviations

# Raw wastewater at the pipe (mg/L; cond µS/cm; turb NTU): domestic sewage (§7.1: NH3-N
# 20–40, cond 800–1500), printing-and-dyeing wastewater of the Shengze/Wujiang textile belt
# (alkaline, very high conductivity and COD), and the diluted sewage of a misconnection.
SIGNATURES: dict[str, dict[str, float]] = {
    "sewage": dict(
        cond=1150, cod=380, codmn=75, nh3n=32, tp=4.5, tn=45, turb=150, ph=7.3, dtemp=2.0
    ),
    "industrial": dict(
        cond=5500, cod=1200, codmn=260, nh3n=18, tp=2.5, tn=40, turb=180, ph=10.0, dtemp=8.0
    ),
    "misconnection": dict(
        cond=880, cod=190, codmn=45, nh3n=22, tp=2.6, tn=28, turb=60, ph=7.3, dtemp=1.5
    ),
}


def iso(t: float) -> str:
    return format_time(datetime.fromtimestamp(round(t), UTC))


@dataclass
class Event:
    """Base of all events: identity, period, the stations it may touch, observed effects."""

    id: str
    type: str
    start: float
    end: float
    source: str | None
    targets: tuple[str, ...]
    parameters: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    # filled by the engine: station -> param -> (peak signed change, t_first, t_peak, t_last,
    # t_seen: the first sample where the change is SNR_SEEN instrument SDs)
    seen: dict[str, dict[str, tuple[float, float, float, float, float]]] = field(default_factory=dict)
    declared: bool = False  # faults/outages are true by declaration, not by observed size

    def env(self, sid: str, t: np.ndarray, v: dict[str, np.ndarray]) -> None:
        """Change the true environment at station ``sid`` (in place)."""

    def instr(
        self,
        sid: str,
        t: np.ndarray,
        v: dict[str, np.ndarray],
        flags: dict[str, np.ndarray],
        present: np.ndarray,
    ) -> None:
        """Change what the instrument reports / the logger keeps (in place)."""

    def observe(
        self, sid: str, t: np.ndarray, delta: dict[str, np.ndarray], base: dict[str, np.ndarray]
    ) -> None:
        for p, d in delta.items():
            if p not in NOISE or not np.any(d):
                continue
            sd = noise_sd(p, base[p])
            snr = np.abs(d) / sd
            i = int(np.argmax(snr))
            if snr[i] < SNR_SEEN:
                continue
            above = np.nonzero(np.abs(d) >= 0.1 * abs(d[i]))[0]
            self.seen.setdefault(sid, {})[p] = (
                float(d[i]),
                float(t[above[0]]),
                float(t[i]),
                float(t[above[-1]]),
                float(t[int(np.argmax(snr >= SNR_SEEN))]),
            )

    @property
    def visible(self) -> bool:
        return self.declared or bool(self.seen)

    def stations(self) -> list[str]:
        if self.declared:
            return list(self.targets)
        return [s for s in self.targets if s in self.seen]

    def truth(self) -> dict[str, Any]:
        stations = self.stations()
        params = list(self.parameters)
        end = self.end
        arrivals: dict[str, str] = {}
        signature: dict[str, dict[str, float]] = {}
        seen_at: dict[str, dict[str, str]] = {}
        for s in stations:
            obs = self.seen.get(s, {})
            if obs:
                arrivals[s] = iso(min(o[1] for o in obs.values()))
                end = max(end, max(o[3] for o in obs.values()))
                signature[s] = {p: round(o[0], 4) for p, o in sorted(obs.items())}
                seen_at[s] = {p: iso(o[4]) for p, o in sorted(obs.items())}
                params += [p for p in obs if p not in params]
            else:
                arrivals[s] = iso(self.start)
        d: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "stations": stations,
            "start": iso(self.start),
            "end": iso(end),
            "source": self.source,
            "parameters": params,
            "arrivals": arrivals,
        }
        if signature:
            d["signature"] = signature
            d["seen_at"] = seen_at
        d.update(self.extra)
        return d


@dataclass
class Discharge(Event):
    """A release of wastewater at an outfall or a hidden pipe on a reach, carried downstream.

    ``pieces``: (start s, end s, relative intensity); ``flow_l_s`` at intensity 1.

    >>> from envmon.stations import load_registry
    >>> d = Discharge(id="d", type="illegal_discharge", start=0.0, end=3600.0,
    ...               source="OF_TZ_RAIN", targets=(), flow_l_s=150.0, pieces=[(0.0, 3600.0, 1.0)])
    >>> d.setup(load_registry(), "OF_TZ_RAIN"); d.targets[:3]
    ('OF_TZ_RAIN', 'TZ_TOWN', 'XT_TOWN')
    """

    signature: str = "sewage"
    flow_l_s: float = 50.0
    strength: float = 1.0
    pieces: list[tuple[float, float, float]] = field(default_factory=list)
    path: dict[str, tuple[float, bool, float]] = field(
        default_factory=dict
    )  # sid -> tau, lake, mix
    outfall_flow: float = 0.0

    def setup(self, reg: Registry, point: str, fraction: float = 1.0) -> None:
        stops = reach_path(reg, point, fraction)
        if not stops:
            self.targets = (point,) if reg[point].is_outfall else ()
            return
        q1 = stops[0].flow_l_s
        m1 = self.flow_l_s / (q1 + self.flow_l_s)
        for s in stops:
            self.path[s.station] = (s.tau_min, s.lake, m1 * min(1.0, q1 / max(s.flow_l_s, 1.0)))
        own = (point,) if reg[point].is_outfall else ()
        self.targets = own + tuple(s.station for s in stops)
        self.outfall_flow = water_profile(reg[point]).flow_l_s if own else 0.0

    def _src(self, p: str, base: np.ndarray) -> np.ndarray | float:
        sig = SIGNATURES[self.signature]
        if p == "ph":
            return sig["ph"]
        return base + (sig[p] - base) * self.strength

    def env(self, sid: str, t: np.ndarray, v: dict[str, np.ndarray]) -> None:
        window = (t >= self.start - 3600) & (t <= self.end + 3 * DAY_S)
        if not window.any():
            return
        tw = t[window]
        sig = SIGNATURES[self.signature]
        if sid == self.source:
            y = pulse_response(tw, self.pieces, 0.0, False)
            qe = self.flow_l_s * y
            q = v["flow"][window] if "flow" in v else np.full(len(tw), self.outfall_flow)
            m = qe / (qe + np.maximum(q, 2.0))  # a dry pipe still holds its sump water
            for p in v:
                if p == "flow":
                    v[p][window] = q + qe
                elif p == "level":
                    v[p][window] += 0.5 * (qe / 1000.0) ** 0.6
                elif p == "temp":
                    v[p][window] += m * sig["dtemp"]
                elif p in sig:
                    cur = v[p][window]
                    v[p][window] = cur * (1 - m) + self._src(p, cur) * m
            return
        if sid not in self.path:
            return
        tau, lake, mix = self.path[sid]
        y = pulse_response(tw, self.pieces, tau, lake) * mix
        decay_t = tau / 1440.0
        dcod = y * (sig["cod"] - 16.0) * self.strength * np.exp(-DECAY_PER_DAY["cod"] * decay_t)
        for p in list(v):
            cur = v[p][window]
            if p == "flow":
                v[p][window] = cur + self.flow_l_s * y / max(mix, 1e-12)
            elif p == "do":
                # Mixing in oxygen-free wastewater, then its immediate oxygen demand.
                v[p][window] = np.clip(cur - y * (cur - 0.5) - 0.012 * dcod, 0.2, None)
            elif p == "ph":
                v[p][window] = cur + 0.6 * y * (sig["ph"] - cur)  # buffered by bicarbonate
            elif p == "temp":
                v[p][window] = cur + y * sig["dtemp"]
            elif p in sig:
                k = DECAY_PER_DAY.get(p, 0.0)
                v[p][window] = cur + y * (sig[p] - cur) * self.strength * np.exp(-k * decay_t)


@dataclass
class SensorFault(Event):
    """A fault of one sensor (or of the sampling line): the water is fine, the reading not.

    >>> f = SensorFault(id="f", type="sensor_fault", start=0.0, end=900.0, source=None,
    ...                 targets=("S",), fault="stuck", param="do")
    >>> v = {"do": np.array([5.0, 5.5, 6.0, 6.5])}
    >>> f.instr("S", np.arange(4) * 300.0, v, {"do": np.zeros(4, np.uint8)}, np.ones(4, bool))
    >>> v["do"].tolist()
    [5.0, 5.0, 5.0, 6.5]
    """

    fault: str = "drift"
    param: str = "do"
    magnitude: float = 1.0
    seed: int = 0

    def instr(
        self,
        sid: str,
        t: np.ndarray,
        v: dict[str, np.ndarray],
        flags: dict[str, np.ndarray],
        present: np.ndarray,
    ) -> None:
        if sid not in self.targets:
            return
        m = (t >= self.start) & (t < self.end)
        if not m.any():
            return
        g = np.random.default_rng(self.seed)
        x = (t[m] - self.start) / max(self.end - self.start, 1.0)  # 0→1 through the fault
        p = self.param
        if self.fault == "drift":
            # Electrode drift (ISE NH3-N upward, pH, optical DO): slow, then reset by the
            # recalibration visit at the end (flagged C).
            v[p][m] += self.magnitude * x
            _calib_tail(t, self.end, flags, p, 1800)
        elif self.fault == "biofouling":
            # Summer biofilm on the optical windows: DO reads low, turbidity high, cond low;
            # the noise grows with the film; cleaning at the end (flagged M).
            f = x**1.5 * self.magnitude
            if p == "do":
                v[p][m] *= 1 - 0.45 * f
            elif p == "turb":
                v[p][m] += 60 * f + 8 * f * np.abs(g.standard_normal(m.sum()))
            else:
                v[p][m] *= 1 - 0.25 * f
            v[p][m] += noise_sd(p, v[p][m]) * 2 * f * g.standard_normal(m.sum())
            _calib_tail(t, self.end, flags, p, 1200, code="M")
        elif self.fault == "offset":
            # A reading shifted at one sample and staying shifted (a damaged ISE membrane, a
            # bubble on an optical window, a wrong calibration factor keyed in): the issue's
            # "single parameter jumping", the water unchanged, until the maintenance visit
            # finds it (flagged M). ``magnitude`` is the shift, in the parameter's units.
            v[p][m] += self.magnitude
            _calib_tail(t, self.end, flags, p, 1200, code="M")
        elif self.fault == "stuck":
            v[p][m] = v[p][m][0]
        elif self.fault == "spikes":
            hit = g.random(m.sum()) < 0.08
            hit[0] = True
            idx = np.nonzero(m)[0][hit]
            v[p][idx] = v[p][idx] * g.uniform(2.5, 8.0, len(idx)) + 10 * noise_sd(p, v[p][idx])
        elif self.fault == "dropouts":
            keep = g.random(m.sum()) > 0.45
            present[np.nonzero(m)[0][~keep]] = False
        elif self.fault == "calibration":
            # Standard solutions on the probe: pH 7.00 / 4.01 / 9.18 buffers, 1413 µS/cm KCl,
            # zero and span solutions for the analysers; the logger flags the period C.
            std = CAL_STANDARDS.get(p, (0.0,))
            k = np.minimum((x * len(std)).astype(int), len(std) - 1)
            level = np.asarray(std)[k]
            v[p][m] = level + 0.3 * noise_sd(p, level) * g.standard_normal(m.sum())
            flags[p][m] = FLAG["C"]
        elif self.fault == "sediment_ingress":
            # A clogged intake pulls bottom sediment: turbidity, TP, CODMn up at one station
            # only, DO untouched, nothing downstream (pollution would travel).
            f = bump(t[m], self.start, self.end - 0.3 * (self.end - self.start), 600, 1200)
            for q, k in (("turb", 4.0), ("tp", 1.5), ("codmn", 0.5), ("cod", 0.6)):
                if q in v:
                    v[q][m] *= 1 + k * self.magnitude * f


CAL_STANDARDS = {
    "ph": (7.00, 4.01, 9.18),
    "cond": (1413.0,),
    "nh3n": (0.0, 2.0),
    "cod": (0.0, 100.0),
    "codmn": (0.0, 5.0),
    "tp": (0.0, 0.5),
    "tn": (0.0, 5.0),
    "do": (9.09,),
    "turb": (0.0, 100.0),
    "temp": (25.0,),
}


def _calib_tail(
    t: np.ndarray, end: float, flags: dict[str, np.ndarray], p: str, seconds: float, code: str = "C"
) -> None:
    tail = (t >= end - seconds) & (t < end)
    flags[p][tail] = FLAG[code]


@dataclass
class Outage(Event):
    """A node goes silent: ``power`` (no readings at all) or ``link`` (kept on the node's
    disk and sent as a batch on reconnect, so the rows exist but arrived late).

    >>> o = Outage(id="o", type="station_offline", start=300.0, end=900.0, source=None,
    ...            targets=("S",), cause="power")
    >>> present = np.ones(4, bool)
    >>> o.instr("S", np.arange(4) * 300.0, {}, {}, present); present.tolist()
    [True, False, False, True]
    """

    cause: str = "power"

    def instr(
        self,
        sid: str,
        t: np.ndarray,
        v: dict[str, np.ndarray],
        flags: dict[str, np.ndarray],
        present: np.ndarray,
    ) -> None:
        if sid in self.targets and self.cause == "power":
            present[(t >= self.start) & (t < self.end)] = False


@dataclass
class NoiseSource(Event):
    """Construction at night (impulsive) or a persistent daytime source at a noise station.

    >>> n = NoiseSource(id="n", type="noise_night_burst", start=0.0, end=600.0, source=None,
    ...                 targets=("S",), level=65.0, duty=1.0)
    >>> v = {"laeq": np.full(3, 45.0), "lmax": np.full(3, 55.0)}
    >>> n.env("S", np.array([0.0, 300.0, 600.0]), v); bool(v["laeq"][0] > 60), float(v["laeq"][2])
    (True, 45.0)
    """

    level: float = 60.0  # Leq of the source at the microphone while active
    impulsive: float = 12.0  # Lmax above the source Leq
    duty: float = 0.8
    seed: int = 0

    def env(self, sid: str, t: np.ndarray, v: dict[str, np.ndarray]) -> None:
        if sid not in self.targets:
            return
        m = (t >= self.start) & (t < self.end)
        if not m.any():
            return
        g = np.random.default_rng(self.seed)
        n = int(m.sum())
        on = g.random(n) < self.duty
        src = self.level + 2.0 * g.standard_normal(n)
        e = np.where(on, 10 ** (0.1 * src), 0.0)
        leq = v["laeq"][m]
        v["laeq"][m] = 10 * np.log10(10 ** (0.1 * leq) + e)
        peak = np.where(on, src + self.impulsive * g.uniform(0.6, 1.3, n), -np.inf)
        v["lmax"][m] = np.maximum(v["lmax"][m], peak)
        v["lmax"][m] = np.maximum(v["lmax"][m], v["laeq"][m] + 0.5)


@dataclass
class AirEpisode(Event):
    """A regional episode: haze (PM, CO, NO2 up) or ozone (afternoon O3 up), all stations,
    each with its own small lag and scale.

    >>> a = AirEpisode(id="a", type="air_episode", start=0.0, end=86400.0, source=None,
    ...                targets=("A",), factor=3.0, offsets={"A": (0.0, 1.0)})
    >>> v = {k: np.full(1, 20.0) for k in ("pm25", "pm10", "co", "no2")}
    >>> a.env("A", np.array([43200.0]), v); v["pm25"].tolist()
    [60.0]
    """

    kind: str = "haze"
    factor: float = 2.5
    offsets: dict[str, tuple[float, float]] = field(default_factory=dict)  # sid -> lag s, scale

    def env(self, sid: str, t: np.ndarray, v: dict[str, np.ndarray]) -> None:
        if sid not in self.offsets:
            return
        lag, scale = self.offsets[sid]
        f = bump(t, self.start + lag, self.end + lag, 12 * 3600, 8 * 3600) * scale
        if self.kind == "haze":
            v["pm25"] *= 1 + (self.factor - 1) * f
            v["pm10"] *= 1 + (self.factor - 1) * 0.8 * f
            v["co"] *= 1 + (self.factor - 1) * 0.35 * f
            v["no2"] *= 1 + (self.factor - 1) * 0.3 * f
        else:
            h = cst_hour(t)
            photo = np.clip(np.cos(2 * np.pi * (h - 15.0) / 24), 0, None) ** 1.3
            v["o3"] *= 1 + (self.factor - 1) * f * (0.25 + photo)
            v["pm25"] *= 1 + 0.25 * f  # secondary aerosol forms with the ozone


def smooth_pieces(
    g: np.random.Generator,
    start: float,
    end: float,
    step_s: float = 600.0,
    spread: float = 0.35,
    diurnal: bool = False,
) -> list[tuple[float, float, float]]:
    """An irregular release: intensity varying every ``step_s`` around 1."""
    n = max(1, int(np.ceil((end - start) / step_s)))
    edges = np.minimum(start + step_s * np.arange(n + 1), end)
    w = np.exp(spread * smooth_noise(g, edges[:-1], step_s * 2, 0.5)) if n > 1 else np.ones(1)
    if diurnal:  # households: morning and evening use
        h = cst_hour(edges[:-1])
        w = w * (
            0.6
            + 0.5 * np.exp(-0.5 * ((h - 8) / 1.5) ** 2)
            + 0.5 * np.exp(-0.5 * ((h - 20) / 2) ** 2)
        )
    return [
        (float(a), float(b), float(x)) for a, b, x in zip(edges[:-1], edges[1:], w, strict=True)
    ]


__all__ = [
    "FLAG",
    "FLAG_CODES",
    "SIGNATURES",
    "AirEpisode",
    "Discharge",
    "Event",
    "NoiseSource",
    "Outage",
    "SensorFault",
    "do_saturation",
    "smooth_pieces",
]
