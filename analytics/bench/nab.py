"""Numenta Anomaly Benchmark v1.1: corpus loader, a faithful scorer, and a detector runner.

Scoring follows ``bench/README.md`` (the published NAB rules):

* the first 15 % of each file's rows, at most 750, are probationary and ignored everywhere;
* a detection is a row whose score is ``>= threshold``; one threshold per detector and profile
  is chosen for the whole corpus by sweeping every candidate and keeping the best total;
* in a window ``[L, R]`` only the earliest detection counts, worth
  ``A_tp * σ(y) / σ(-1)`` with ``y = -(R - i + 1) / (R - L + 1)``; an undetected window
  costs ``-A_fn``;
* a detection outside every window is worth ``A_fp * σ(|R' - i| / (W' - 1))`` against the
  preceding window (end ``R'``, width ``W'``), or ``-A_fp`` before the first window;
* ``σ(y) = 2 / (1 + e^(5y)) - 1`` (``-1`` for ``y > 3``);
* normalised score ``100 (S - S_null) / (S_perfect - S_null)``.

The sweep is exact and vectorised: each row contributes a score *change* at the threshold
equal to its own score (a false positive adds its cost; a window row adds the increase of the
window's best value), so one sort and one cumulative sum give the total at every threshold.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from analytics.detectors import Detector

__all__ = [
    "PROFILES",
    "NabFile",
    "Profile",
    "ProfileResult",
    "detector_scores",
    "file_weights",
    "format_table",
    "harness_clone",
    "load_corpus",
    "load_published",
    "probation_rows",
    "scaled_sigmoid",
    "score_corpus",
    "windowed_gaussian",
]


@dataclass(frozen=True, slots=True)
class Profile:
    """Weights of one NAB application profile."""

    name: str
    a_tp: float
    a_fp: float
    a_fn: float


PROFILES: tuple[Profile, ...] = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


@dataclass(slots=True)
class NabFile:
    """One series of the corpus, its windows as inclusive row ranges, and its probation."""

    name: str
    times: np.ndarray  # epoch seconds (the corpus' naive timestamps read as UTC)
    values: np.ndarray
    windows: list[tuple[int, int]] = field(default_factory=list)

    @property
    def probation(self) -> int:
        return probation_rows(len(self.values))


@dataclass(frozen=True, slots=True)
class ProfileResult:
    """Best corpus-wide threshold of one profile and the scores it gives."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float

    @property
    def normalised(self) -> float:
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def probation_rows(n: int) -> int:
    """Rows at the start of a file that are not scored: 15 %, at most 750.

    >>> probation_rows(1000), probation_rows(10000)
    (150, 750)
    """
    return int(min(math.floor(0.15 * n), 0.15 * 5000))


def scaled_sigmoid(y: np.ndarray | float) -> np.ndarray:
    """NAB's ``σ(y) = 2 / (1 + e^(5y)) - 1``, and -1 beyond ``y = 3``.

    >>> [round(float(v), 4) for v in scaled_sigmoid([-1.0, 0.0, 3.5])]
    [0.9866, 0.0, -1.0]
    """
    y = np.asarray(y, dtype=float)
    with np.errstate(over="ignore"):
        s = 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0
    return np.where(y > 3.0, -1.0, s)


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC).timestamp()


