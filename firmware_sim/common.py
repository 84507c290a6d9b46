"""Small numeric helpers shared by the simulator: calendar arrays, seeded streams, filters.

Times inside the simulator are float seconds since the Unix epoch (UTC); the calendar
quantities that drive physics (hour of day, day of year, weekday) are China Standard Time.

>>> import numpy as np
>>> t = np.array([0.0, 16 * 3600.0])      # 1970-01-01 00:00Z and 16:00Z
>>> cst_hour(t).tolist(), weekday(t).tolist()
([8.0, 0.0], [3, 4])
>>> rng(1, "x").random() == rng(1, "x").random()
True
"""

from __future__ import annotations

import zlib

import numpy as np

CST_OFFSET_S = 8 * 3600
DAY_S = 86400.0


def key(*parts: object) -> int:
    """A stable 32-bit integer for names (Python's hash() is salted per process)."""
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def rng(seed: int, *parts: object) -> np.random.Generator:
    """An independent, reproducible stream per (seed, purpose, station...).

    Separate streams mean that adding an event does not change the noise of any station:
    a run with and without an event differs only by the event.
    """
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, key(*parts)]))


def cst_hour(t: np.ndarray) -> np.ndarray:
    return ((t + CST_OFFSET_S) % DAY_S) / 3600.0


def cst_day(t: np.ndarray) -> np.ndarray:
    """Whole CST days since the epoch (for per-day random draws)."""
    return np.floor((t + CST_OFFSET_S) / DAY_S).astype(np.int64)


def weekday(t: np.ndarray) -> np.ndarray:
    """0 = Monday (1970-01-01 was a Thursday)."""
    return (cst_day(t) + 3) % 7


def day_of_year(t: np.ndarray) -> np.ndarray:
    """Approximate day of year (±1 day is irrelevant to seasons)."""
    return ((t + CST_OFFSET_S) / DAY_S) % 365.2425


def smooth_noise(
    g: np.random.Generator,
    t: np.ndarray,
    knot_s: float,
    phi: float = 0.7,
    t0: float | None = None,
    t1: float | None = None,
) -> np.ndarray:
    """Unit-variance slowly varying noise: AR(1) at knots every ``knot_s``, interpolated.

    Knots are laid over [t0, t1] (defaults: the span of ``t``) so that stations sampling
    the same process at different instants see the same curve.
    """
    a = float(t[0]) if t0 is None else t0
    b = float(t[-1]) if t1 is None else t1
    n = int((b - a) // knot_s) + 3
    e = g.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0]
    s = np.sqrt(1 - phi * phi)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + s * e[i]
    knots = a - knot_s + knot_s * np.arange(n)
    return np.interp(t, knots, x)


def lowpass(x: np.ndarray, dt: float, tau: float) -> np.ndarray:
    """First-order linear reservoir (exponential smoothing) with time constant ``tau``.

    The discrete form keeps mass: the filtered series has the same integral.
    """
    if tau <= dt / 10:
        return x.copy()
    a = 1.0 - np.exp(-dt / tau)
    y = np.empty_like(x)
    acc = 0.0
    for i in range(len(x)):
        acc += a * (x[i] - acc)
        y[i] = acc
    return y


def norm_cdf(z: np.ndarray) -> np.ndarray:
    """Φ(z) via Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7; numpy has no erf)."""
    x = np.abs(z) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 * (1.0 + np.sign(z) * erf)


def bump(t: np.ndarray, start: float, end: float, rise: float, fall: float) -> np.ndarray:
    """0→1→0 smooth plateau: up over ``rise`` s from ``start``, down over ``fall`` after ``end``."""
    up = np.clip((t - start) / max(rise, 1.0), 0, 1)
    down = np.clip(1 - (t - end) / max(fall, 1.0), 0, 1)
    y = np.minimum(up, down)
    return y * y * (3 - 2 * y)  # smoothstep: no kinks a detector could key on
