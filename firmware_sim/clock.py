"""A node's real-time clock: an offset that drifts, corrected by periodic time sync.

Cheap RTC crystals drift by tens of ppm (a few seconds a day) and loggers sync by NTP or
the HJ 212 "set time" command a few times a day. The node stamps readings with its own
clock, so a sample stamped 02:15:00 was really taken ``offset`` seconds earlier or later.

>>> c = Clock(drift_ppm=50.0, offset_s=2.0, sync_every_s=6 * 3600, sync_error_s=0.0)
>>> round(c.offset(3600.0), 3)      # 2 s + 50 ppm of an hour
2.18
>>> round(c.offset(6 * 3600.0 + 1), 3)   # after the sync
0.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Clock:
    """Offset of a node's clock from true time, with drift and periodic sync.

    >>> round(Clock(drift_ppm=10.0, sync_every_s=3600.0).offset(1800.0), 4)
    0.018
    """

    drift_ppm: float = 0.0
    offset_s: float = 0.0
    sync_every_s: float = 6 * 3600.0
    sync_error_s: float = 0.05
    t0: float = 0.0
    syncs: int = 0
    seed: int = 0

    def offset(self, t: float) -> float:
        """Node time minus true time at true time ``t`` (seconds since ``t0``-based syncs)."""
        k = int((t - self.t0) // self.sync_every_s)
        if k <= 0:
            return self.offset_s + self.drift_ppm * 1e-6 * (t - self.t0)
        self.syncs = max(self.syncs, k)
        # After each sync the residual error is small and fixed per sync.
        err = (
            float(np.random.default_rng([self.seed, k]).normal(0, self.sync_error_s))
            if self.sync_error_s
            else 0.0
        )
        since = t - (self.t0 + k * self.sync_every_s)
        return err + self.drift_ppm * 1e-6 * since

    @classmethod
    def random(cls, g: np.random.Generator, t0: float, seed: int) -> Clock:
        return cls(
            drift_ppm=float(g.normal(0, 20)), offset_s=float(g.normal(0, 1.5)), t0=t0, seed=seed
        )
