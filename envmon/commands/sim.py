"""``envmon sim``: run the field simulator offline (CSV + truth), live to MQTT, or plot it."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EXAMPLES = """
  envmon sim --scenario month --out readings.csv --truth truth.jsonl
  envmon sim --scenario month --seed 7 --stations my-network.toml --out r.csv --truth t.jsonl
  envmon sim --scenario demo-night --live --speed 150        # one MQTT node per station
  envmon sim --scenario demo-night --live --hj212 127.0.0.1:21212   # loggers with an MN use HJ 212
  envmon sim plots --out docs/img                            # the figures of docs/simulator.md
"""


def register(sub: argparse._SubParsersAction) -> None:
    from envmon.cli import add_command

    p = add_command(
        sub,
        "sim",
        "field-realistic simulator: readings + ground truth, or live MQTT nodes",
        EXAMPLES,
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=("run", "plots"),
        default="run",
        help="run (default) or plots (PNG figures for docs/simulator.md)",
    )
    p.add_argument(
        "--scenario",
        default="demo-night",
        help="name in seeds/scenarios/ (demo-night, month, stress) or a TOML path",
    )
    p.add_argument(
        "--stations", help="another station registry (same format as seeds/stations.toml)"
    )
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--out", help="readings CSV (offline), or the plot directory (plots)")
    p.add_argument("--truth", help="ground truth JSONL (offline)")
    p.add_argument("--live", action="store_true", help="publish to MQTT in accelerated real time")
    p.add_argument("--speed", type=float, default=150.0, help="live: simulated seconds per second")
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, default=21883)
    p.add_argument(
        "--hj212",
        metavar="HOST:PORT",
        help="live: stations with an hj212_mn talk HJ 212-2017 to this gateway instead of MQTT",
    )
    p.add_argument("--store-dir", help="live: where nodes keep their store-and-forward queues")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envmon.stations import load_registry
    from firmware_sim.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario)
        registry = load_registry(args.stations or scenario.stations_file)
    except (ScenarioError, ValueError) as err:
        print(f"envmon sim: {err}", file=sys.stderr)
        return 2
    if args.seed is not None:
        import dataclasses

        scenario = dataclasses.replace(scenario, seed=args.seed)
    if args.stations:
        from firmware_sim.scenario import for_network

        scenario, foreign = for_network(scenario, registry)
        if foreign:
            print(f"envmon sim: scenario {scenario.name}: scripted events at stations not in {args.stations} "
                  f"left out: {', '.join(foreign)}", file=sys.stderr)
    if args.action == "plots":
        from firmware_sim.plots import make_plots

        out = Path(args.out or "docs/img")
        for f in make_plots(out, registry=registry, progress=not args.no_progress):
            print(f)
        return 0
    if args.live:
        return _live(args, scenario, registry)
    if not args.out and not args.truth:
        print("envmon sim: give --out and/or --truth (or --live)", file=sys.stderr)
        return 2
    return _offline(args, scenario, registry)


def _offline(args: argparse.Namespace, scenario, registry) -> int:
    from tqdm import tqdm

    from firmware_sim.engine import generate

    show = not args.no_progress
    t0 = time.perf_counter()
    n_st = len(registry) + sum(scenario.synthetic.values())
    with tqdm(
        total=n_st, unit="station", desc=f"simulate {scenario.name}", disable=not show
    ) as bar:
        sim = generate(scenario, registry, progress=bar.update)
    t1 = time.perf_counter()
    n = 0
    if args.out:
        with tqdm(
            total=sim.n_readings, unit="row", unit_scale=True, desc="write CSV", disable=not show
        ) as bar:
            n = sim.write_csv(args.out, progress=bar.update)
    if args.truth:
        sim.write_truth(args.truth)
    t2 = time.perf_counter()
    days = scenario.hours / 24
    n = n or sim.n_readings
    print(
        f"scenario {scenario.name} (seed {scenario.seed}): {days:g} simulated days, "
        f"{len(sim.data)} stations, {n:,} readings, {len(sim.truth)} truth events"
        + (f" ({len(sim.unseen)} planned events left no visible trace)" if sim.unseen else "")
    )
    print(
        f"generate {t1 - t0:.1f} s + write {t2 - t1:.1f} s = {t2 - t0:.1f} s: "
        f"{n / (t2 - t0):,.0f} readings/s, {days / (t2 - t0) * 60:,.1f} simulated days per minute"
    )
    if args.out:
        print(f"readings: {args.out}")
    if args.truth:
        print(f"truth:    {args.truth}")
    return 0


def _live(args: argparse.Namespace, scenario, registry) -> int:
    from envmon.mqttio import MqttConfig
    from firmware_sim.live import run_live

    mqtt = MqttConfig(host=args.mqtt_host, port=args.mqtt_port)
    hj212 = None
    if args.hj212:
        host, _, port = args.hj212.rpartition(":")
        if not port.isdigit():
            print(f"envmon sim: --hj212 wants HOST:PORT, got {args.hj212!r}", file=sys.stderr)
            return 2
        hj212 = (host or "127.0.0.1", int(port))
    stats = run_live(
        scenario,
        registry,
        mqtt,
        speed=args.speed,
        progress=not args.no_progress,
        store_dir=args.store_dir,
        hj212=hj212,
    )
    print(
        f"published {stats.published_readings:,} readings ({stats.published_samples:,} samples) "
        f"of {stats.produced_readings:,} in "
        f"{stats.published_messages:,} messages ({stats.batches} batches) from "
        f"{len(stats.per_station)} nodes in {stats.elapsed_s:.1f} s; outages {stats.outages}, "
        f"restarts {stats.restarts}, unsent {stats.failed}, dropped {stats.dropped}"
        + (f"; {stats.hj212_frames:,} HJ 212 frames" if stats.hj212_frames else "")
    )
    return 0 if stats.failed == 0 else 1
