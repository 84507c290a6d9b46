"""GECCO 2018 Industrial Challenge (drinking-water quality): online event detection, row F1.

The detector sees the rows one at a time, in order (no look-ahead), as
``{"Cl": .., "Cl_2": .., "pH": .., "Redox": .., "Leit": .., "Trueb": ..}`` with missing values
left out; temperature and flow are operational context, not event parameters, so they are
not scored. A row is predicted as an event when the policy raises an alarm on it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from analytics.detectors import Detector, ThresholdPolicy

__all__ = ["EVENT_PARAMS", "GeccoData", "GeccoResult", "evaluate", "load", "segments"]

EVENT_PARAMS = ("Cl", "Cl_2", "pH", "Redox", "Leit", "Trueb")


@dataclass(slots=True)
class GeccoData:
    """Rows of a GECCO-format file: times (epoch s), event parameters (NaN = missing), labels."""

    times: np.ndarray
    values: dict[str, np.ndarray]
    labels: np.ndarray


@dataclass(frozen=True, slots=True)
class GeccoResult:
    """Row-level F1, precision and recall, and how many labelled event segments were hit."""

    f1: float
    precision: float
    recall: float
    events_found: int
    events: int
    alarms: int


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "", "NA"
        return math.nan


def load(path: Path) -> GeccoData:
    """Read a GECCO 2018 CSV (columns ``Time``, the event parameters, ``EVENT``)."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"Time", "EVENT", *EVENT_PARAMS} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        rows = list(reader)
    times = np.array([
        datetime.fromisoformat(r["Time"]).replace(tzinfo=UTC).timestamp() for r in rows
    ])
    values = {p: np.array([_float(r[p]) for r in rows]) for p in EVENT_PARAMS}
    labels = np.array([r["EVENT"].strip().upper() in ("TRUE", "1") for r in rows])
    return GeccoData(times, values, labels)


def segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True as inclusive (start, end) row ranges.

    >>> segments(np.array([0, 1, 1, 0, 1], dtype=bool))
    [(1, 2), (4, 4)]
    """
    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    edges = np.flatnonzero(m[1:] != m[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def score_rows(pred: np.ndarray, labels: np.ndarray) -> GeccoResult:
    """F1 over rows plus the number of labelled segments with at least one predicted row.

    >>> r = score_rows(np.array([0, 1, 1, 0, 0, 0], bool), np.array([0, 0, 1, 1, 0, 1], bool))
    >>> round(r.f1, 3), r.precision, round(r.recall, 3), r.events_found, r.events
    (0.4, 0.5, 0.333, 1, 2)
    """
    tp = int(np.sum(pred & labels))
    fp = int(np.sum(pred & ~labels))
    fn = int(np.sum(~pred & labels))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    segs = segments(labels)
    found = sum(bool(pred[a : b + 1].any()) for a, b in segs)
    return GeccoResult(f1, precision, recall, found, len(segs), len(segments(pred)))


def evaluate(detector: Detector, policy: ThresholdPolicy, data: GeccoData,
             progress: Callable[[int], None] | None = None) -> tuple[GeccoResult, np.ndarray]:
    """Run ``detector`` through ``data`` row by row under ``policy``; the result and scores."""
    n = len(data.times)
    scores = np.empty(n)
    pred = np.zeros(n, dtype=bool)
    cols = {p: v.tolist() for p, v in data.values.items()}
    times = data.times.tolist()
    for i in range(n):
        x = {p: col[i] for p, col in cols.items() if not math.isnan(col[i])}
        d = policy.step(detector, x, times[i])
        scores[i], pred[i] = d.score, d.alarm
        if progress is not None and (i + 1) % 5000 == 0:
            progress(5000)
    if progress is not None:
        progress(n % 5000)
    return score_rows(pred, data.labels), scores