def load_corpus(root: Path, names: Iterable[str] | None = None) -> list[NabFile]:
    """Read ``data/`` and ``labels/combined_windows.json`` under ``root`` (all files, sorted)."""
    labels: dict[str, list[list[str]]] = json.loads(
        (root / "labels" / "combined_windows.json").read_text()
    )
    wanted = sorted(labels) if names is None else list(names)
    files = []
    for name in wanted:
        with (root / "data" / name).open(newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        times = np.array([_parse_time(r[0]) for r in rows])
        values = np.array([float(r[1]) for r in rows])
        windows = []
        for start, end in labels[name]:
            lo = int(np.searchsorted(times, _parse_time(start), side="left"))
            hi = int(np.searchsorted(times, _parse_time(end), side="right")) - 1
            windows.append((lo, hi))
        files.append(NabFile(name, times, values, sorted(windows)))
    return files


def load_published(root: Path) -> dict[str, dict[str, float]]:
    """The published normalised scores: detector → profile → score."""
    return json.loads((root / "published_final_results.json").read_text())


def file_weights(n: int, windows: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the window index (-1 outside) and the unweighted value of a detection there.

    Inside a window the value is ``σ(y)/σ(-1)`` (in (0, 1]); outside it is the (negative)
    ``σ`` of the distance past the preceding window, or -1 before the first window.

    >>> win, val = file_weights(8, [(2, 4)])
    >>> win.tolist()
    [-1, -1, 0, 0, 0, -1, -1, -1]
    >>> [round(float(v), 3) for v in val]
    [-1.0, -1.0, 1.0, 0.944, 0.692, -0.848, -0.987, -0.999]
    """
    win = np.full(n, -1, dtype=int)
    val = np.full(n, -1.0)
    idx = np.arange(n)
    top = float(scaled_sigmoid(-1.0))
    for k, (lo, hi) in enumerate(windows):
        width = hi - lo + 1
        win[lo : hi + 1] = k
        val[lo : hi + 1] = scaled_sigmoid(-(hi - idx[lo : hi + 1] + 1) / width) / top
        nxt = windows[k + 1][0] if k + 1 < len(windows) else n
        after = idx[hi + 1 : nxt]
        # A one-row window has no width to measure the distance by; NAB never has one.
        val[hi + 1 : nxt] = scaled_sigmoid(np.abs(hi - after) / max(width - 1, 1))
    return win, val


def _events(files: Sequence[NabFile], scores: Sequence[np.ndarray],
            profile: Profile) -> tuple[np.ndarray, np.ndarray, float]:
    """Threshold events (score, change of the corpus total) and the no-detection total."""
    ev_s: list[np.ndarray] = []
    ev_d: list[np.ndarray] = []
    null = 0.0
    for f, s in zip(files, scores, strict=True):
        s = np.asarray(s, dtype=float)
        if s.shape != f.values.shape:
            raise ValueError(f"{f.name}: {s.shape[0]} scores for {len(f.values)} rows")
        win, val = file_weights(len(s), f.windows)
        keep = np.arange(len(s)) >= f.probation
        fp = keep & (win < 0)
        ev_s.append(s[fp])
        ev_d.append(profile.a_fp * val[fp])
        for k in range(len(f.windows)):
            null -= profile.a_fn
            rows = np.flatnonzero(keep & (win == k))
            if rows.size == 0:
                continue
            order = rows[np.argsort(-s[rows], kind="stable")]
            best = np.maximum.accumulate(profile.a_tp * val[order])
            gain = np.diff(best, prepend=-profile.a_fn)
            ev_s.append(s[order])
            ev_d.append(gain)
    return np.concatenate(ev_s), np.concatenate(ev_d), null


def _sweep(files: Sequence[NabFile], scores: Sequence[np.ndarray],
           profile: Profile) -> tuple[float, float, float]:
    """(best threshold, best total, no-detection total) over every candidate threshold."""
    s, d, null = _events(files, scores, profile)
    order = np.argsort(-s, kind="stable")
    s, d = s[order], d[order]
    total = null + np.cumsum(d)
    # A threshold admits every row with an equal score at once: read the total at the last
    # row of each group of equal scores.
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True)) if s.size else np.array([], int)
    if last.size == 0 or total[last].max() <= null:
        return math.inf, null, null
    best = last[int(np.argmax(total[last]))]
    return float(s[best]), float(total[best]), null


def score_corpus(files: Sequence[NabFile], scores: Sequence[np.ndarray],
                 profiles: Sequence[Profile] = PROFILES) -> dict[str, ProfileResult]:
    """Raw and normalised NAB scores of one detector's scores on ``files``, per profile.

    >>> f = NabFile("toy", np.arange(20.0), np.zeros(20), [(10, 13)])
    >>> hit = np.zeros(20); hit[11] = 1.0         # detection inside the window
    >>> r = score_corpus([f], [hit])["standard"]
    >>> round(r.raw, 4), round(r.normalised, 2)
    (0.967, 98.35)
    >>> hit[16] = 1.0                              # plus a false positive after it
    >>> round(score_corpus([f], [hit])["standard"].raw, 4)
    0.8585

    A constant score is a single candidate threshold (flag every row), and the sweep also
    keeps "flag nothing" (the null score) when that is better:

    >>> round(score_corpus([f], [np.zeros(20)])["standard"].normalised, 2)
    30.72
    >>> g = NabFile("late", np.arange(40.0), np.zeros(40), [(36, 39)])  # 30 rows before it
    >>> score_corpus([g], [np.zeros(40)])["standard"].normalised
    0.0
    """
    perfect = []
    for f in files:
        p = np.zeros(len(f.values))
        p[[lo for lo, _ in f.windows]] = 1.0
        perfect.append(p)
    out = {}
    for prof in profiles:
        thr, raw, null = _sweep(files, scores, prof)
        _, best, _ = _sweep(files, perfect, prof)
        out[prof.name] = ProfileResult(prof.name, thr, raw, null, best)
    return out


def windowed_gaussian(values: np.ndarray, window: int = 6400, step: int = 100) -> np.ndarray:
    """NAB's windowed-Gaussian baseline, vectorised (reference for checking the scorer).

    Row ``i`` is scored by the two-sided normal tail of its value against the mean and
    standard deviation of the values before it while the window fills, then of a window of
    ``window`` values that slides by ``step`` rows once ``step`` new values are buffered.

    >>> s = windowed_gaussian(np.array([1.0, 1.0, 2.0, 1.0, 1.0, 9.0]))
    >>> [round(float(v), 3) for v in s]
    [0.0, 0.5, 1.0, 0.76, 0.718, 1.0]
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    i = np.arange(n)
    # The end (exclusive) of the window of values known before scoring row i.
    end = np.where(i < window, i, window + step * ((i - window) // step))
    start = np.where(i < window, 0, end - window)
    shift = x[0] if n else 0.0  # centring keeps the running sums of squares accurate
    c1 = np.concatenate(([0.0], np.cumsum(x - shift)))
    c2 = np.concatenate(([0.0], np.cumsum((x - shift) ** 2)))
    cnt = np.maximum(end - start, 1)
    mean = (c1[end] - c1[start]) / cnt
    var = np.maximum((c2[end] - c2[start]) / cnt - mean**2, 0.0)
    std = np.sqrt(var)
    std[std == 0.0] = 1e-6
    z = np.abs(x - shift - mean) / std
    erfc = np.frompyfunc(math.erfc, 1, 1)
    score = 1.0 - 0.5 * erfc(z / math.sqrt(2.0)).astype(float)
    score[end == 0] = 0.0
    return score


#: What the official NAB harness tells every detector about a file before streaming it.
HARNESS_PARAMS = ("input_min", "input_max", "probation")


def harness_clone(proto: Detector, values: np.ndarray) -> Detector:
    """A fresh clone of ``proto`` told what NAB's harness tells a detector about a file.

    NAB hands each detector the file's input minimum and maximum and its probationary length
    (CAD OSE and ARTime quantise by that range). A detector that declares any of
    :data:`HARNESS_PARAMS` as a hyperparameter left at ``None`` gets it filled in; nothing
    else about the file (and never its labels) reaches the detector.

    >>> from analytics.detectors import make
    >>> det = harness_clone(make("contextual"), np.array([3.0, 1.0, 2.0]))
    >>> det.input_min, det.input_max, det.probation
    (1.0, 3.0, 0)
    """
    params = proto.get_params()
    given = {"input_min": float(np.min(values)), "input_max": float(np.max(values)),
             "probation": probation_rows(len(values))}
    fill = {k: v for k, v in given.items() if k in params and params[k] is None}
    if not fill:
        return proto.clone()
    return type(proto)(**{**copy.deepcopy(params), **fill})


def _run_file(args: tuple[Detector, np.ndarray, np.ndarray]) -> np.ndarray:
    proto, times, values = args
    det = harness_clone(proto, values)
    out = np.empty(len(values))
    score, learn = det.score_one, det.learn_one
    for i, (t, v) in enumerate(zip(times.tolist(), values.tolist(), strict=True)):
        x = {"value": v}
        out[i] = score(x, t)
        learn(x, t)
    return out


def detector_scores(proto: Detector, files: Sequence[NabFile], workers: int = 2,
                    progress: Callable[[NabFile], None] | None = None) -> list[np.ndarray]:
    """Stream every file through a fresh clone of ``proto`` (score, then learn each row).

    The detector sees ``{"value": v}`` and the timestamp, and, if it asks for them, what the
    NAB harness gives (see :func:`harness_clone`); it never sees the labels.
    """
    jobs = [(proto, f.times, f.values) for f in files]
    # Longest files first so the two workers finish together.
    order = sorted(range(len(files)), key=lambda k: -len(files[k].values))
    results: list[np.ndarray | None] = [None] * len(files)
    if workers <= 1:
        for k in order:
            results[k] = _run_file(jobs[k])
            if progress:
                progress(files[k])
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            it = pool.imap(_run_file, [jobs[k] for k in order])
            for k, res in zip(order, it, strict=True):
                results[k] = res
                if progress:
                    progress(files[k])
    return [r for r in results if r is not None]


def format_table(rows: Sequence[tuple[str, dict[str, float]]],
                 published: dict[str, dict[str, float]] | None = None) -> str:
    """A leaderboard: ours (marked ``*``) among the published detectors, best first."""
    names = {"standard": "standard", "reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}
    table = [(f"* {name}", sc) for name, sc in rows]
    for name, sc in (published or {}).items():
        table.append((f"  {name}", sc))
    table.sort(key=lambda r: -r[1].get("standard", -math.inf))
    lines = [f"{'detector':<28}" + "".join(f"{h:>10}" for h in names.values())]
    for name, sc in table:
        lines.append(f"{name:<28}" + "".join(f"{sc.get(p, math.nan):>10.1f}" for p in names))
    return "\n".join(lines)
