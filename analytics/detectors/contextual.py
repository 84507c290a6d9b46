"""Contexts of quantised values (after CAD OSE), joined by max with spike/shift z-scores."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from analytics.detectors.base import Detector, finite_items, register
from analytics.detectors.spikeshift import SpikeShift

__all__ = ["Contextual"]

#: Probation length when neither the host nor the configuration gives one (a day of
#: five-minute readings is 288; the value range needs about that much to settle).
DEFAULT_PROBATION = 300


class _Track:
    """State of one parameter: its value range, context memory and spike detector."""

    __slots__ = ("hists", "lo", "pending", "quiet", "seen", "spike", "step", "width")

    def __init__(self, n_res: int, order: int, spike: SpikeShift) -> None:
        self.lo = 0.0
        self.width = 0.0  # 0 until the value range is known
        self.pending: list[float] = []  # probation values waiting for the range
        # seen[q][k]: context of the last k bins at resolution q -> bins that followed it.
        self.seen: list[list[dict[tuple[int, ...], set[int]]]] = [
            [{} for _ in range(order + 1)] for _ in range(n_res)
        ]
        self.hists: list[list[int]] = [[] for _ in range(n_res)]
        self.spike = spike
        self.quiet = 0  # readings left in the rest period after a report
        self.step = 0


@register("contextual")
class Contextual(Detector):
    """Novel contexts of coarsely quantised values, max-combined with :class:`SpikeShift`.

    The idea of the Contextual Anomaly Detector (CAD OSE, NAB 69.9): a value is reduced to a
    few bins of its expected range, and what is learned is which bin follows which recent
    sequence of bins ("contexts" of the last 0 … ``order`` bins). The novelty of a reading is
    the share of the contexts already known that have never been followed by its bin: a level,
    a shape or a rhythm that was never seen scores high, a familiar one scores 0 however far
    it is from the mean. Three resolutions (``resolutions`` bins across the range) are
    averaged so that one unlucky bin edge does not decide. The range is ``[input_min,
    input_max]`` widened by ``pad`` on both sides; when it is not given it is taken from the
    first ``probation`` readings, which are then replayed into the context memory.

    Fine-grained spikes and steps that stay inside one bin are left to :class:`SpikeShift`
    (robust z of value and change), weighted by ``spike_weight``; the score is the larger of
    the two. NAB rewards the first detection of an incident and charges every repeat, so
    after a score of at least ``base`` the parameter rests (scores 0) for ``rest_fraction``
    of the probation length; a new behaviour is reported at its start, once.

    ``input_min``, ``input_max`` and ``probation`` are what the NAB harness tells every
    detector about a file (``analytics.bench.nab`` fills them in when they are ``None``); in
    a deployment they are the instrument's measuring range and the learning period.

    >>> det = Contextual(input_min=0.0, input_max=10.0, probation=100, spike_weight=0.0)
    >>> pattern = [1.0, 2.0, 8.0, 2.0]                # a repeating shape
    >>> for i in range(400):
    ...     det.learn_one({"cod": pattern[i % 4]})
    >>> det.score_one({"cod": 1.0})                   # the shape goes on: nothing new
    0.0
    >>> det.score_one({"cod": 8.0}) > 0.5             # right level, wrong moment
    True
    >>> det.score_one({"cod": 5.0})                   # a level never seen
    1.0
    """

    def __init__(
        self,
        *,
        input_min: float | None = None,
        input_max: float | None = None,
        probation: int | None = None,
        resolutions: Sequence[int] = (6, 12, 24),
        order: int = 6,
        pad: float = 0.2,
        base: float = 0.65,
        rest_fraction: float = 0.2,
        spike_weight: float = 0.95,
        every: int = 10,
    ) -> None:
        self.input_min = input_min
        self.input_max = input_max
        self.probation = probation
        self.resolutions = resolutions
        self.order = order
        self.pad = pad
        self.base = base
        self.rest_fraction = rest_fraction
        self.spike_weight = spike_weight
        self.every = every
        self._reset()

    def _reset(self) -> None:
        self.tracks_: dict[str, _Track] = {}

    @property
    def _probation(self) -> int:
        return DEFAULT_PROBATION if self.probation is None else int(self.probation)

    def _new_track(self) -> _Track:
        tr = _Track(len(self.resolutions), self.order, SpikeShift(every=self.every))
        if self.input_min is not None and self.input_max is not None:
            self._set_range(tr, float(self.input_min), float(self.input_max))
        return tr

    def _set_range(self, tr: _Track, vmin: float, vmax: float) -> None:
        span = vmax - vmin
        if not span > 0.0:
            # A constant series: any bin width will do, but it must not be zero.
            span = max(abs(vmax), 1.0)
        lo, hi = vmin - self.pad * span, vmax + self.pad * span
        tr.lo, tr.width = lo, hi - lo

    def _bins(self, tr: _Track, v: float) -> list[int]:
        u = (v - tr.lo) / tr.width
        # Not clipped: a value outside the expected range falls in a bin never seen.
        return [math.floor(u * r) for r in self.resolutions]

    def _novelty(self, tr: _Track, v: float) -> float:
        if tr.width == 0.0:
            return 0.0
        total = 0.0
        for b, seen, hist in zip(self._bins(tr, v), tr.seen, tr.hists, strict=True):
            known = novel = 0
            for k in range(min(self.order, len(hist)) + 1):
                nxt = seen[k].get(tuple(hist[len(hist) - k :]))
                if nxt is not None:
                    known += 1
                    novel += b not in nxt
            total += novel / known if known else 0.0
        return total / len(self.resolutions)

    def _remember(self, tr: _Track, v: float) -> None:
        for b, seen, hist in zip(self._bins(tr, v), tr.seen, tr.hists, strict=True):
            for k in range(min(self.order, len(hist)) + 1):
                seen[k].setdefault(tuple(hist[len(hist) - k :]), set()).add(b)
            hist.append(b)
            if len(hist) > self.order:
                del hist[0]

    def _score(self, tr: _Track, key: str, v: float, t: float | None) -> float:
        s = self._novelty(tr, v)
        if self.spike_weight > 0.0:
            s = max(s, self.spike_weight * tr.spike.score_one({key: v}, t))
        return min(max(s, 0.0), 1.0)

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> float:
        best = 0.0
        for k, v in finite_items(x):
            tr = self.tracks_.get(k)
            if tr is not None and tr.quiet == 0:
                best = max(best, self._score(tr, k, v, t))
        return best

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        for k, v in finite_items(x):
            tr = self.tracks_.get(k)
            if tr is None:
                tr = self.tracks_[k] = self._new_track()
            if tr.quiet > 0:
                tr.quiet -= 1
            elif tr.step >= self._probation and self._score(tr, k, v, t) >= self.base:
                # Reports during probation are not counted by NAB and would only silence the
                # detector at the moment its first real report becomes possible.
                tr.quiet = int(self._probation * self.rest_fraction)
            tr.step += 1
            tr.spike.learn_one({k: v}, t)
            if tr.width > 0.0:
                self._remember(tr, v)
                continue
            tr.pending.append(v)
            if len(tr.pending) >= self._probation:
                self._set_range(tr, min(tr.pending), max(tr.pending))
                for p in tr.pending:
                    self._remember(tr, p)
                tr.pending = []
