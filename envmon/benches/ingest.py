"""``envmon bench ingest``: MQTT → InfluxDB throughput of ingest against references measured
in the same run, on the private services.

Each phase runs for ``--seconds`` while ``--publishers`` ``mosquitto_pub`` processes (C,
QoS 1, MQTT 5) publish water readings (5 values a message) as fast as the broker takes
them, so every consumer is saturated and a backlog builds up in the broker:

1. broker ceiling: ``mosquitto_sub`` (QoS 1) counting messages;
2. consumer ceiling: a Python subscriber (``envmon.mqttio.Consumer``, manual ack) that only
   counts and acks;
3. naive bridge: paho ``on_message`` → decode → one InfluxDB write per message → ack;
4. ingest, one process (``envmon run --only ingest``), then two sharing the subscription:
   readings stored per second (from its metrics endpoint), peak RSS (VmHWM) while the
   broker backlog grows;
5. delay: publishers at half of the one-process rate stamp each reading with the publish
   time; p50/p99 of stored time − publish time from ingest's lag histogram.

Consumers run as their own processes so they do not share a GIL with the publishers or
with this driver. Every phase uses a fresh shared-subscription group with a short session
expiry, so no backlog carries from one phase to the next.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

VALUES = {"cod": 18.2, "nh3n": 0.41, "do": 6.3, "tp": 0.12, "ph": 7.4}
N_STATIONS = 50
JURS = ("jiashan", "qingpu", "wujiang")
DATA_FILTER = "envmon/v1/+/+/+/data"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="MQTT → InfluxDB ingest throughput, ratios, delay and RSS",
                       description=__doc__, epilog="examples:\n  envmon bench ingest --seconds 30\n"
                       "  envmon bench ingest --seconds 10 --publishers 2",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="length of each phase (default 20)")
    p.add_argument("--publishers", type=int, default=4, help="mosquitto_pub processes (default 4)")
    p.add_argument("--rate", type=float, default=2500.0,
                   help="messages/s offered to the consumers (default 2500: above what one Python consumer "
                        "takes here, so each is saturated, without the feeders eating the 2 CPUs)")
    p.set_defaults(func=run)


@dataclass
class Env:
    mqtt_port: int
    influx_url: str
    root: Path
    stations: Path
    topics: list[str]


def _registry(path: Path, prefix: str) -> list[str]:
    docs, topics = [], []
    for i in range(N_STATIONS):
        sid, jur = f"{prefix}{i:03d}", JURS[i % 3]
        docs.append(f'[[station]]\nid = "{sid}"\nname = "bench {i}"\nmedium = "water"\nkind = "river_section"\n'
                    f'lat = 31.0\nlon = 120.9\njurisdiction = "{jur}"\nriver = "bench"\nwaterbody = "river"\n'
                    f'target_class = "III"\n')
        topics.append(f"envmon/v1/{jur}/water/{sid}/data")
    path.write_text("\n".join(docs))
    return topics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Publishers:
    """``mosquitto_pub -l`` processes, one per topic slice, fed by threads of this process.

    mosquitto_pub publishes each stdin line as one message on one topic, so every publisher
    process owns a few stations (a topic each) and the feeder writes pre-rendered lines.
    ``rate`` None = as fast as the broker takes them; otherwise messages/s in total, with
    each reading stamped with the moment it is handed to mosquitto_pub (for the delay).
    """

    def __init__(self, env: Env, n: int, rate: float | None = None):
        self.env, self.n, self.rate = env, n, rate
        self.procs: list[subprocess.Popen] = []
        self.threads: list[threading.Thread] = []
        self.stop = threading.Event()
        self.sent = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        topics = self.env.topics
        for k in range(self.n):
            for topic in topics[k::self.n][:3]:
                p = subprocess.Popen(["mosquitto_pub", "-p", str(self.env.mqtt_port), "-q", "1", "-V", "mqttv5",
                                      "-t", topic, "-l"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
                self.procs.append(p)
        per_rate = self.rate / len(self.procs) if self.rate else None
        for i, p in enumerate(self.procs):
            th = threading.Thread(target=self._feed, args=(p, i, per_rate), daemon=True)
            th.start()
            self.threads.append(th)

    def _feed(self, p: subprocess.Popen, idx: int, rate: float | None) -> None:
        assert p.stdin is not None
        base = time.time() - 6 * 3600 + idx * 0.001  # distinct points per process
        seq = 0
        t0 = time.monotonic()
        # Rendered once and written again and again: this process must not eat the CPU the
        # consumers are measured on (2 of them on a small box). Repeats are the same points,
        # the same write work for InfluxDB; readings 1 s apart, 6 h back: never future, never late.
        block = "".join(json.dumps({"ts": _ts(base + j), "seq": j, "values": VALUES}, separators=(",", ":")) + "\n"
                        for j in range(20_000)).encode()
        try:
            while not self.stop.is_set():
                if rate is None:
                    p.stdin.write(block)
                    p.stdin.flush()
                    with self._lock:
                        self.sent += 20_000
                    continue
                else:
                    due = int((time.monotonic() - t0) * rate) - seq
                    if due <= 0:
                        time.sleep(0.002)
                        continue
                    now = time.time()
                    chunk = "".join(json.dumps({"ts": _ts(now), "seq": seq + j, "values": VALUES},
                                               separators=(",", ":")) + "\n" for j in range(due))
                    n = due
                p.stdin.write(chunk.encode())
                p.stdin.flush()
                seq += n
                with self._lock:
                    self.sent += n
        except (BrokenPipeError, ValueError):
            pass

    def close(self) -> None:
        self.stop.set()
        for th in self.threads:
            th.join(5)
        for p in self.procs:
            p.kill()
            p.wait()


def _ingest_env(env: Env, group: str, db: str) -> dict[str, str]:
    return {**os.environ, "ENVMON_MQTT_PORT": str(env.mqtt_port), "ENVMON_INFLUX_URL": env.influx_url,
            "ENVMON_INFLUX_DATABASE": db, "ENVMON_STATIONS": str(env.stations), "ENVMON_INGEST_GROUP": group,
            "ENVMON_INGEST_SPOOL_DIR": str(env.root / f"spool-{group}"),
            "ENVMON_INGEST_DEAD_LETTER_FILE": str(env.root / f"dead-{group}.jsonl"),
            "ENVMON_INGEST_SESSION_EXPIRY_S": "5"}


def _scrape(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for ln in text.splitlines():
        if ln.startswith("envmon_ingest"):
            key, _, val = ln.rpartition(" ")
            name = key.split("{")[0]
            if "_bucket" in name:
                name += "|" + key.split('le="')[1].split('"')[0]
            out[name] = out.get(name, 0.0) + float(val)
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _vm_hwm_mb(pid: int) -> float:
    for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
        if ln.startswith("VmHWM:"):
            return int(ln.split()[1]) / 1024
    return 0.0


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def broker_ceiling(env: Env, args: argparse.Namespace) -> float:
    group = f"bsub{uuid.uuid4().hex[:6]}"
    sub = subprocess.Popen(f"mosquitto_sub -p {env.mqtt_port} -q 1 -V mqttv5 -t '$share/{group}/{DATA_FILTER}' "
                           f"-W {int(args.seconds) + 1} | wc -l", shell=True, stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)  # mosquitto_sub gives no subscribed signal; -W counts from its own start
    pubs = Publishers(env, args.publishers)
    pubs.start()
    out, _ = sub.communicate(timeout=args.seconds + 30)
    pubs.close()
    return int(out.strip() or 0) / args.seconds


def python_consumer(env: Env, args: argparse.Namespace, role: str) -> tuple[float, float, float]:
    """The counting subscriber or the naive bridge, in its own process;
    (msgs/s, readings/s, msgs per CPU-second of that process)."""
    group = f"{role}{uuid.uuid4().hex[:6]}"
    db = f"bench_{group}"
    proc = subprocess.Popen([sys.executable, "-m", "envmon.benches.ingest", role, group, str(args.seconds)],
                            env=_ingest_env(env, group, db), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    pubs = Publishers(env, args.publishers, rate=args.rate)
    pubs.start()
    line = proc.stdout.readline()
    pubs.close()
    proc.wait(30)
    msgs, readings, cpu = (float(x) for x in line.split())
    _drop_db(env, db)
    return msgs / args.seconds, readings / args.seconds, msgs / cpu if cpu else 0.0


def _drop_db(env: Env, db: str) -> None:
    from envmon.influx import InfluxClient, InfluxConfig

    InfluxClient(InfluxConfig(url=env.influx_url, database=db)).drop_database(db)


def ingest_processes(env: Env, args: argparse.Namespace, n: int, rate: float | None = None) -> dict[str, float]:
    """``n`` ingest processes sharing one group; rates from their metrics endpoints."""
    group = f"ing{uuid.uuid4().hex[:6]}"
    db = f"bench_{group}"
    procs, ports = [], []
    for i in range(n):
        port = _free_port()
        argv = [str(Path(sys.executable).parent / "envmon"), "run", "--only", "ingest", "--worker",
                f"{group}-{i}", "--metrics-port", str(port)]
        procs.append(subprocess.Popen(argv, env=_ingest_env(env, group, db), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        ports.append(port)
    try:
        _wait(lambda: all(_scrape(p) for p in ports), 30, "ingest metrics endpoints")
        pubs = Publishers(env, args.publishers, rate=rate)
        pubs.start()
        warm = min(3.0, args.seconds / 4)
        time.sleep(warm)  # let the backlog form and the pipeline fill before measuring
        before = [_scrape(p) for p in ports]
        cpu0 = sum(_cpu_seconds(p.pid) for p in procs)
        t0 = time.monotonic()
        time.sleep(args.seconds)
        after = [_scrape(p) for p in ports]
        cpu = sum(_cpu_seconds(p.pid) for p in procs) - cpu0
        dt = time.monotonic() - t0
        sent = pubs.sent
        pubs.close()
        acked = sum(a["envmon_ingest_acked_messages_total"] - b["envmon_ingest_acked_messages_total"]
                    for a, b in zip(after, before, strict=True))
        written = sum(a["envmon_ingest_written_readings_total"] - b["envmon_ingest_written_readings_total"]
                      for a, b in zip(after, before, strict=True))
        received_all = sum(a["envmon_ingest_received_messages_total"] for a in after)
        res = {"msgs": acked / dt, "readings": written / dt, "rss_mb": max(_vm_hwm_mb(p.pid) for p in procs),
               "per_cpu": acked / cpu if cpu else 0.0,
               "backlog": max(0.0, sent - received_all)}
        if rate is not None:
            res.update(_quantiles(after))
        return res
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        _drop_db(env, db)


def _quantiles(scrapes: list[dict[str, float]]) -> dict[str, float]:
    """p50/p99 from the per-message lag histogram, interpolated within buckets like
    Prometheus' histogram_quantile."""
    key = "envmon_ingest_lag_seconds_per_message_bucket|"
    buckets: dict[float, float] = {}
    for s in scrapes:
        for k, v in s.items():
            if k.startswith(key):
                le = float(k[len(key):])
                buckets[le] = buckets.get(le, 0.0) + v
    les = sorted(buckets)
    total = buckets[les[-1]] if les else 0.0
    out = {}
    for q in (0.5, 0.99):
        rank, prev_le, prev_c = q * total, 0.0, 0.0
        for le in les:
            if buckets[le] >= rank:
                hi = le if le != float("inf") else prev_le
                frac = (rank - prev_c) / (buckets[le] - prev_c) if buckets[le] > prev_c else 0.0
                out[f"p{int(q * 100)}"] = prev_le + (hi - prev_le) * frac
                break
            prev_le, prev_c = le, buckets[le]
    return out


