"""The detector contract, the decision policy and the registry of detectors.

A detector turns a stream of readings into anomaly scores; a policy turns scores into
decisions. Keeping them apart lets one prototype detector be cloned per station and
parameter while the alarm threshold stays a deployment setting.
"""

from __future__ import annotations

import abc
import copy
import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

__all__ = [
    "DEFAULT_CONFIGS",
    "REGISTRY",
    "Decision",
    "Detector",
    "RollingStats",
    "ThresholdPolicy",
    "finite_items",
    "register",
    "squash",
]


class Detector(abc.ABC):
    """An online anomaly detector over readings that arrive one at a time.

    Contract (every registered detector is checked against it by
    ``tests/unit/test_detector_conformance.py``):

    * ``learn_one(x, t=None)`` updates the state with one observation and returns nothing.
    * ``score_one(x, t=None)`` returns a float in [0, 1], higher = more anomalous; it does not
      change the state, so scoring the same ``x`` twice gives the same number.
    * ``x`` maps parameter names to values. A key that is missing, ``None`` or not finite is
      skipped; a key never seen before starts being tracked. ``x`` is never mutated.
    * ``t`` is the time of the observation in epoch seconds; detectors that model the time of
      day need it and fall back to order-only behaviour when it is ``None``.
    * ``__init__`` only stores keyword-only hyperparameters under their own names; learned
      state lives in attributes ending in ``_`` that are created in ``_reset``. Hence
      ``get_params`` and ``clone`` (a fresh, unfitted copy) work for every detector.
    * Randomness comes only from a ``seed`` hyperparameter through ``numpy.random.Generator``.
    * Detectors are picklable, and a pickled detector continues with identical scores.

    The usual loop scores first, then learns (see :class:`ThresholdPolicy`).

    >>> class Mean(Detector):
    ...     def __init__(self, *, scale: float = 1.0) -> None:
    ...         self.scale = scale
    ...         self._reset()
    ...     def _reset(self) -> None:
    ...         self.n_, self.mean_ = 0, 0.0
    ...     def learn_one(self, x, t=None):
    ...         for _, v in finite_items(x):
    ...             self.n_ += 1
    ...             self.mean_ += (v - self.mean_) / self.n_
    ...     def score_one(self, x, t=None):
    ...         z = max((abs(v - self.mean_) / self.scale for _, v in finite_items(x)), default=0)
    ...         return squash(z)
    >>> d = Mean(scale=2.0)
    >>> d.learn_one({"ph": 7.0})
    >>> d.score_one({"ph": 13.0})      # z = 3 → 0.5
    0.5
    >>> d.get_params()
    {'scale': 2.0}
    >>> d.clone().n_
    0
    """

    @abc.abstractmethod
    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        """Update the state with one observation."""

    @abc.abstractmethod
    def score_one(self, x: Mapping[str, float], t: float | None = None) -> float:
        """Anomaly score of one observation in [0, 1] (higher = more anomalous)."""

    @abc.abstractmethod
    def _reset(self) -> None:
        """Create the learned state (attributes ending in ``_``) from scratch."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters, read back from the attributes ``__init__`` stored."""
        return {name: getattr(self, name) for name in self._param_names()}

    def clone(self) -> Detector:
        """A fresh, unfitted detector with (deep copies of) the same hyperparameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


@dataclass(frozen=True, slots=True)
class Decision:
    """What a policy decided about one observation."""

    score: float
    alarm: bool
    learned: bool


class ThresholdPolicy:
    """Alarm when the score reaches a threshold; optionally keep alarms out of the model.

    With ``protect=True`` a point that raised an alarm is not learned, so a long event does
    not become the new normal while it lasts (river's ``protect_anomaly_detector``).

    >>> from analytics.detectors.robust import RobustBaseline
    >>> policy = ThresholdPolicy(0.9)
    >>> det = RobustBaseline(window=50, min_history=10)
    >>> for i in range(60):
    ...     _ = policy.step(det, {"cod": 20.0 + (i % 5) * 0.1})
    >>> policy.step(det, {"cod": 40.0})
    Decision(score=0.99..., alarm=True, learned=False)
    """

    def __init__(self, threshold: float, *, protect: bool = True) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        self.threshold = threshold
        self.protect = protect

    def alarm(self, score: float) -> bool:
        """True when ``score`` is at or above the threshold."""
        return score >= self.threshold

    def should_learn(self, score: float) -> bool:
        """False for a point just flagged when protecting the detector."""
        return not (self.protect and self.alarm(score))

    def step(self, detector: Detector, x: Mapping[str, float], t: float | None = None) -> Decision:
        """Score ``x``, decide, and let the detector learn from it if the policy allows."""
        score = detector.score_one(x, t)
        learn = self.should_learn(score)
        if learn:
            detector.learn_one(x, t)
        return Decision(score=score, alarm=self.alarm(score), learned=learn)

    def __repr__(self) -> str:
        return f"ThresholdPolicy({self.threshold!r}, protect={self.protect!r})"


REGISTRY: dict[str, type[Detector]] = {}
DEFAULT_CONFIGS: dict[str, dict[str, Any]] = {}

D = TypeVar("D", bound=type[Detector])


def register(name: str) -> Callable[[D], D]:
    """Class decorator: ``@register("cusum")`` adds a detector to :data:`REGISTRY`.

    The detector's ``__init__`` defaults are its sample configuration
    (:data:`DEFAULT_CONFIGS`), so the printed defaults never drift from the code.
    """

    def deco(cls: D) -> D:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"detector name {name!r} already registered by {REGISTRY[name]}")
        REGISTRY[name] = cls
        sig = inspect.signature(cls.__init__)
        DEFAULT_CONFIGS[name] = {
            p.name: p.default for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY
        }
        return cls

    return deco


def finite_items(x: Mapping[str, Any]) -> Iterable[tuple[str, float]]:
    """The (key, value) pairs of ``x`` with a finite numeric value, in key order.

    Sorting makes multivariate detectors independent of dict insertion order.

    >>> list(finite_items({"b": 2, "a": float("nan"), "c": None, "d": 1.5}))
    [('b', 2.0), ('d', 1.5)]
    """
    for key in sorted(x):
        v = x[key]
        if v is None or isinstance(v, bool):
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            yield key, f


def squash(z: float, scale: float = 3.0) -> float:
    """Map a non-negative deviation ``z`` to [0, 1) smoothly: 0 → 0, ``scale`` → 0.5.

    ``z² / (z² + scale²)`` is flat at 0 (noise barely moves it) and keeps ranking huge
    deviations instead of saturating to exactly 1.0 like ``tanh`` does, which would make the
    threshold sweep of a benchmark tie many points.

    >>> squash(0.0), squash(3.0), round(squash(30.0), 4)
    (0.0, 0.5, 0.9901)
    """
    if not z > 0.0:  # also catches NaN
        return 0.0
    # Written as 1 / (1 + (scale/z)²) so that huge z cannot overflow to inf/inf.
    r = scale / z
    return 1.0 / (1.0 + r * r)


def _middle(s: np.ndarray) -> float:
    """The median of an array already sorted."""
    k = len(s) // 2
    return float(s[k]) if len(s) % 2 else float((s[k - 1] + s[k]) / 2.0)


class RollingStats:
    """Median and MAD of the last ``size`` values (ring buffer, sorted when they are read).

    ``mad`` is scaled to be consistent with the standard deviation of a normal sample and is
    floored at ``floor`` times the typical magnitude so a flat signal does not divide by zero.

    >>> rs = RollingStats(5)
    >>> for v in [1, 2, 3, 4, 100, 5]:
    ...     rs.push(v)
    >>> rs.median(), round(rs.mad(), 3)
    (4.0, 1.483)
    """

    MAD_TO_SIGMA: ClassVar[float] = 1.4826

    def __init__(self, size: int, every: int = 1) -> None:
        self.size = int(size)
        # Recomputing the statistics only every ``every`` pushes trades exactness for speed
        # on long benchmark runs; the window moves slowly, so they barely change in between.
        self.every = max(1, int(every))
        self.since = 0
        self.buf = np.empty(self.size, dtype=float)
        self.n = 0
        self.pos = 0
        # Cache the statistics: they are read far more often than the buffer changes when
        # several scores share one learn step.
        self._cache: tuple[float, float] | None = None
        # A caller's value derived from the statistics alone (the monitor's z centre and
        # scale): cleared with them, so it is computed once per move of the window.
        self.memo: Any = None

    def __len__(self) -> int:
        return self.n

    def push(self, v: float) -> None:
        self.buf[self.pos] = v
        self.pos = (self.pos + 1) % self.size
        if self.n < self.size:
            self.n += 1
        self.since += 1
        if self.since >= self.every or self.n <= self.every:
            self.since = 0
            self._cache = None
            self.memo = None

    def values(self) -> np.ndarray:
        return self.buf[: self.n] if self.n < self.size else self.buf

    def stats(self) -> tuple[float, float]:
        """(median, MAD scaled to a standard deviation), read together; computed again
        only when the window has moved (see ``every``)."""
        c = self._cache
        if c is None:
            if self.n == 0:
                c = (0.0, 0.0)
            else:
                # One sort for each middle value (the window, then its deviations): on the
                # core's 72-sample windows cheaper than two partitions, the same values.
                # Sorted in place, on a copy and on the deviations' own new array: half
                # the cost of ``np.sort``'s dispatch on arrays this small.
                v = self.values()
                s = v.copy()
                s.sort()
                med = _middle(s)
                dev = v - med
                np.abs(dev, out=dev)
                dev.sort()
                c = (med, _middle(dev) * self.MAD_TO_SIGMA)
            self._cache = c
        return c

    def median(self) -> float:
        return self.stats()[0]

    def mad(self) -> float:
        return self.stats()[1]
