"""The NAB scorer against hand-computed cases and, when the data is present, the corpus."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.bench import nab
from envmon.paths import SHARED

ROOT = SHARED / "bench" / "nab"
TOP = 2 / (1 + math.exp(-5)) - 1  # σ(-1)


def sigma(y: float) -> float:
    return -1.0 if y > 3 else 2 / (1 + math.exp(5 * y)) - 1


def one_file(n: int = 100, windows=((40, 49),)) -> nab.NabFile:
    return nab.NabFile("toy", np.arange(float(n)), np.zeros(n), list(windows))


def raw(f: nab.NabFile, hits: list[int], profile: str = "standard") -> float:
    s = np.zeros(len(f.values))
    s[hits] = 1.0
    return nab.score_corpus([f], [s])[profile].raw


def test_probation_is_15_percent_capped_at_750() -> None:
    assert nab.probation_rows(100) == 15
    assert nab.probation_rows(4999) == 749
    assert nab.probation_rows(22695) == 750


def test_detection_at_window_start_is_worth_a_tp() -> None:
    assert raw(one_file(), [40]) == pytest.approx(1.0)


def test_detection_at_window_end_is_worth_little() -> None:
    # y = -(49 - 49 + 1) / 10 = -0.1
    assert raw(one_file(), [49]) == pytest.approx(sigma(-0.1) / TOP)
    assert raw(one_file(), [49]) == pytest.approx(0.2482, abs=1e-4)


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    assert raw(one_file(), [42, 45, 49]) == pytest.approx(sigma(-0.8) / TOP)


def test_false_positive_after_a_window_is_weighted_by_distance() -> None:
    # Row 54 is 5 rows past the end (R'=49, W'=10): A_fp σ(5/9), after a hit at the start.
    assert raw(one_file(), [40, 54]) == pytest.approx(1.0 + 0.11 * sigma(5 / 9))
    low_fp = raw(one_file(), [40, 54], "reward_low_FP_rate")
    assert low_fp == pytest.approx(1.0 + 0.22 * sigma(5 / 9))
    # A lone false positive is worse than staying silent, so the sweep stays silent.
    assert raw(one_file(), [54], "reward_low_FN_rate") == pytest.approx(-2.0)


def test_false_positive_before_any_window_costs_a_full_a_fp() -> None:
    assert raw(one_file(), [20, 40]) == pytest.approx(1.0 - 0.11)


def test_probationary_rows_are_ignored() -> None:
    f = one_file()  # probation: 15 rows
    assert raw(f, [3, 14, 40]) == pytest.approx(1.0)
    g = one_file(windows=((10, 19),))  # a window inside probation can only be partly scored
    assert raw(g, [12]) == pytest.approx(-1.0)  # detection ignored: the window is missed
    assert raw(g, [15]) == pytest.approx(sigma(-(19 - 15 + 1) / 10) / TOP)


def test_threshold_sweep_picks_the_best_corpus_threshold() -> None:
    f = one_file()
    s = np.zeros(100)
    s[41] = 0.9   # a true positive
    s[70] = 0.95  # a false positive scored higher
    s[20] = 0.5   # a false positive scored lower
    res = nab.score_corpus([f], [s])["standard"]
    assert res.threshold == 0.9
    assert res.raw == pytest.approx(sigma(-0.9) / TOP + 0.11 * sigma(21 / 9))


def test_normalisation_with_null_and_perfect() -> None:
    f = one_file()
    res = nab.score_corpus([f], [np.zeros(100)])["standard"]
    assert (res.null, res.perfect) == (-1.0, 1.0)
    perfect = np.zeros(100)
    perfect[40] = 1.0
    assert nab.score_corpus([f], [perfect])["standard"].normalised == pytest.approx(100.0)


needs_data = pytest.mark.skipif(
    not (ROOT / "labels" / "combined_windows.json").exists(),
    reason=f"NAB data not found under {ROOT} (shared benchmark data, not in the repo)",
)


@pytest.fixture(scope="module")
def corpus() -> list[nab.NabFile]:
    return nab.load_corpus(ROOT)


@needs_data
def test_corpus_shape(corpus) -> None:
    assert len(corpus) == 58
    assert sum(len(f.values) for f in corpus) == 365_558
    assert sum(len(f.windows) for f in corpus) == 116


@needs_data
def test_never_firing_detector_scores_zero(corpus) -> None:
    res = nab.score_corpus(corpus, [np.zeros(len(f.values)) for f in corpus])
    assert all(r.normalised == 0.0 for r in res.values())


@needs_data
def test_windowed_gaussian_reproduces_the_reference_run(corpus) -> None:
    res = nab.score_corpus(corpus, [nab.windowed_gaussian(f.values) for f in corpus])
    # A faithful from-scratch run: 40.1 / 23.9 / 47.7 (published: 39.6 / 20.9 / 47.4).
    assert res["standard"].normalised == pytest.approx(40.1, abs=0.1)
    assert res["reward_low_FP_rate"].normalised == pytest.approx(23.9, abs=0.1)
    assert res["reward_low_FN_rate"].normalised == pytest.approx(47.7, abs=0.1)


@needs_data
def test_windowed_gaussian_beats_null_on_a_subset(corpus) -> None:
    subset = [f for f in corpus if f.name.startswith(("realKnownCause", "artificialWith"))]
    res = nab.score_corpus(subset, [nab.windowed_gaussian(f.values) for f in subset])
    assert 0.0 < res["standard"].normalised < 100.0
