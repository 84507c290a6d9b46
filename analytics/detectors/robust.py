"""Time-of-day robust baseline: how far is a value from what is usual at this hour?"""

from __future__ import annotations

from collections.abc import Mapping

from analytics.detectors.base import Detector, RollingStats, finite_items, register, squash

__all__ = ["RobustBaseline"]


@register("robust")
class RobustBaseline(Detector):
    """Robust z-score against a median/MAD baseline per time-of-day bin.

    Each parameter keeps a rolling window per time-of-day bin (``bins`` per day, local time
    ``utc_offset_hours``) and one global rolling window. A bin is used once it holds
    ``min_bin`` values; until then (or without ``t``) the global window is the baseline. The
    robust z-score ``|x - median| / (1.4826 MAD)`` goes through :func:`squash` (``z_scale``
    gives 0.5); several parameters combine by their maximum, because one parameter out of
    its usual range is enough to look at the station.

    >>> det = RobustBaseline(bins=24, min_bin=3, min_history=10)
    >>> day = 86400.0
    >>> for d in range(5):
    ...     for h in range(24):
    ...         t = d * day + h * 3600
    ...         det.learn_one({"do": 8.0 + (2.0 if 10 <= h < 16 else 0.0) + 0.1 * (d % 2)}, t)
    >>> det.score_one({"do": 10.0}, 5 * day + 12 * 3600) < 0.1   # usual at noon
    True
    >>> det.score_one({"do": 10.0}, 5 * day + 2 * 3600) > 0.9    # unusual at 2 am
    True
    """

    def __init__(
        self,
        *,
        bins: int = 24,
        bin_window: int = 240,
        min_bin: int = 10,
        window: int = 1440,
        min_history: int = 30,
        utc_offset_hours: float = 8.0,
        z_scale: float = 4.0,
        rel_floor: float = 0.25,
        every: int = 1,
    ) -> None:
        self.bins = bins
        self.bin_window = bin_window
        self.min_bin = min_bin
        self.window = window
        self.min_history = min_history
        self.utc_offset_hours = utc_offset_hours
        self.z_scale = z_scale
        self.rel_floor = rel_floor
        self.every = every
        self._reset()

    def _reset(self) -> None:
        self.global_: dict[str, RollingStats] = {}
        self.by_bin_: dict[tuple[str, int], RollingStats] = {}
        self.last_: dict[str, float] = {}
        # Smallest non-zero change seen per parameter: the sensor's resolution. A MAD below
        # it (a series that mostly repeats one value) would turn every step into an alarm.
        self.quantum_: dict[str, float] = {}

    def _bin(self, t: float | None) -> int | None:
        if t is None:
            return None
        local = (t + self.utc_offset_hours * 3600.0) % 86400.0
        return int(local * self.bins // 86400.0) % self.bins

    def _z(self, key: str, v: float, b: int | None) -> float:
        glob = self.global_.get(key)
        if glob is None or len(glob) < self.min_history:
            return 0.0
        g_med, g_mad = glob.median(), glob.mad()
        med, mad = g_med, g_mad
        if b is not None:
            stats = self.by_bin_.get((key, b))
            if stats is not None and len(stats) >= self.min_bin:
                med, mad = stats.median(), stats.mad()
        # A bin with few, nearly equal values has a tiny MAD; flooring it at a fraction of the
        # global spread keeps ordinary noise from looking like an event.
        q = self.quantum_.get(key, 0.0)
        sigma = max(mad, self.rel_floor * g_mad, q, 1e-9 * (1.0 + abs(g_med)))
        return abs(v - med) / sigma

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> float:
        b = self._bin(t)
        z = max((self._z(k, v, b) for k, v in finite_items(x)), default=0.0)
        return squash(z, self.z_scale)

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        b = self._bin(t)
        for k, v in finite_items(x):
            last = self.last_.get(k)
            if last is not None and v != last:
                self.quantum_[k] = min(self.quantum_.get(k, abs(v - last)), abs(v - last))
            self.last_[k] = v
            glob = self.global_.get(k)
            if glob is None:
                glob = self.global_[k] = RollingStats(self.window, self.every)
            glob.push(v)
            if b is not None:
                stats = self.by_bin_.get((k, b))
                if stats is None:
                    stats = self.by_bin_[(k, b)] = RollingStats(self.bin_window, self.every)
                stats.push(v)
