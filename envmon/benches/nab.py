"""``envmon bench nab``: score detectors on the Numenta Anomaly Benchmark v1.1."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from envmon.paths import SHARED

DEFAULT_ROOT = SHARED / "bench" / "nab"


def _param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    for conv in (int, float):
        try:
            return key, conv(raw)
        except ValueError:
            pass
    return key, {"true": True, "false": False}.get(raw.lower(), raw)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "nab",
        help="score detectors on NAB v1.1 (standard / low FP / low FN) next to the leaderboard",
        description="Stream every NAB file through a fresh detector (score, then learn), sweep "
        "one threshold per profile over the whole corpus, and print normalised scores next to "
        "the published ones. 'gaussian' is NAB's windowed-Gaussian baseline (scorer check).",
        epilog="examples:\n  envmon bench nab --detector robust\n"
        "  envmon bench nab --detector spikeshift --detector gaussian\n"
        "  envmon bench nab --detector cusum --param h=6 --workers 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--detector", action="append", metavar="NAME",
                   help="registered detector or 'gaussian' (repeatable; default: spikeshift)")
    p.add_argument("--param", action="append", type=_param, default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter (applied to detectors that have it)")
    p.add_argument("--data", type=str, default=str(DEFAULT_ROOT),
                   help="NAB root with data/, labels/, published_final_results.json")
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from tqdm import tqdm

    from analytics.bench import nab
    from analytics.detectors import DEFAULT_CONFIGS, REGISTRY, make

    root = Path(args.data)
    if not (root / "labels" / "combined_windows.json").exists():
        print(f"NAB data not found under {root} (expected labels/combined_windows.json)",
              file=sys.stderr)
        return 2
    names = args.detector or ["spikeshift"]
    unknown = [n for n in names if n != "gaussian" and n not in REGISTRY]
    if unknown:
        print(f"unknown detector(s) {unknown}; known: gaussian, {', '.join(sorted(REGISTRY))}",
              file=sys.stderr)
        return 2
    files = nab.load_corpus(root)
    rows: list[tuple[str, dict[str, float]]] = []
    for name in names:
        start = time.perf_counter()
        if name == "gaussian":
            label = "windowed gaussian (ours)"
            scores = [nab.windowed_gaussian(f.values) for f in tqdm(files, desc=name, unit="file")]
        else:
            params = {k: v for k, v in args.param if k in DEFAULT_CONFIGS[name]}
            det = make(name, **params)
            label = name + "".join(f" {k}={v}" for k, v in params.items())
            with tqdm(total=sum(len(f.values) for f in files), desc=name, unit="row",
                      unit_scale=True) as bar:
                scores = nab.detector_scores(det, files, workers=args.workers,
                                             progress=lambda f: bar.update(len(f.values)))
        res = nab.score_corpus(files, scores)
        rows.append((label, {k: r.normalised for k, r in res.items()}))
        thr = ", ".join(f"{k} {r.threshold:.4f}" for k, r in res.items())
        print(f"{label}: thresholds {thr}; {time.perf_counter() - start:.0f} s", file=sys.stderr)
        assert all(np.isfinite(r.raw) for r in res.values())
    published = nab.load_published(root) if (root / "published_final_results.json").exists() else {}
    print(f"NAB v1.1, {len(files)} files, {sum(len(f.values) for f in files)} rows "
          f"(* = ours, the rest published)")
    print(nab.format_table(rows, published))
    return 0
