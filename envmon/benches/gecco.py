"""``envmon bench gecco``: online event detection on the GECCO 2018 water-quality data."""

from __future__ import annotations

import argparse
import sys
import time

from envmon.benches.nab import _param
from envmon.paths import SHARED

DEFAULT_FILE = SHARED / "bench" / "gecco2018" / "train.csv"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gecco",
        help="F1 over rows on GECCO 2018 drinking-water events (online, causal)",
        description="Feed the rows one at a time (Cl, Cl_2, pH, Redox, Leit, Trueb; missing "
        "values left out) to a detector under a fixed threshold policy and report F1 over "
        "rows, precision, recall and the labelled event segments found.",
        epilog="examples:\n  envmon bench gecco\n  envmon bench gecco --detector canary "
        "--threshold 0.99\n  envmon bench gecco --data other.csv --param outlier_sigma=5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--detector", default="canary", help="registered detector (default canary)")
    p.add_argument("--param", action="append", type=_param, default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter")
    p.add_argument("--threshold", type=float, default=0.99,
                   help="alarm threshold of the policy (default 0.99, fixed in advance)")
    p.add_argument("--protect", action="store_true",
                   help="do not learn from rows just flagged (off: canary keeps its outliers "
                   "out of its history itself, and protecting would freeze it in a new level)")
    p.add_argument("--data", default=str(DEFAULT_FILE), help="a CSV with the GECCO columns")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from analytics.bench import gecco
    from analytics.detectors import REGISTRY, ThresholdPolicy, make

    path = Path(args.data)
    if not path.exists():
        print(f"GECCO data not found: {path}", file=sys.stderr)
        return 2
    if args.detector not in REGISTRY:
        print(f"unknown detector {args.detector!r}; known: {', '.join(sorted(REGISTRY))}",
              file=sys.stderr)
        return 2
    data = gecco.load(path)
    det = make(args.detector, **dict(args.param))
    policy = ThresholdPolicy(args.threshold, protect=args.protect)
    start = time.perf_counter()
    with tqdm(total=len(data.times), desc=args.detector, unit="row", unit_scale=True) as bar:
        res, _ = gecco.evaluate(det, policy, data, progress=bar.update)
    print(f"GECCO 2018 {path.name}: {len(data.times)} rows, {det!r}, {policy!r}, "
          f"{time.perf_counter() - start:.0f} s")
    print(f"{'F1 (rows)':<14}{res.f1:8.3f}\n{'precision':<14}{res.precision:8.3f}\n"
          f"{'recall':<14}{res.recall:8.3f}\n"
          f"{'events found':<14}{res.events_found:4d} of {res.events}\n"
          f"{'alarm runs':<14}{res.alarms:8d}")
    return 0
