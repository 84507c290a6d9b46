"""What the environment does at each station, before any instrument sees it.

Levels are those of the zone's plain river network (GB 3838 classes III–IV, high nitrogen,
turbid, slow), its traffic-dominated noise and the Yangtze delta's air (see
``docs/simulator.md`` for the reasoning and the ranges). Each function returns the *true*
values on the station's time grid; :mod:`firmware_sim.instrument` adds what the instrument
does to them.

>>> from envmon.stations import load_registry
>>> p = water_profile(load_registry()["TZ_TOWN"])
>>> 400 < p.base["cond"] < 700, p.flow_l_s
(True, 3000.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from envmon.stations import Station
from firmware_sim.common import DAY_S, cst_hour, day_of_year, key, rng, smooth_noise, weekday
from firmware_sim.weather import Weather

RIVER_PARAMS = ("temp", "ph", "do", "cond", "turb", "codmn", "nh3n", "tp", "tn", "flow", "level")
LAKE_PARAMS = ("temp", "ph", "do", "cond", "turb", "codmn", "nh3n", "tp", "tn", "level")
OUTFALL_PARAMS = {
    # 零直排 rain-outfall monitoring: level/flow, conductivity, COD (UV probe), NH3-N (ISE),
    # turbidity, pH, and the rain gauge on the same pole.
    "rain": ("flow", "level", "cond", "cod", "nh3n", "turb", "ph", "rain"),
    "sewage_plant": ("flow", "cod", "nh3n", "tp", "tn", "ph", "cond", "temp"),
    "industrial": ("flow", "cod", "nh3n", "tn", "tp", "ph", "cond", "turb", "temp"),
}
NOISE_PARAMS = ("laeq", "lmax")
AIR_PARAMS = ("pm25", "pm10", "so2", "no2", "o3", "co", "rain")

# Mean low-water flow of the rivers (m³/s), engineering estimates for the plain network;
# a station's ``flow_m3s`` extra key overrides. Lakes: the outflow.
RIVER_FLOW_M3S = {
    "太浦河": 60.0,
    "芦墟塘": 6.0,
    "陶庄塘": 3.0,
    "西塘河": 5.0,
    "红旗塘": 12.0,
    "俞汇塘": 4.0,
    "丁栅港": 5.0,
    "汾湖": 20.0,
    "元荡": 15.0,
    "淀山湖": 60.0,
}
DEFAULT_FLOW_M3S = {"river": 5.0, "lake": 20.0}

# Baselines per target class (mg/L; cond µS/cm; turb NTU). The zone's rivers meet class III
# for most parameters but carry TN of 1.5–3 mg/L and TP near the class III limit.
CLASS_BASE = {
    "II": dict(codmn=3.3, cod=12.0, nh3n=0.28, tp=0.085, tn=1.7, cond=430.0, turb=25.0),
    "III": dict(codmn=4.4, cod=16.0, nh3n=0.55, tp=0.14, tn=2.2, cond=560.0, turb=32.0),
    "IV": dict(codmn=6.2, cod=22.0, nh3n=1.0, tp=0.22, tn=2.8, cond=620.0, turb=38.0),
    "V": dict(codmn=8.5, cod=30.0, nh3n=1.5, tp=0.3, tn=3.5, cond=680.0, turb=45.0),
}
CLASS_BASE["I"] = CLASS_BASE["II"]
LAKE_ADJUST = dict(codmn=1.1, cod=1.05, nh3n=0.6, tp=0.45, tn=0.75, cond=0.85, turb=1.2)

# Effluent of outfalls in normal operation (GB 18918 class 1A plants; a printing-and-dyeing
# works' pre-treated effluent; a storm sewer's stagnant sump between rains).
OUTFALL_BASE = {
    "sewage_plant": dict(
        flow=350.0, cod=24.0, nh3n=0.9, tp=0.25, tn=9.5, ph=7.1, cond=950.0, turb=4.0
    ),
    "industrial": dict(
        flow=35.0, cod=55.0, nh3n=2.5, tp=0.3, tn=9.0, ph=7.8, cond=2600.0, turb=9.0
    ),
    "rain": dict(flow=0.0, cod=30.0, nh3n=1.2, tp=0.2, tn=4.0, ph=7.2, cond=420.0, turb=18.0),
}

NAVIGABLE = {"太浦河", "红旗塘", "芦墟塘"}  # barges stir up sediment by day


@dataclass(frozen=True, slots=True)
class WaterProfile:
    """Fixed character of a water station (from its id, not the seed: same river every run).

    >>> from envmon.stations import load_registry
    >>> p = water_profile(load_registry()["FH_LAKE"])
    >>> p.kind, "flow" in p.params
    ('lake', False)
    """

    kind: str  # river | lake | rain | sewage_plant | industrial
    params: tuple[str, ...]
    base: dict[str, float] = field(default_factory=dict)
    flow_l_s: float = 0.0
    level_m: float = 3.0
    do_frac: float = 0.75
    photo_amp: float = 0.8
    ph0: float = 7.5
    temp_amp: float = 0.6
    barges: bool = False
    tidal: bool = False
    catchment_ha: float = 0.0


def _flow_m3s(st: Station) -> float:
    extra = dict(st.extra)
    if "flow_m3s" in extra:
        return float(extra["flow_m3s"])  # type: ignore[arg-type]
    return RIVER_FLOW_M3S.get(st.river or "", DEFAULT_FLOW_M3S.get(st.waterbody or "river", 5.0))


def water_profile(st: Station) -> WaterProfile:
    g = np.random.default_rng(key("profile", st.id))
    jit = lambda: float(g.uniform(0.88, 1.12))  # noqa: E731 - per-station character
    if st.is_outfall:
        ot = st.outfall_type or "rain"
        base = {
            k: v * (jit() if k not in ("ph", "flow") else 1.0) for k, v in OUTFALL_BASE[ot].items()
        }
        if ot != "rain":
            base["flow"] = OUTFALL_BASE[ot]["flow"] * jit()
        return WaterProfile(
            kind=ot,
            params=OUTFALL_PARAMS[ot],
            base=base,
            flow_l_s=base["flow"],
            level_m=0.05 if ot == "rain" else 0.4,
            ph0=base["ph"],
            catchment_ha=float(g.uniform(12, 40)),
        )
    lake = st.kind == "lake" or st.waterbody == "lake"
    cls = CLASS_BASE[st.target_class or "III"]
    base = {k: v * jit() * (LAKE_ADJUST[k] if lake else 1.0) for k, v in cls.items()}
    return WaterProfile(
        kind="lake" if lake else "river",
        params=LAKE_PARAMS if lake else RIVER_PARAMS,
        base=base,
        flow_l_s=_flow_m3s(st) * 1000.0,
        level_m=float(g.uniform(2.8, 3.3)),
        # Class II sections are nearer saturation; lakes are supersaturated by algae by day.
        do_frac=(0.86 if st.target_class in ("I", "II") else 0.74 if not lake else 0.85) * jit(),
        photo_amp=(2.0 if lake else 0.7) * jit(),
        ph0=(7.9 if lake else 7.45) + float(g.uniform(-0.1, 0.1)),
        temp_amp=1.1 if lake else 0.6,
        barges=(st.river or "") in NAVIGABLE,
        tidal=st.downstream is None and not lake,
    )


def do_saturation(temp: np.ndarray) -> np.ndarray:
    """DO at saturation (mg/L) at sea level, fresh water (APHA polynomial)."""
    return 14.652 - 0.41022 * temp + 0.007991 * temp**2 - 0.000077774 * temp**3


def water_temperature(t: np.ndarray, amp: float, g: np.random.Generator, wx: Weather) -> np.ndarray:
    """Season (6 °C late January, 29 °C late July), afternoon peak, weather anomalies."""
    doy = day_of_year(t)
    season = 17.5 - 11.5 * np.cos(2 * np.pi * (doy - 25) / 365.25)
    daily = amp * np.cos(2 * np.pi * (cst_hour(t) - 16) / 24)
    anomaly = 0.8 * smooth_noise(g, t, 2 * DAY_S, 0.6)
    rain_cool = -0.08 * wx.sample("runoff", t)
    return season + daily + anomaly + rain_cool


def photosynthesis(t: np.ndarray, wx: Weather, lag_s: float = 0.0) -> np.ndarray:
    """−1…+1: the net production cycle, highest mid-afternoon, lowest before dawn.

    The DO curve lags sunlight by 2–3 h (production accumulates during the day, respiration
    all night), so its maximum is near 15:00 and its minimum near 06:00 CST.
    """
    h = cst_hour(t)
    sun = wx.sample("sun", t, lag_s)
    return np.cos(2 * np.pi * (h - 15.0) / 24) * (0.3 + 0.7 * sun)


def water_env(
    st: Station, p: WaterProfile, t: np.ndarray, wx: Weather, seed: int
) -> dict[str, np.ndarray]:
    if p.kind in OUTFALL_BASE:
        return _outfall_env(st, p, t, wx, seed)
    g = rng(seed, "water", st.id)
    lag = float(g.uniform(-900, 900))
    temp = water_temperature(t, p.temp_amp, g, wx)
    qr = wx.sample("river", t, lag)  # flow factor ≥ 1 after rain
    wet = qr - 1.0
    photo = photosynthesis(t, wx, lag)
    algae = np.clip((temp - 5) / 25, 0.1, 1.2)  # the cycle is strongest in warm water
    v: dict[str, np.ndarray] = {"temp": temp}
    dosat = do_saturation(temp)
    do = (
        dosat * p.do_frac * (1 + 0.04 * smooth_noise(g, t, DAY_S, 0.6))
        + p.photo_amp * algae * photo
    )
    do -= 0.4 * wet  # runoff brings oxygen-demanding matter
    v["do"] = np.clip(do, 0.3, None)
    v["ph"] = p.ph0 + 0.16 * p.photo_amp * algae * photo + 0.04 * smooth_noise(g, t, DAY_S, 0.5)
    b = p.base
    slow = {
        k: smooth_noise(g, t, 12 * 3600, 0.8) for k in ("cond", "turb", "codmn", "nh3n", "tp", "tn")
    }
    v["cond"] = b["cond"] * (0.65 + 0.35 / qr) * (1 + 0.05 * slow["cond"])  # rain dilutes
    turb = b["turb"] * (1 + 1.8 * wet) * np.exp(0.2 * slow["turb"])
    if p.kind == "lake":  # wind resuspension in shallow lakes: afternoon breeze
        turb *= 1 + 0.25 * np.clip(np.sin(2 * np.pi * (cst_hour(t) - 9) / 24), 0, None)
    if p.barges:
        turb = turb + _barges(t, g)
    v["turb"] = turb
    v["codmn"] = b["codmn"] * (1 + 0.35 * wet) * (1 + 0.08 * slow["codmn"])
    # NH3-N: domestic pattern (morning peak of the towns' sewage reaching the river) and
    # faster nitrification in warm water.
    h = cst_hour(t)
    morning = np.exp(-0.5 * ((h - 10.0) / 2.5) ** 2)
    v["nh3n"] = b["nh3n"] * (1 + 0.15 * morning + 0.3 * wet) * np.exp(0.12 * slow["nh3n"])
    v["tp"] = b["tp"] * (1 + 0.9 * wet) * np.exp(0.1 * slow["tp"])  # particulate P
    v["tn"] = b["tn"] * (1 + 0.12 * wet) * np.exp(0.06 * slow["tn"])
    tide = np.sin(2 * np.pi * t / (12.42 * 3600)) if p.tidal else 0.0
    flow = p.flow_l_s * qr * (1 + 0.12 * smooth_noise(g, t, DAY_S, 0.7)) * (1 + 0.08 * tide)
    v["flow"] = flow
    v["level"] = p.level_m + 0.35 * wet + 0.04 * smooth_noise(g, t, DAY_S, 0.7) + 0.03 * tide
    return {k: v[k] for k in p.params}


def _barges(t: np.ndarray, g: np.random.Generator) -> np.ndarray:
    """Barge passages by day: a turbidity pulse of 10–30 min, +10…+60 NTU.

    A one-station, turbidity-only rise that is not pollution: a detector must not take it
    for a discharge.
    """
    out = np.zeros_like(t)
    hours = (t[-1] - t[0]) / 3600.0
    n = g.poisson(max(hours, 0) * 0.6)
    starts = g.uniform(t[0], t[-1] + 1, n)
    day = (cst_hour(starts) > 6) & (cst_hour(starts) < 20)
    for s0 in starts[day | (g.random(n) < 0.1)]:
        width = g.uniform(600, 1800)
        amp = g.lognormal(np.log(25), 0.5)
        x = (t - s0) / width
        m = (x > -0.2) & (x < 4)
        out[m] += amp * np.clip(x[m], 0, None) * np.exp(1 - np.clip(x[m], 0, None) * 1.5) / 1.0
    return out


def _outfall_env(
    st: Station, p: WaterProfile, t: np.ndarray, wx: Weather, seed: int
) -> dict[str, np.ndarray]:
    g = rng(seed, "water", st.id)
    b = p.base
    h = cst_hour(t)
    lag = float(g.uniform(-600, 600))
    v: dict[str, np.ndarray] = {}
    temp = water_temperature(t, 0.4, g, wx)
    if p.kind == "rain":
        # Rational method: Q[L/s] = 2.78 · C · i[mm/h] · A[ha], C = 0.6 for the towns.
        i = wx.sample("runoff", t, lag)
        q = 2.78 * 0.6 * i * p.catchment_ha
        # First flush: pollutants built up on streets since the last rain wash off first.
        flush = _first_flush(t, q, wx, lag)
        wetf = q / (q + 5.0)  # 0 dry (stagnant sump), →1 when the pipe runs
        v["flow"] = q
        v["level"] = p.level_m + 0.5 * (q / 1000.0) ** 0.6
        v["cond"] = b["cond"] * (1 - wetf) + (110 + 600 * flush) * wetf
        v["cod"] = b["cod"] * (1 - wetf) + (35 + 320 * flush) * wetf
        v["nh3n"] = b["nh3n"] * (1 - wetf) + (0.6 + 4.0 * flush) * wetf
        v["turb"] = b["turb"] * (1 - wetf) + (25 + 380 * flush) * wetf
        v["ph"] = b["ph"] - 0.3 * wetf + 0.05 * smooth_noise(g, t, DAY_S, 0.5)
        v["rain"] = wx.sample("rain", t, lag) * float(g.uniform(0.8, 1.2))
        v["tp"] = b["tp"] + 1.5 * flush * wetf
        v["tn"] = b["tn"] + 6 * flush * wetf
        v["temp"] = temp
        return {k: v[k] for k in p.params}
    slow = {
        k: smooth_noise(g, t, 6 * 3600, 0.7) for k in ("cod", "nh3n", "tp", "tn", "cond", "flow")
    }
    if p.kind == "sewage_plant":
        # Influent peaks late morning; the plant's hours of retention shift it to afternoon.
        shape = 1 + 0.22 * np.cos(2 * np.pi * (h - 14) / 24)
        rain_inflow: np.ndarray | float = 1 + 0.04 * wx.sample("runoff", t, lag)  # infiltration
    else:
        # Two shifts 08:00–24:00, a reduced night shift; fewer lines on Sunday.
        shape = np.where((h >= 8) | (h < 0.01), 1.0, 0.55) * np.where(weekday(t) == 6, 0.7, 1.0)
        rain_inflow = 1.0
    v["flow"] = b["flow"] * shape * rain_inflow * (1 + 0.06 * slow["flow"])
    winter = np.clip((15 - temp) / 10, 0, 1)  # nitrification slows in cold water
    v["cod"] = b["cod"] * np.exp(0.12 * slow["cod"])
    v["nh3n"] = b["nh3n"] * (1 + 1.5 * winter) * np.exp(0.25 * slow["nh3n"])
    v["tp"] = b["tp"] * np.exp(0.15 * slow["tp"])
    v["tn"] = b["tn"] * np.exp(0.08 * slow["tn"])
    v["cond"] = b["cond"] * (1 + 0.05 * slow["cond"])
    v["turb"] = b["turb"] * np.exp(0.2 * slow["cod"])
    v["ph"] = b["ph"] + 0.08 * smooth_noise(g, t, 12 * 3600, 0.6)
    v["temp"] = temp + (2.5 if p.kind == "sewage_plant" else 4.0)
    return {k: v[k] for k in p.params}


def _first_flush(t: np.ndarray, q: np.ndarray, wx: Weather, lag: float) -> np.ndarray:
    """0–1 wash-off strength: street build-up since the last rain, exhausted by runoff.

    Build-up saturates after ~5 dry days; each storm washes off a share proportional to
    runoff, so the first 10–20 mm of a storm carry most of the load.
    """
    tw = wx.t
    runoff = np.interp(tw, t + lag, q, left=0.0, right=0.0) if len(t) > 1 else np.zeros_like(tw)
    qw = 2.78 * 0.6 * wx.runoff * 25.0 if not runoff.any() else runoff
    dt = tw[1] - tw[0]
    build = 1.0 / (5 * DAY_S)
    wash = 1.0 / (150.0 * 3600)  # per (L/s · s) of runoff, for a ~25 ha catchment
    b = 1.0
    out = np.empty_like(tw)
    for i in range(len(tw)):
        b += build * dt * (1 - b)
        w = min(b, b * wash * qw[i] * dt)
        b -= w
        out[i] = w / (wash * dt * max(qw[i], 1e-9) + 1e-12) if qw[i] > 0.5 else 0.0
    return np.clip(np.interp(t, tw, out), 0, 1)


# ---- noise -----------------------------------------------------------------------------

# Per zone: daytime vehicles per minute at the microphone, sound exposure level of one pass
# (dB(A)), daytime background (dB(A)). Calibrated so that the daily Leq sits near the zone's
# limits as measured in Chinese towns (zone 4a roads often exceed the night limit).
NOISE_ZONE = {
    "0": (0.3, 60.0, 40.0),
    "1": (2.0, 66.0, 45.0),
    "2": (5.0, 66.0, 48.0),
    "3": (4.0, 70.0, 52.0),
    "4a": (15.0, 72.0, 52.0),
    "4b": (0.12, 88.0, 50.0),
}


def traffic_profile(t: np.ndarray) -> np.ndarray:
    """0–1 traffic index: morning and evening rush, quiet 01:00–05:00, later on weekends."""
    h = cst_hour(t)
    we = weekday(t) >= 5
    shift = np.where(we, 1.5, 0.0)  # people start later on weekends
    day = 1 / (1 + np.exp(-(h - 6.3 - shift) * 2.5)) * 1 / (1 + np.exp((h - 22.5) * 1.5))
    rush = 0.35 * np.exp(-0.5 * ((h - 8.0 - shift) / 0.8) ** 2) + 0.3 * np.exp(
        -0.5 * ((h - 18.0) / 1.0) ** 2
    )
    prof = 0.06 + 0.7 * day + np.where(we, 0.6, 1.0) * rush
    return np.clip(prof, 0.04, 1.1)


def noise_env(st: Station, t: np.ndarray, wx: Weather, seed: int) -> dict[str, np.ndarray]:
    """Leq and Lmax of each interval from individual vehicle passes over a background."""
    g = rng(seed, "noise", st.id)
    lam_day, sel, bg_day = NOISE_ZONE[st.zone or "2"]
    dt = float(t[1] - t[0]) if len(t) > 1 else 60.0
    prof = traffic_profile(t)
    zone3_weekend = (st.zone == "3") & (weekday(t) >= 5)
    lam = lam_day * prof * np.where(zone3_weekend, 0.5, 1.0) * dt / 60.0
    n = g.poisson(lam)
    total = int(n.sum())
    sels = sel + 3.0 * g.standard_normal(total)  # cars and trucks
    idx = np.repeat(np.arange(len(t)), n)
    energy = np.zeros(len(t))
    np.add.at(energy, idx, 10 ** (0.1 * sels))
    lmax_veh = np.full(len(t), -np.inf)
    np.maximum.at(lmax_veh, idx, sels - 7.0 + 1.5 * g.standard_normal(total))
    # Background: distant traffic, plant, insects; lower at night; wet roads add tyre noise.
    wet = wx.sample("wet", t)
    bg = (
        bg_day
        - 6.0 * (1 - np.clip(prof / 0.8, 0, 1))
        + 3.0 * wet
        + 1.2 * smooth_noise(g, t, 3600, 0.5)
    )
    if st.zone == "3":
        bg = np.maximum(bg, bg_day - 2.0)  # plants run at night
    leq = 10 * np.log10(10 ** (0.1 * bg) + energy / dt)
    lmax = np.maximum(bg + 4.0 + np.abs(1.5 * g.standard_normal(len(t))), lmax_veh)
    # Occasional non-traffic transients (horn, door, dog): Lmax jumps, Leq barely moves.
    tr = g.random(len(t)) < 0.03 * dt / 60.0
    lmax = np.where(tr, np.maximum(lmax, g.uniform(72, 88, len(t))), lmax)
    return {"laeq": leq, "lmax": np.maximum(lmax, leq + 0.5)}


# ---- air -------------------------------------------------------------------------------


def air_env(st: Station, t: np.ndarray, wx: Weather, seed: int) -> dict[str, np.ndarray]:
    """PM, NO2 and CO with rush hours and night inversions; O3 with its afternoon peak.

    All air stations share the regional air mass (``wx.airmass``) with a small lag and scale,
    so regional episodes are seen everywhere; local traffic differs per station.
    """
    gp = np.random.default_rng(key("air-profile", st.id))
    g = rng(seed, "air", st.id)
    lag = float(gp.uniform(-1800, 1800))
    scale = float(gp.uniform(0.88, 1.12))
    road = float(gp.uniform(0.6, 1.4))  # how close to traffic
    h = cst_hour(t)
    doy = day_of_year(t)
    winter = 0.5 * (1 + np.cos(2 * np.pi * (doy - 15) / 365.25))  # 1 mid-Jan, 0 mid-July
    summer = 1 - winter
    g_reg = wx.sample("airmass", t, lag)
    inv = wx.sample("inversion", t, lag)
    # Stable boundary layer: builds after sunset, strongest around dawn, broken by ~11:00.
    stable = np.clip(np.cos(2 * np.pi * (h - 5.0) / 24), 0, None) ** 1.5
    traffic = traffic_profile(t)
    bl = 1 + 0.6 * inv * stable
    washout = 1 - 0.35 * wx.sample("wet", t, lag)
    local = lambda s: np.exp(s * smooth_noise(g, t, 3600, 0.6))  # noqa: E731
    pm25 = (
        (18 + 42 * winter)
        * scale
        * np.exp(g_reg)
        * (0.8 + 0.25 * road * traffic)
        * bl
        * washout
        * local(0.12)
    )
    pm10 = pm25 * (1.45 + 0.25 * road * traffic) * local(0.1) * (1 - 0.2 * wx.sample("wet", t, lag))
    # NO2: the morning and evening rush on top of daytime traffic, trapped under inversions.
    rush = np.exp(-0.5 * ((h - 8.0) / 1.0) ** 2) + 0.9 * np.exp(-0.5 * ((h - 18.5) / 1.3) ** 2)
    no2 = (
        (16 + 20 * winter)
        * road
        * (0.5 + 0.45 * traffic + 0.7 * rush)
        * (1 + 0.5 * inv * stable)
        * np.exp(0.5 * g_reg)
        * local(0.15)
    )
    co = (
        (0.45 + 0.45 * winter)
        * (0.8 + 0.3 * road * traffic)
        * bl
        * np.exp(0.4 * g_reg)
        * local(0.08)
    )
    so2 = (6 + 6 * winter) * np.exp(0.3 * g_reg) * local(0.2)
    # O3: photochemical production peaks 14:00–16:00 on sunny summer days; NO titration
    # keeps it low at night and near traffic.
    sun = wx.sample("sun", t, lag)
    photo = np.clip(np.cos(2 * np.pi * (h - 15.0) / 24), 0, None) ** 1.3
    o3 = (
        (18 + 12 * summer)
        + (45 + 95 * summer) * sun * photo * np.exp(0.3 * g_reg)
        - 0.3 * (no2 - 20)
    )
    o3 = np.clip(o3 * local(0.08), 3, None)
    rain = wx.sample("rain", t, lag) * float(gp.uniform(0.8, 1.2))
    return {"pm25": pm25, "pm10": pm10, "so2": so2, "no2": no2, "o3": o3, "co": co, "rain": rain}
