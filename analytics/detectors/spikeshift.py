"""Spikes and shifts: robust z of the value and of its change, judged against recent surprise."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

from analytics.detectors.base import Detector, RollingStats, finite_items, register, squash

__all__ = ["SpikeShift"]


class _Track:
    """State of one parameter."""

    __slots__ = ("bins", "diffs", "last", "peaks", "quantum", "quiet", "step", "values")

    def __init__(self, window: int, every: int) -> None:
        self.values = RollingStats(window, every)
        self.diffs = RollingStats(window, every)
        self.bins: dict[int, RollingStats] = {}
        self.last: float | None = None
        self.quantum = math.inf
        self.step = 0
        self.quiet = 0  # readings left in the silence after an alarm
        # Per component, a monotonic deque of (step, raw z): its head is the largest raw z
        # of the recent past.
        self.peaks: dict[str, deque[tuple[int, float]]] = {}


@register("spikeshift")
class SpikeShift(Detector):
    """Windowed robust z-scores of the value and of its first difference, made adaptive.

    The raw surprise of a reading is ``max(z_value, z_change)``: the robust z of the value
    against the median/MAD of the last ``window`` values catches shifts and excursions, the
    robust z of the change catches spikes and sudden steps while the level is still inside
    the usual range. Spreads are floored at the series' resolution (smallest change seen) so
    flat or integer-valued series do not explode. The raw surprise is then divided by the
    largest raw surprise of the last ``memory`` readings (adaptive threshold: a series that
    is always jumpy must outdo itself to be news) and squashed so that a ratio of 1 gives
    0.5. After a reading scoring at least ``alarm_level`` that parameter stays quiet for
    ``suppress`` readings: an incident is reported once, not at every reading it lasts.

    >>> det = SpikeShift(window=100, min_history=20)
    >>> for i in range(300):
    ...     det.learn_one({"nh3n": 0.5 + 0.01 * ((i * 7) % 5)})
    >>> det.score_one({"nh3n": 0.52}) < 0.3
    True
    >>> det.score_one({"nh3n": 0.9}) > 0.9
    True
    """

    def __init__(
        self,
        *,
        window: int = 400,
        min_history: int = 50,
        memory: int = 1000,
        z_floor: float = 6.0,
        alarm_level: float = 0.5,
        suppress: int = 100,
        bins: int = 24,
        bin_window: int = 1000,
        min_bin: int = 20,
        bin_floor: float = 0.1,
        every: int = 1,
    ) -> None:
        self.window = window
        self.min_history = min_history
        self.memory = memory
        self.z_floor = z_floor
        self.alarm_level = alarm_level
        self.suppress = suppress
        self.bins = bins
        self.bin_window = bin_window
        self.min_bin = min_bin
        self.bin_floor = bin_floor
        self.every = every
        self._reset()

    def _reset(self) -> None:
        self.tracks_: dict[str, _Track] = {}

    def _bin(self, t: float | None) -> int | None:
        if t is None or self.bins <= 0:
            return None
        return int((t % 86400.0) * self.bins // 86400.0) % self.bins

    def _raw(self, tr: _Track, v: float, b: int | None) -> dict[str, float]:
        if len(tr.diffs) < self.min_history or tr.last is None:
            return {}
        res = 0.0 if math.isinf(tr.quantum) else tr.quantum
        med = tr.values.median()
        tiny = 1e-9 * (1.0 + abs(med))
        spread = max(tr.values.mad(), res, tiny)
        z = {"value": abs(v - med) / spread}
        d = v - tr.last
        z["change"] = abs(d - tr.diffs.median()) / max(tr.diffs.mad(), res, tiny)
        if b is not None:
            hist = tr.bins.get(b)
            if hist is not None and len(hist) >= self.min_bin:
                # The bin's own MAD is floored by the global one: few points, tiny spread.
                sigma = max(hist.mad(), self.bin_floor * spread)
                z["time_of_day"] = abs(v - hist.median()) / sigma
        return z

    def _ratio(self, tr: _Track, raw: dict[str, float]) -> float:
        best = 0.0
        for comp, z in raw.items():
            peaks = tr.peaks.get(comp)
            ref = peaks[0][1] if peaks else 0.0
            best = max(best, z / max(ref, self.z_floor))
        return best

    def _score(self, tr: _Track, v: float, b: int | None) -> float:
        return squash(self._ratio(tr, self._raw(tr, v, b)), 1.0)

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> float:
        b = self._bin(t)
        best = 0.0
        for k, v in finite_items(x):
            tr = self.tracks_.get(k)
            if tr is not None and tr.quiet == 0:
                best = max(best, self._score(tr, v, b))
        return best

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        b = self._bin(t)
        for k, v in finite_items(x):
            tr = self.tracks_.get(k)
            if tr is None:
                tr = self.tracks_[k] = _Track(self.window, self.every)
            if tr.quiet > 0:
                tr.quiet -= 1
            elif self._score(tr, v, b) >= self.alarm_level:
                tr.quiet = self.suppress
            tr.step += 1
            for comp, z in self._raw(tr, v, b).items():
                peaks = tr.peaks.setdefault(comp, deque())
                while peaks and peaks[-1][1] <= z:
                    peaks.pop()
                peaks.append((tr.step, z))
                while peaks[0][0] <= tr.step - self.memory:
                    peaks.popleft()
            if tr.last is not None:
                d = v - tr.last
                tr.diffs.push(d)
                if d != 0.0:
                    tr.quantum = min(tr.quantum, abs(d))
            tr.values.push(v)
            if b is not None:
                hist = tr.bins.get(b)
                if hist is None:
                    hist = tr.bins[b] = RollingStats(self.bin_window, self.every)
                hist.push(v)
            tr.last = v