def run(args: argparse.Namespace) -> int:
    from envmon.influx import InfluxClient, InfluxConfig
    from envmon.mqttio import MqttConfig, wait_for_broker
    from envmon.services import Ports

    if shutil.which("mosquitto_pub") is None or shutil.which("mosquitto_sub") is None:
        print("error: mosquitto_pub/mosquitto_sub missing (Debian package mosquitto-clients)", file=sys.stderr)
        return 2
    ports = Ports.from_env()
    url = f"http://127.0.0.1:{ports.influx}"
    try:
        wait_for_broker(MqttConfig(port=ports.mqtt), timeout=5)
        InfluxClient(InfluxConfig(url=url)).wait_ready(5)
    except Exception as err:
        print(f"error: {err}\n  start the private services: make services-up", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="envmon-bench-ingest-"))
    topics = _registry(root / "stations.toml", f"B{uuid.uuid4().hex[:5]}_")
    env = Env(ports.mqtt, url, root, root / "stations.toml", topics)
    print(f"envmon bench ingest: {args.seconds:.0f} s per phase, {args.publishers} mosquitto_pub feeders "
          f"(QoS 1, MQTT 5), {len(VALUES)} readings a message, {os.cpu_count()} CPUs; consumers are offered "
          f"{args.rate:,.0f} msgs/s (the broker ceiling: as fast as the feeders go)", flush=True)
    try:
        print("  broker ceiling (mosquitto_sub counting) ...", flush=True)
        broker = broker_ceiling(env, args)
        print(f"    {broker:,.0f} msgs/s", flush=True)
        print("  consumer ceiling (Python subscriber that only counts) ...", flush=True)
        counter, _, counter_cpu = python_consumer(env, args, "counter")
        print(f"    {counter:,.0f} msgs/s ({counter_cpu:,.0f} per CPU-second)", flush=True)
        print("  naive bridge (one InfluxDB write per message) ...", flush=True)
        naive, naive_r, naive_cpu = python_consumer(env, args, "naive")
        print(f"    {naive:,.0f} msgs/s, {naive_r:,.0f} readings/s ({naive_cpu:,.0f} per CPU-second)", flush=True)
        print("  ingest, one process ...", flush=True)
        one = ingest_processes(env, args, 1, rate=args.rate)
        print(f"    {one['msgs']:,.0f} msgs/s, {one['readings']:,.0f} readings/s", flush=True)
        print("  ingest, two processes sharing the subscription ...", flush=True)
        two = ingest_processes(env, args, 2, rate=args.rate)
        print(f"    {two['msgs']:,.0f} msgs/s, {two['readings']:,.0f} readings/s", flush=True)
        rate = max(100.0, one["msgs"] / 2)
        print(f"  delay at {rate:,.0f} msgs/s (half the one-process rate), one process ...", flush=True)
        lat = ingest_processes(env, args, 1, rate=rate)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "n/a"

    print()
    print(f"{'':44s}{'msgs/s':>10s}{'readings/s':>12s}")
    print(f"{'broker ceiling (mosquitto_sub)':44s}{broker:10,.0f}")
    print(f"{'consumer ceiling (Python, count + ack)':44s}{counter:10,.0f}")
    print(f"{'naive bridge (write per message)':44s}{naive:10,.0f}{naive_r:12,.0f}")
    print(f"{'ingest x1':44s}{one['msgs']:10,.0f}{one['readings']:12,.0f}")
    print(f"{'ingest x2 (shared subscription)':44s}{two['msgs']:10,.0f}{two['readings']:12,.0f}")
    print()
    print(f"ingest x1 / consumer ceiling     {ratio(one['msgs'], counter):>6s}   (target >= 0.70)")
    print(f"  per CPU-second of the process: ingest x1 {one['per_cpu']:,.0f}, consumer ceiling "
          f"{counter_cpu:,.0f}, naive bridge {naive_cpu:,.0f} msgs -> ratio "
          f"{ratio(one['per_cpu'], counter_cpu)} (the consumer's own cost, whatever else loads the CPUs)")
    if max(one["msgs"], counter) >= 0.95 * args.rate:
        print(f"  note: consumers kept up with the offered {args.rate:,.0f} msgs/s: the wall-clock ratios say "
              "'keeps up', not 'is slower'; raise --rate while the feeders can (broker ceiling above)")
    print(f"ingest x2 / ingest x1            {ratio(two['msgs'], one['msgs']):>6s}   (target >= 1.6)")
    print(f"ingest x1 / naive bridge         {ratio(one['msgs'], naive):>6s}   (target >= 20)")
    print(f"consumer ceiling / broker        {ratio(counter, broker):>6s}")
    print(f"publish -> stored delay at {rate:,.0f} msgs/s: p50 {lat.get('p50', 0) * 1000:,.0f} ms, "
          f"p99 {lat.get('p99', 0) * 1000:,.0f} ms")
    print(f"peak RSS per ingest process: x1 {one['rss_mb']:.0f} MB with a broker backlog of "
          f"{one['backlog']:,.0f} msgs; x2 {two['rss_mb']:.0f} MB with {two['backlog']:,.0f}; "
          f"delay run {lat['rss_mb']:.0f} MB")
    return 0


