"""The one adapter around scikit-learn's IsolationForest."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

import numpy as np
from sklearn.ensemble import IsolationForest

from analytics.detectors.base import Detector, finite_items, register

__all__ = ["IsolationForestDetector"]

_EULER = 0.5772156649015329


def _avg_path(n: int) -> float:
    """Average path length of an unsuccessful BST search among ``n`` points (Liu et al.)."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + _EULER) - 2.0 * (n - 1.0) / n


@register("iforest")
class IsolationForestDetector(Detector):
    """Isolation forest refitted every ``refit_every`` points on the last ``window`` points.

    Features are the values of the parameters seen so far (sorted by name) and, with
    ``diffs``, their change since the previous reading. Missing values are filled with the
    last value seen (change 0); a parameter that appears later joins the features at the
    next refit. The score is the anomaly score ``s = 2^(-E[h(x)] / c(ψ))`` of Liu et al.:
    scikit-learn's ``score_samples`` returns ``-s`` (lower = more abnormal); it is converted
    here, once. For speed the fitted trees are walked directly in Python (a single-row
    ``score_samples`` call costs milliseconds of input validation); this reproduces
    ``-score_samples`` exactly, which ``tests/unit/test_detector_iforest.py`` checks.

    >>> det = IsolationForestDetector(window=256, refit_every=128, seed=1)
    >>> rng = np.random.default_rng(0)
    >>> for i in range(300):
    ...     det.learn_one({"turb": 1.0 + rng.normal(0, 0.1)})
    >>> det.score_one({"turb": 1.0}) < det.score_one({"turb": 5.0})
    True
    """

    def __init__(
        self,
        *,
        window: int = 512,
        refit_every: int = 256,
        min_samples: int = 128,
        n_estimators: int = 50,
        max_samples: int = 128,
        diffs: bool = True,
        seed: int = 0,
    ) -> None:
        self.window = window
        self.refit_every = refit_every
        self.min_samples = min_samples
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.diffs = diffs
        self.seed = seed
        self._reset()

    def _reset(self) -> None:
        self.rng_ = np.random.default_rng(self.seed)
        self.rows_: deque[dict[str, float]] = deque(maxlen=self.window)
        self.last_: dict[str, float] = {}
        self.since_fit_ = 0
        self.columns_: list[str] = []
        self.fill_: list[float] = []
        # Per tree: (feature map, left, right, feature, threshold, path length at each node).
        self.trees_: list[tuple[list[int], list[int], list[int], list[int], list[float],
                                list[float]]] = []
        self.norm_ = 1.0
        self.model_: IsolationForest | None = None

    def _row(self, x: Mapping[str, float]) -> dict[str, float]:
        """Named features of ``x``: ``key`` → value and ``Δkey`` → change since the last one."""
        row: dict[str, float] = {}
        for k, v in finite_items(x):
            row[k] = v
            if self.diffs:
                last = self.last_.get(k)
                row["Δ" + k] = 0.0 if last is None else v - last
        return row

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> float:
        if not self.trees_:
            return 0.0
        row = self._row(x)
        # A missing parameter is taken at its last value, i.e. it did not change.
        vals = [
            row.get(c, 0.0 if c.startswith("Δ") else self.last_.get(c, fill))
            for c, fill in zip(self.columns_, self.fill_, strict=True)
        ]
        # Trees were grown on float32 data and compare in float32, so round the same way.
        f32 = np.finfo(np.float32).max
        f = np.clip(np.asarray(vals), -f32, f32).astype(np.float32).tolist()
        depth = 0.0
        for fmap, left, right, feat, thr, plen in self.trees_:
            node = 0
            while left[node] != -1:
                node = left[node] if f[fmap[feat[node]]] <= thr[node] else right[node]
            depth += plen[node]
        return 2.0 ** (-depth / (len(self.trees_) * self.norm_))

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        row = self._row(x)
        if not row:
            return
        self.rows_.append(row)
        self.last_.update((k, v) for k, v in row.items() if not k.startswith("Δ"))
        self.since_fit_ += 1
        if len(self.rows_) >= self.min_samples and (
            not self.trees_ or self.since_fit_ >= self.refit_every
        ):
            self._fit()

    def _fit(self) -> None:
        columns = sorted({c for row in self.rows_ for c in row})
        X = np.array([[row.get(c, np.nan) for c in columns] for row in self.rows_])
        # Gaps (a parameter missing, or not yet tracked) get the column median.
        fill = np.nanmedian(X, axis=0)
        X = np.where(np.isnan(X), fill, X)
        model = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, len(X)),
            random_state=int(self.rng_.integers(2**31 - 1)),
        ).fit(X)
        self.model_ = model
        self.columns_, self.fill_ = columns, fill.tolist()
        self.norm_ = _avg_path(model.max_samples_)
        self.trees_ = []
        for est, fmap in zip(model.estimators_, model.estimators_features_, strict=True):
            tree = est.tree_
            left = tree.children_left.tolist()
            right = tree.children_right.tolist()
            depth = [0] * tree.node_count
            for node in range(tree.node_count):  # children always come after their parent
                if left[node] != -1:
                    depth[left[node]] = depth[right[node]] = depth[node] + 1
            plen = [d + _avg_path(int(n)) for d, n in zip(depth, tree.n_node_samples, strict=True)]
            self.trees_.append((fmap.tolist(), left, right, tree.feature.tolist(),
                                tree.threshold.tolist(), plen))
        self.since_fit_ = 0
