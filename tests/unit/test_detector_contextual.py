"""The contextual detector's own behaviour, and how the NAB runner tells it about a file."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.bench import nab
from analytics.detectors import Contextual, make

PATTERN = [1.0, 2.0, 8.0, 2.0]


def run(det: Contextual, values: list[float]) -> list[float]:
    out = []
    for v in values:
        out.append(det.score_one({"x": v}))
        det.learn_one({"x": v})
    return out


def test_a_value_outside_the_known_range_is_fully_novel() -> None:
    det = Contextual(input_min=0.0, input_max=10.0, probation=50, spike_weight=0.0)
    run(det, PATTERN * 50)
    assert det.score_one({"x": 30.0}) == 1.0
    assert det.score_one({"x": -30.0}) == 1.0
    assert det.score_one({"x": PATTERN[0]}) == 0.0


def test_familiar_level_at_an_unfamiliar_moment_is_noticed() -> None:
    det = Contextual(input_min=0.0, input_max=10.0, probation=50, spike_weight=0.0)
    run(det, PATTERN * 50)  # next in the cycle is 1.0
    assert det.score_one({"x": 8.0}) > 0.5


def test_reports_once_then_rests_for_a_fifth_of_probation() -> None:
    det = Contextual(input_min=0.0, input_max=10.0, probation=100, spike_weight=0.0)
    run(det, PATTERN * 50)
    scores = run(det, [9.9] * 40)  # a new level that lasts
    assert scores[0] == 1.0
    rest = int(100 * det.rest_fraction)
    assert scores[1 : 1 + rest] == [0.0] * rest
    # By the end of the rest the new level is known: no second report of the same incident.
    assert max(scores[1 + rest :]) < det.base


def test_no_rest_during_probation() -> None:
    det = Contextual(input_min=0.0, input_max=10.0, probation=400, spike_weight=0.0)
    scores = run(det, [*PATTERN * 20, 9.9, 0.2])  # two new levels in a row
    assert scores[80:] == [1.0, 1.0]  # the second is scored, not silenced


def test_range_learned_in_probation_matches_a_given_range_afterwards() -> None:
    # Without a range the first ``probation`` values are kept, give the range, and are
    # replayed into the context memory: from then on it is the same detector.
    rng = np.random.default_rng(0)
    values = (np.sin(np.arange(700) / 9.0) * 5 + rng.normal(0, 0.3, 700)).tolist()
    first = values[:200]
    learned = Contextual(probation=200)
    given = Contextual(input_min=min(first), input_max=max(first), probation=200)
    a, b = run(learned, values), run(given, values)
    assert a[200:] == b[200:]
    assert a[:200] != b[:200]  # before that only the spike/shift part can score


def test_spike_part_catches_what_stays_inside_a_bin() -> None:
    rng = np.random.default_rng(1)
    values = (50.0 + rng.normal(0, 0.1, 600)).tolist()
    alone = Contextual(input_min=0.0, input_max=100.0, probation=100, spike_weight=0.0)
    joint = Contextual(input_min=0.0, input_max=100.0, probation=100)
    run(alone, values)
    run(joint, values)
    assert alone.score_one({"x": 52.0}) == 0.0  # same bin as the noise at every resolution
    assert joint.score_one({"x": 52.0}) > 0.8


def test_harness_fills_only_what_is_left_open() -> None:
    values = np.array([4.0, -2.0, 7.5] * 400)
    det = nab.harness_clone(make("contextual"), values)
    assert (det.input_min, det.input_max, det.probation) == (-2.0, 7.5, 180)
    fixed = nab.harness_clone(make("contextual", probation=50, input_min=0.0), values)
    assert (fixed.input_min, fixed.input_max, fixed.probation) == (0.0, 7.5, 50)
    # Detectors without these hyperparameters get a plain clone.
    assert nab.harness_clone(make("spikeshift"), values).get_params() == make("spikeshift").get_params()


def test_nab_runner_streams_the_harness_clone() -> None:
    times = np.arange(400.0) * 300.0
    values = np.array(PATTERN * 100)
    values[350] = 5.0
    f = nab.NabFile("toy", times, values, [(345, 360)])
    [scores] = nab.detector_scores(make("contextual", spike_weight=0.0), [f], workers=1)
    # The harness range is [1, 8]: 5.0 is in range but in a bin the pattern never visits.
    assert scores[350] == pytest.approx(1.0)
    assert scores[nab.probation_rows(400) : 350].max() == 0.0