def _child(role: str, group: str, seconds: float) -> int:
    """Counting subscriber / naive bridge process: prints ``ready``, then ``msgs readings``."""
    from envmon.influx import InfluxClient, InfluxError
    from envmon.mqttio import Consumer, Message
    from envmon.params import load_parameters
    from envmon.settings import load_settings
    from envmon.stations import load_registry
    from envmon.topics import shared
    from ingest.decode import QualityGate
    from ingest.lines import PRECISION, LineBuilder

    settings = load_settings()
    registry = load_registry(settings.stations)
    counts = [0, 0]
    lock = threading.Lock()
    influx = InfluxClient(settings.influx)
    gate = QualityGate(registry, load_parameters())
    builder = LineBuilder(registry)
    started = threading.Event()
    t_end = [0.0]

    def count(m: Message) -> None:
        m.ack()
        if started.is_set() and time.monotonic() < t_end[0]:
            counts[0] += 1

    def naive(m: Message) -> None:
        # What a first bridge looks like: every message its own HTTP write, then the ack.
        d = gate.decode(m.topic, m.payload)
        if d.readings:
            try:
                influx.write_lines(builder.build(d.readings)[0], precision=PRECISION)
            except InfluxError:
                return  # left unacked: redelivered
        m.ack()
        if started.is_set() and time.monotonic() < t_end[0]:
            with lock:
                counts[0] += 1
                counts[1] += len(d.readings)

    if role == "naive":
        influx.create_database()
    c = Consumer(settings.mqtt, f"{group}-c", [shared(group, DATA_FILTER)], count if role == "counter" else naive,
                 receive_maximum=settings.ingest.max_inflight, session_expiry=5)
    c.start()
    print("ready", flush=True)
    time.sleep(min(3.0, seconds / 4))  # same warm-up as the ingest phases
    t_end[0] = time.monotonic() + seconds
    cpu0 = time.process_time()  # every thread of this process, user + system
    started.set()
    time.sleep(seconds)
    print(f"{counts[0]} {counts[1]} {time.process_time() - cpu0:.3f}", flush=True)
    c.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2], float(sys.argv[3])))
