"""GECCO runner: metrics by hand, a causal run on a synthetic file, and the shared data."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.bench import gecco
from analytics.detectors import ThresholdPolicy, make
from envmon.paths import SHARED

TRAIN = SHARED / "bench" / "gecco2018" / "train.csv"


def test_row_f1_and_events_found() -> None:
    pred = np.array([0, 1, 1, 1, 0, 0, 0, 0], bool)
    lab = np.array([0, 0, 1, 1, 0, 0, 1, 1], bool)
    r = gecco.score_rows(pred, lab)
    assert (r.precision, r.recall) == (2 / 3, 0.5)
    assert r.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert (r.events_found, r.events, r.alarms) == (1, 2, 1)


def _synthetic(tmp_path):
    """600 rows, a chlorine ramp at rows 400–429 labelled as the event, every 50th row empty."""
    rng = np.random.default_rng(0)
    n = 600
    lines = ['"","Time","Tp","Cl","pH","Redox","Leit","Trueb","Cl_2","Fm","Fm_2","EVENT"']
    for i in range(n):
        event = 400 <= i < 430
        cl = 0.2 + rng.normal(0, 0.002) + (0.01 * (i - 399) if event else 0.0)
        vals = [f"{6.5:.1f}", f"{cl:.3f}", f"{8.3 + rng.normal(0, 0.005):.2f}", "750", "210",
                "0.01", f"{0.12 + rng.normal(0, 0.002):.3f}", "1600", "700"]
        if i % 50 == 7:
            vals = [""] * len(vals)  # a row with everything missing
        day = 3 + i // 1440
        t = f"2016-08-{day:02d} {(i // 60) % 24:02d}:{i % 60:02d}:00"
        lines.append(f'"{i + 1}",{t},' + ",".join(vals) + f",{'TRUE' if event else 'FALSE'}")
    path = tmp_path / "small.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_synthetic_file_with_gaps(tmp_path) -> None:
    path = _synthetic(tmp_path)
    data = gecco.load(path)
    assert np.isnan(data.values["Cl"][7])
    res, scores = gecco.evaluate(make("canary", min_history=20), ThresholdPolicy(0.99), data)
    assert res.events == 1 and res.events_found == 1
    assert res.recall > 0.5 and res.alarms <= 5
    # Causal: the scores before the event do not depend on what comes after it.
    head = path.read_text().splitlines()[:400]
    (tmp_path / "head.csv").write_text("\n".join(head) + "\n")
    _, early = gecco.evaluate(make("canary", min_history=20), ThresholdPolicy(0.99),
                              gecco.load(tmp_path / "head.csv"))
    np.testing.assert_array_equal(early, scores[:399])


def test_an_events_alarm_begins_and_ends_with_it(tmp_path) -> None:
    """Row F1 wants the alarm over the event's rows, not after them: three outlier steps
    of the last five raise it, and it is gone a few rows after the ramp ends."""
    res, scores = gecco.evaluate(make("canary", min_history=20), ThresholdPolicy(0.99),
                                 gecco.load(_synthetic(tmp_path)))
    alarm = np.flatnonzero(scores >= 0.99)
    assert 400 <= alarm[0] <= 404 and alarm[-1] <= 434
    assert res.f1 > 0.8


@pytest.mark.skipif(not TRAIN.exists(), reason=f"GECCO data not found: {TRAIN} (shared data)")
def test_train_file_loads() -> None:
    data = gecco.load(TRAIN)
    assert len(data.times) == 139_566
    assert len(gecco.segments(data.labels)) == 51
