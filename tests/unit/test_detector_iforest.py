"""The IsolationForest adapter walks sklearn's trees itself: check it matches sklearn."""

from __future__ import annotations

import numpy as np

from analytics.detectors import IsolationForestDetector


def test_fast_path_equals_sklearn_score_samples() -> None:
    rng = np.random.default_rng(4)
    det = IsolationForestDetector(window=300, refit_every=1000, min_samples=300, seed=2)
    for _ in range(300):
        det.learn_one({"a": float(rng.normal()), "b": float(rng.normal(5, 2))})
    assert det.model_ is not None
    probes = [{"a": float(rng.normal(0, 3)), "b": float(rng.normal(5, 6))} for _ in range(50)]
    ours = [det.score_one(x) for x in probes]
    last = det.last_
    rows = [[x["a"], x["b"], x["a"] - last["a"], x["b"] - last["b"]] for x in probes]
    # Columns are sorted names: a, b, Δa, Δb.
    assert det.columns_ == ["a", "b", "Δa", "Δb"]
    expected = -det.model_.score_samples(np.array(rows))
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
