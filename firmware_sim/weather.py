"""The shared weather of the zone: rain storms, cloud, river response, regional air masses.

One process for the whole zone (the network spans ~30 km, storms and air masses are larger),
sampled by every station with a small station-specific scale and time lag. Everything that
"rain" or "a regional episode" changes in the readings comes from here, so a detector that
cross-checks stations sees consistent weather.

>>> from firmware_sim.scenario import load_scenario
>>> w = Weather(load_scenario("demo-night"))
>>> float(w.rain.max())      # the demo night is dry
0.0
>>> 0.0 <= float(w.sun.min()) <= float(w.sun.max()) <= 1.0
True
"""

from __future__ import annotations

import numpy as np

from firmware_sim.common import DAY_S, cst_day, lowpass, rng, smooth_noise
from firmware_sim.scenario import Scenario

STEP_S = 300.0
SPINUP_S = 3 * DAY_S  # rivers remember the rain of the last days


class Weather:
    """Rain (mm/h), sunshine (0–1), river flow factor, fast runoff, air mass factor.

    >>> from firmware_sim.scenario import load_scenario
    >>> w = Weather(load_scenario("month"))
    >>> len(w.storms) > 5, float(w.sample("river", w.t[:1])[0]) >= 1.0
    (True, True)
    """

    def __init__(self, scenario: Scenario):
        g = rng(scenario.seed, "weather")
        t0 = scenario.start.timestamp() - SPINUP_S
        t1 = scenario.end.timestamp() + DAY_S
        self.t = np.arange(t0, t1 + STEP_S, STEP_S)
        self.storms: list[tuple[float, float, float]] = []  # (start s, end s, peak mm/h)
        rain = np.zeros_like(self.t)
        n = g.poisson(scenario.rain_per_day * (t1 - t0) / DAY_S) if scenario.rain_per_day > 0 else 0
        for _ in range(n):
            start = g.uniform(t0, t1)
            # Storm lengths and peaks: lognormal, median 3 h and 4 mm/h, with the heavy tail
            # of summer convective storms (tens of mm/h).
            hours = float(np.clip(g.lognormal(np.log(3.0), 0.6), 0.5, 14))
            peak = float(np.clip(g.lognormal(np.log(4.0), 0.8), 0.5, 60))
            self._add_storm(rain, g, start, hours, peak)
        for start_dt, hours, peak in scenario.rain_scripted:
            self._add_storm(rain, g, start_dt.timestamp(), hours, peak)
        self.rain = rain
        # Cloud: a slow daily process plus rain. Sunshine drives photosynthesis (DO, pH) and
        # ozone production.
        cloud = np.clip(0.35 + 0.3 * smooth_noise(g, self.t, 12 * 3600, 0.6), 0, 1)
        wet = lowpass((rain > 0.1).astype(float), STEP_S, 3 * 3600)
        self.sun = np.clip(1.0 - 0.7 * cloud - 0.8 * wet, 0.05, 1.0)
        # Rivers of the plain network respond slowly (gates, storage): a 10-h linear
        # reservoir; 30 mm of rain lifts flow by roughly 60 %.
        self.river = 1.0 + 0.25 * lowpass(rain, STEP_S, 10 * 3600)
        # Storm sewers respond within minutes: a 15-min reservoir of the rain rate.
        self.runoff = lowpass(rain, STEP_S, 15 * 60)
        # Rain-wetted state for washout of particles and wet roads (noise).
        self.wet = wet
        # Regional air mass (log factor): synoptic weather changes every few days.
        self.airmass = 0.35 * smooth_noise(g, self.t, 6 * 3600, 0.85)
        # Night-time inversion strength: stronger on clear, dry nights; one draw per day.
        days = cst_day(self.t)
        dvals = g.uniform(0.1, 1.0, int(days.max() - days.min()) + 1)
        self.inversion = dvals[days - days.min()] * (1 - 0.7 * wet)

    def _add_storm(
        self, rain: np.ndarray, g: np.random.Generator, start: float, hours: float, peak: float
    ) -> None:
        end = start + hours * 3600
        m = (self.t >= start) & (self.t < end)
        if not m.any():
            self.storms.append((start, end, peak))
            return
        x = (self.t[m] - start) / (end - start)
        # Convective cells: an early peak and gusty multiplicative noise.
        shape = (x**0.7) * (1 - x) ** 1.6 / 0.2
        cells = np.exp(0.5 * g.standard_normal(m.sum()))
        rain[m] += np.clip(peak * shape / shape.max() * cells, 0, 120)
        self.storms.append((start, end, peak))

    def sample(self, name: str, t: np.ndarray, lag_s: float = 0.0) -> np.ndarray:
        return np.interp(t - lag_s, self.t, getattr(self, name))

    def raining(self, t0: float, t1: float, threshold: float = 0.1) -> bool:
        m = (self.t >= t0) & (self.t <= t1)
        return bool((self.rain[m] > threshold).any())

    def dry_hours_before(self, t: float) -> float:
        """Hours since the last rain before ``t`` (large when none in the record)."""
        m = (self.t <= t) & (self.rain > 0.1)
        if not m.any():
            return 1e6
        return (t - float(self.t[m][-1])) / 3600.0
