"""Two-sided CUSUM for level shifts."""

from __future__ import annotations

from collections.abc import Mapping

from analytics.detectors.base import Detector, RollingStats, finite_items, register, squash

__all__ = ["Cusum"]


@register("cusum")
class Cusum(Detector):
    """Two-sided CUSUM on robust-standardised residuals, reset after each alarm.

    Each parameter is standardised by the median and MAD of its last ``window`` values and
    clipped to ``±clip`` (one wild spike should not look like a shift). The sums
    ``S+ = max(0, S+ + r - drift)`` and ``S- = max(0, S- - r - drift)`` grow while the level
    stays off; the score is ``squash(max(S+, S-) / h, 1)``, i.e. 0.5 when a sum reaches ``h``.
    When a sum passes ``h`` it restarts from zero, so a shift alarms once and the new level
    becomes the baseline as the window fills with it.

    >>> det = Cusum(window=50, min_history=20)
    >>> for i in range(100):
    ...     det.learn_one({"cond": 500.0 + (i % 7)})
    >>> det.score_one({"cond": 503.0}) < 0.1
    True
    >>> scores = []
    >>> for i in range(6):
    ...     scores.append(det.score_one({"cond": 530.0}))
    ...     det.learn_one({"cond": 530.0})
    >>> scores[0] < 0.5 < scores[1]          # alarms on the second step of the shift ...
    True
    >>> scores[2] < scores[1]                # ... then restarts from zero
    True
    """

    def __init__(
        self,
        *,
        window: int = 360,
        min_history: int = 30,
        drift: float = 0.5,
        h: float = 8.0,
        clip: float = 6.0,
        every: int = 1,
    ) -> None:
        self.window = window
        self.min_history = min_history
        self.drift = drift
        self.h = h
        self.clip = clip
        self.every = every
        self._reset()

    def _reset(self) -> None:
        self.stats_: dict[str, RollingStats] = {}
        self.pos_: dict[str, float] = {}
        self.neg_: dict[str, float] = {}

    def _sums(self, key: str, v: float) -> tuple[float, float] | None:
        stats = self.stats_.get(key)
        if stats is None or len(stats) < self.min_history:
            return None
        med = stats.median()
        sigma = max(stats.mad(), 1e-9 * (1.0 + abs(med)))
        r = min(max((v - med) / sigma, -self.clip), self.clip)
        pos = max(0.0, self.pos_.get(key, 0.0) + r - self.drift)
        neg = max(0.0, self.neg_.get(key, 0.0) - r - self.drift)
        return pos, neg

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> float:
        g = 0.0
        for k, v in finite_items(x):
            sums = self._sums(k, v)
            if sums is not None:
                g = max(g, max(sums) / self.h)
        return squash(g, 1.0)

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        for k, v in finite_items(x):
            sums = self._sums(k, v)
            if sums is not None:
                pos, neg = sums
                if max(pos, neg) > self.h:
                    pos = neg = 0.0
                self.pos_[k], self.neg_[k] = pos, neg
            stats = self.stats_.get(k)
            if stats is None:
                stats = self.stats_[k] = RollingStats(self.window, self.every)
            stats.push(v)
