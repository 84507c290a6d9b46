"""What the instrument does to the true values: analyser cycles, noise, resolution, range.

>>> import numpy as np
>>> g = np.random.default_rng(0)
>>> v = measure("cond", np.full(4, 560.0), g)
>>> bool(np.all(np.abs(v - 560) < 40)), float(v[0]) == round(float(v[0]))
(True, True)
"""

from __future__ import annotations

import numpy as np

from envmon.params import load_parameters

# Per parameter: absolute noise sd, relative noise sd, decimals reported by the logger.
# From typical specifications of the analysers at national automatic stations (repeatability
# ~1–5 %), class 1 sound level meters (±0.7 dB) and beta-attenuation / chemiluminescence
# air analysers.
NOISE: dict[str, tuple[float, float, int]] = {
    "temp": (0.05, 0.0, 1),
    "ph": (0.02, 0.0, 2),
    "do": (0.06, 0.015, 2),
    "cond": (2.0, 0.01, 0),
    "turb": (0.5, 0.03, 1),
    "codmn": (0.1, 0.03, 2),
    "cod": (1.0, 0.04, 1),
    "nh3n": (0.02, 0.04, 3),
    "tp": (0.005, 0.04, 3),
    "tn": (0.05, 0.04, 2),
    "flow": (0.5, 0.03, 1),
    "level": (0.003, 0.0, 3),
    "laeq": (0.3, 0.0, 1),
    "lmax": (0.3, 0.0, 1),
    "pm25": (2.0, 0.05, 0),
    "pm10": (3.0, 0.05, 0),
    "so2": (1.0, 0.05, 0),
    "no2": (1.5, 0.05, 0),
    "o3": (2.0, 0.04, 0),
    "co": (0.03, 0.03, 2),
    "rain": (0.0, 0.0, 1),
}
# Analysers that measure one sample per cycle (wet chemistry at river stations); the data
# logger repeats the last result until the next one.
WET_CHEM = frozenset({"codmn", "nh3n", "tp", "tn"})


def noise_sd(param: str, value: np.ndarray | float) -> np.ndarray | float:
    a, r, _ = NOISE[param]
    return a + r * np.abs(value)


def hold(t: np.ndarray, v: np.ndarray, cycle_s: float, phase_s: float) -> np.ndarray:
    """Sample-and-hold: each value is the last analyser result at or before ``t``."""
    k = np.floor((t - phase_s) / cycle_s) * cycle_s + phase_s
    idx = np.clip(np.searchsorted(t, k, side="right") - 1, 0, len(t) - 1)
    return v[idx]


def measure(param: str, true: np.ndarray, g: np.random.Generator) -> np.ndarray:
    """True value plus instrument noise, clipped to what the sensor can report."""
    sd = noise_sd(param, true)
    v = true + sd * g.standard_normal(len(true))
    return clip_round(param, v)


def clip_round(param: str, v: np.ndarray) -> np.ndarray:
    p = load_parameters().get(param)
    lo = (
        max(p.range_min, 0.0)
        if p and param not in ("flow", "level", "temp")
        else (p.range_min if p else 0.0)
    )
    hi = p.range_max if p else np.inf
    if param in ("laeq", "lmax"):
        lo = 25.0
    if param == "flow" or param == "rain":
        lo = 0.0 if param == "rain" else lo
    return np.round(np.clip(v, lo, hi), NOISE[param][2])
