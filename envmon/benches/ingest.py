"""``envmon bench ingest``: MQTT → InfluxDB throughput of ingest against references measured
in the same run, on the private services. Two measurements, printed together:

**Live** (``--seconds`` per phase): ``--publishers`` ``mosquitto_pub`` processes (C, QoS 1,
MQTT 5) offer ``--rate`` messages/s of water readings (5 values a message) while one
consumer runs:

1. broker ceiling: ``mosquitto_sub`` (QoS 1) counting messages (unthrottled feeders);
2. consumer ceiling: a Python subscriber (``envmon.mqttio.Consumer``, manual ack) that only
   counts and acks;
3. naive bridge: paho ``on_message`` → one synchronous InfluxDB write per message → ack
   (see ``_naive_bridge``: the tutorials' shape, keep-alive HTTP, influxdb-client ``Point``);
4. ingest, one process (``envmon run --only ingest``), then two sharing the subscription:
   rates from its metrics endpoint, messages per CPU-second of the process;
5. delay: publishers at half of the one-process rate stamp each reading with the publish
   time; p50/p99 of stored time − publish time from ingest's lag histogram.

On a small machine the feeders and the broker take CPU from the consumer measured, and
cannot offer more than one consumer takes: live figures say "keeps up".

**Backlog drain** (``--backlog`` messages): for each consumer its persistent session
(MQTT 5, clean start off, session expiry; for two ingest processes one session each in
one shared group) is created first and left, the same ``--backlog`` distinct QoS 1
messages are pre-loaded (the broker queues them: ``max_queued_messages 0``), and only then
is the consumer started: no publisher runs while it drains. Rate = messages / time until
the backlog is gone (``mosquitto_sub -C``; the counter's last message; for ingest, every
message acknowledged, i.e. stored, and the points then counted in InfluxDB). The naive
bridge drains a ``--naive-seconds`` slice (its points counted in InfluxDB). CPU of each
consumer process, of the broker and influxd and of everything else on the machine is
measured over each drain.

Consumers run as their own processes so they do not share a GIL with the publishers or
with this driver. Every phase uses a fresh shared-subscription group and database.
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
# MQTT 5 Receive Maximum of every consumer measured here (ingest's default ingest.max_inflight).
RECEIVE_MAXIMUM = 2000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="MQTT → InfluxDB ingest throughput (live and backlog drain), ratios, "
                       "delay and RSS", description=__doc__,
                       epilog="examples:\n"
                       "  envmon bench ingest                                  # both, defaults\n"
                       "  envmon bench ingest --seconds 15 --rate 6000 --backlog 200000\n"
                       "  envmon bench ingest --only drain --backlog 50000     # quick: drain only\n"
                       "  envmon bench ingest --only drain --repeat 3          # best of 3 on a shared machine\n"
                       "  envmon bench ingest --only live --seconds 10 --publishers 2",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="length of each live phase (default 20)")
    p.add_argument("--publishers", type=int, default=4, help="mosquitto_pub processes, live (default 4)")
    p.add_argument("--rate", type=float, default=2500.0,
                   help="messages/s offered to the consumers live (default 2500: above what one Python consumer "
                        "takes here, so each is saturated, without the feeders eating the 2 CPUs)")
    p.add_argument("--backlog", type=int, default=100_000,
                   help="messages pre-loaded for each consumer of the drain (default 100000)")
    p.add_argument("--naive-seconds", type=float, default=10.0,
                   help="length of the naive bridge's slice of the drain (default 10)")
    p.add_argument("--repeat", type=int, default=1,
                   help="drain every consumer this many times, in rounds, and keep each one's best (on a "
                        "shared machine other jobs slow some tries; every try is printed; default 1)")
    p.add_argument("--only", choices=("live", "drain"), help="run one of the two measurements")
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


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM every consumer process, then kill what has not exited within 20 s."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


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
        _stop(procs)
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



# -- backlog drain ------------------------------------------------------------------------------
BACKLOG_TOPICS = 10
BACKLOG_EXPIRY_S = 900  # the session outlives pre-load and drain; removed after each phase


def _service_pids() -> dict[str, int]:
    """pids of the private broker and influxd (from the pid files of ``envmon.services``)."""
    from envmon.paths import RUN_DIR

    out = {}
    for name, rel in (("broker", "mosquitto/mosquitto.pid"), ("influxd", "influxdb/influxd.pid")):
        try:
            pid = int((RUN_DIR / rel).read_text().strip())
            _cpu_seconds(pid)
        except (OSError, ValueError):
            continue
        out[name] = pid
    return out


def _machine_cpu_seconds() -> float:
    """CPU time used on the whole machine (all cores, every process), from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = f
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used by named processes between :meth:`start` and :meth:`stop`, in cores, and by
    everything else on the machine (``others``: this driver, other users' jobs, the kernel)."""

    def __init__(self, pids: dict[str, int]):
        self.pids = dict(pids)
        self._t0 = self._m0 = 0.0
        self._c0: dict[str, float] = {}

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._m0 = _machine_cpu_seconds()
        self._c0 = {k: _cpu_seconds(p) for k, p in self.pids.items()}

    def stop(self, extra: dict[str, float] | None = None) -> dict[str, float]:
        """``extra``: CPU-seconds of processes measured otherwise (one that has exited)."""
        dt = time.monotonic() - self._t0
        out = {}
        for k, p in self.pids.items():
            try:
                out[k] = (_cpu_seconds(p) - self._c0[k]) / dt
            except OSError:
                out[k] = 0.0
        for k, v in (extra or {}).items():
            out[k] = v / dt
        out["others"] = max(0.0, (_machine_cpu_seconds() - self._m0) / dt - sum(out.values()))
        return out


class Backlog:
    """The same ``n`` distinct QoS 1 messages, pre-loaded into a consumer's persistent session.

    :meth:`subscribe` creates the consumer's session (MQTT 5, clean start off, session expiry)
    and its shared subscription and disconnects, so the broker queues for it (our broker
    configuration has ``max_queued_messages 0``: unbounded); :meth:`load` publishes the
    messages (``mosquitto_pub -l``, QoS 1) while no consumer runs; then the consumer starts
    and drains with the CPUs to itself, the broker and influxd. :meth:`forget` removes the
    session (a clean-start connection with expiry 0) and whatever it still held.
    """

    def __init__(self, env: Env, n: int):
        self.env, self.n = env, n
        topics = env.topics[:BACKLOG_TOPICS]
        base = time.time() - 6 * 3600  # 100 ms apart: ~2 M messages before any is in the future
        self.files: list[tuple[str, Path]] = []
        for i, topic in enumerate(topics):
            k = n // len(topics) + (1 if i < n % len(topics) else 0)
            path = env.root / f"backlog-{i}.jsonl"
            path.write_bytes("".join(json.dumps({"ts": _ts(base + j * 0.1), "seq": j, "values": VALUES},
                                                separators=(",", ":")) + "\n" for j in range(k)).encode())
            self.files.append((topic, path))

    def _sub(self, *extra: str) -> list[str]:
        return ["mosquitto_sub", "-p", str(self.env.mqtt_port), "-V", "mqttv5", "-q", "1", *extra]

    def subscribe(self, client_ids: list[str], group: str) -> None:
        for cid in client_ids:
            subprocess.run(self._sub("-c", "-i", cid, "-x", str(BACKLOG_EXPIRY_S), "-t", shared_filter(group),
                                     "-E"), check=True, timeout=30, stdout=subprocess.DEVNULL)

    def load(self) -> float:
        """Publish the ``n`` messages; seconds it took."""
        t0 = time.monotonic()
        procs = []
        for topic, path in self.files:
            with path.open("rb") as f:
                procs.append(subprocess.Popen(["mosquitto_pub", "-p", str(self.env.mqtt_port), "-q", "1", "-V",
                                               "mqttv5", "-t", topic, "-l"], stdin=f, stdout=subprocess.DEVNULL))
        for p in procs:
            if p.wait(600) != 0:
                raise RuntimeError(f"mosquitto_pub exited with {p.returncode} while pre-loading the backlog")
        return time.monotonic() - t0

    def forget(self, client_ids: list[str]) -> None:
        for cid in client_ids:
            subprocess.run(self._sub("-i", cid, "-t", "envmon/bench/none", "-E"), timeout=30,
                           stdout=subprocess.DEVNULL)


def shared_filter(group: str) -> str:
    return f"$share/{group}/{DATA_FILTER}"


def _drain_timeout(n: int) -> float:
    return 120 + n / 500  # far above any rate here: a stall is an error, not a figure


def drain_broker(env: Env, backlog: Backlog) -> dict[str, float]:
    """``mosquitto_sub`` draining the backlog: the broker ceiling without publishers."""
    group = f"dsub{uuid.uuid4().hex[:6]}"
    cid = f"{group}-0"
    backlog.subscribe([cid], group)
    load_s = backlog.load()
    cpu = CpuMeter(_service_pids())
    cpu.start()
    t0 = time.monotonic()
    p = subprocess.Popen(backlog._sub("-c", "-i", cid, "-x", str(BACKLOG_EXPIRY_S), "-t", shared_filter(group),
                                      "-C", str(backlog.n), "-D", "connect", "receive-maximum", str(RECEIVE_MAXIMUM)),
                         stdout=subprocess.DEVNULL)
    watchdog = threading.Timer(_drain_timeout(backlog.n), p.kill)
    watchdog.start()
    try:
        _, status, usage = os.wait4(p.pid, 0)  # its CPU time, which /proc no longer has once it exited
        p.returncode = os.waitstatus_to_exitcode(status)
        dt = time.monotonic() - t0
        cores = cpu.stop({"consumer": usage.ru_utime + usage.ru_stime})
    finally:
        watchdog.cancel()
        backlog.forget([cid])
    if p.returncode != 0:
        raise RuntimeError(f"mosquitto_sub did not receive the {backlog.n:,} pre-loaded messages "
                           f"(exit {p.returncode})")
    return {"msgs": backlog.n / dt, "seconds": dt, "load_s": load_s, "count": backlog.n,
            "per_cpu": backlog.n / (cores["consumer"] * dt) if cores["consumer"] else 0.0, **cores}


def drain_python(env: Env, backlog: Backlog, role: str, slice_s: float | None = None) -> dict[str, float]:
    """The counting subscriber (drains everything) or the naive bridge (``slice_s`` seconds of
    the drain, then stored points counted in InfluxDB), each in its own process."""
    group = f"d{role}{uuid.uuid4().hex[:6]}"
    cid = f"{group}-c"
    db = f"bench_{group}"
    backlog.subscribe([cid], group)
    load_s = backlog.load()
    pids = _service_pids()
    arg = str(slice_s) if slice_s is not None else str(backlog.n)
    proc = subprocess.Popen([sys.executable, "-m", "envmon.benches.ingest", f"drain-{role}", group, arg],
                            env={**_ingest_env(env, group, db),
                                 "ENVMON_INGEST_SESSION_EXPIRY_S": str(BACKLOG_EXPIRY_S)},
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "starting"
        cpu = CpuMeter({"consumer": proc.pid, **pids})
        cpu.start()
        line = proc.stdout.readline()
        cores = cpu.stop()
        proc.wait(60)
        if not line.strip():
            raise RuntimeError(f"the {role} consumer ended without a result")
        msgs, readings, seconds, own_cpu = (float(x) for x in line.split())
        if role == "naive":
            from envmon.influx import InfluxClient, InfluxConfig

            stored = InfluxClient(InfluxConfig(url=env.influx_url, database=db)).count("water", "cod")
            msgs, readings = float(stored), float(stored * len(VALUES))
        elif msgs < backlog.n:
            raise RuntimeError(f"the counter received {msgs:,.0f} of {backlog.n:,} pre-loaded messages")
        return {"msgs": msgs / seconds, "readings": readings / seconds, "seconds": seconds, "count": msgs,
                "load_s": load_s, "per_cpu": msgs / own_cpu if own_cpu else 0.0, **cores}
    finally:
        if proc.poll() is None:
            proc.kill()
        backlog.forget([cid])
        _drop_db(env, db)


def drain_ingest(env: Env, backlog: Backlog, n: int) -> dict[str, float]:
    """``n`` ingest processes (``envmon run --only ingest``, one session each in one shared
    group) draining the backlog; done when every message is acknowledged, i.e. stored;
    the stored points are then counted in InfluxDB."""
    group = f"ding{uuid.uuid4().hex[:6]}"
    db = f"bench_{group}"
    workers = [f"{group}-{i}" for i in range(n)]
    backlog.subscribe(workers, group)
    load_s = backlog.load()
    procs, ports = [], []
    for w in workers:
        port = _free_port()
        argv = [str(Path(sys.executable).parent / "envmon"), "run", "--only", "ingest", "--worker", w,
                "--metrics-port", str(port)]
        procs.append(subprocess.Popen(argv, env=_ingest_env(env, group, db), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        ports.append(port)
    key = "envmon_ingest_acked_messages_total"
    try:
        # The rate counts from the first moment every metrics endpoint answers (the
        # processes are draining by then): start-up and imports are not in it.
        deadline = time.monotonic() + 60
        while True:
            scrapes = [_scrape(p) for p in ports]
            if all(scrapes):
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("ingest did not start (metrics endpoint)")
            time.sleep(0.02)
        cpu = CpuMeter({**{f"ingest{i}": p.pid for i, p in enumerate(procs)}, **_service_pids()})
        cpu.start()
        t0 = time.monotonic()
        acked0 = sum(s[key] for s in scrapes)
        deadline = t0 + _drain_timeout(backlog.n)
        while True:
            acked = sum(_scrape(p).get(key, 0.0) for p in ports)
            now = time.monotonic()
            if acked >= backlog.n:
                break
            if now > deadline:
                raise RuntimeError(f"ingest acknowledged {acked:,.0f} of the {backlog.n:,} pre-loaded messages")
            # Scraping costs the measured process CPU: few scrapes, close together only near
            # the end (a third of the expected remaining time, 20 ms .. 1 s).
            rate = (acked - acked0) / (now - t0) if now > t0 and acked > acked0 else 0.0
            time.sleep(min(1.0, max(0.02, (backlog.n - acked) / rate / 3)) if rate else 0.1)
        dt = time.monotonic() - t0
        cores = cpu.stop()
        rss = max(_vm_hwm_mb(p.pid) for p in procs)
        written = sum(_scrape(p)["envmon_ingest_written_readings_total"] for p in ports)
    finally:
        _stop(procs)
    try:
        from envmon.influx import InfluxClient, InfluxConfig

        stored = InfluxClient(InfluxConfig(url=env.influx_url, database=db)).count("water", "cod")
    finally:
        _drop_db(env, db)
    if stored != backlog.n:  # at-least-once is the point of ingest: a loss is an error, not a figure
        raise RuntimeError(f"ingest x{n} acknowledged every message but InfluxDB holds {stored:,} of {backlog.n:,}")
    per_msg = written / backlog.n
    msgs = (backlog.n - acked0) / dt
    ingest_cpu = sum(cores[f"ingest{i}"] for i in range(n))
    return {"msgs": msgs, "readings": msgs * per_msg, "seconds": dt, "count": stored, "load_s": load_s,
            "rss_mb": rss, "per_cpu": msgs / ingest_cpu if ingest_cpu else 0.0, "acked_before": acked0, **cores}

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
    live = args.only in (None, "live")
    drain = args.only in (None, "drain")
    print(f"envmon bench ingest: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start, "
          f"{len(VALUES)} readings a message, Receive Maximum {RECEIVE_MAXIMUM} for every Python consumer", flush=True)
    res: dict[str, dict] = {}
    try:
        if live:
            res["live"] = _run_live(env, args)
        if drain:
            res["drain"] = _run_drain(env, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if live:
        _report_live(args, res["live"])
    if drain:
        _report_drain(args, res["drain"])
    return 0


def _run_live(env: Env, args: argparse.Namespace) -> dict[str, dict]:
    print(f"live: {args.seconds:.0f} s per phase, {args.publishers} mosquitto_pub feeders (QoS 1, MQTT 5); "
          f"consumers are offered {args.rate:,.0f} msgs/s (the broker ceiling: as fast as the feeders go)",
          flush=True)
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
    return {"broker": {"msgs": broker}, "counter": {"msgs": counter, "per_cpu": counter_cpu},
            "naive": {"msgs": naive, "readings": naive_r, "per_cpu": naive_cpu}, "one": one, "two": two,
            "lat": {**lat, "rate": rate}}


def _cores(r: dict[str, float]) -> str:
    names = [k for k in r if k.startswith("ingest") or k in ("consumer", "broker", "influxd", "others")]
    return ", ".join(f"{k} {r[k]:.2f}" for k in names)


def _run_drain(env: Env, args: argparse.Namespace) -> dict[str, dict]:
    n = args.backlog
    print(f"backlog drain: {n:,} distinct QoS 1 messages pre-loaded into each consumer's persistent session "
          f"({BACKLOG_TOPICS} mosquitto_pub -l, no consumer connected), then the consumer drains them with no "
          "publisher running; CPU in cores over each drain", flush=True)
    backlog = Backlog(env, n)
    out: dict[str, dict] = {}
    steps = [("broker", "broker ceiling (mosquitto_sub -C draining)", lambda: drain_broker(env, backlog)),
             ("counter", "consumer ceiling (Python subscriber that only counts)",
              lambda: drain_python(env, backlog, "counter")),
             ("naive", f"naive bridge, a {args.naive_seconds:.0f} s slice of the drain",
              lambda: drain_python(env, backlog, "naive", args.naive_seconds)),
             ("one", "ingest, one process", lambda: drain_ingest(env, backlog, 1)),
             ("two", "ingest, two processes (two sessions in one shared group)", lambda: drain_ingest(env, backlog, 2))]
    for round_ in range(1, args.repeat + 1):
        if args.repeat > 1:
            print(f" round {round_} of {args.repeat}", flush=True)
        for key, label, fn in steps:
            print(f"  {label} ...", flush=True)
            r = fn()
            if key not in out or r["msgs"] > out[key]["msgs"]:
                out[key] = r
            stored = f", {r['count']:,.0f} stored" if key != "counter" and key != "broker" else ""
            print(f"    pre-loaded in {r['load_s']:.1f} s; {r['msgs']:,.0f} msgs/s over {r['seconds']:.1f} s"
                  f"{stored} ({r['per_cpu']:,.0f} per CPU-second); cores: {_cores(r)}", flush=True)
    return out


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def _report_live(args: argparse.Namespace, r: dict[str, dict]) -> None:
    broker, counter, naive, one, two, lat = (r[k] for k in ("broker", "counter", "naive", "one", "two", "lat"))
    print()
    print(f"live, {args.seconds:.0f} s per phase at {args.rate:,.0f} msgs/s offered"
          f"{'':8s}msgs/s  readings/s")
    print(f"{'broker ceiling (mosquitto_sub)':44s}{broker['msgs']:10,.0f}")
    print(f"{'consumer ceiling (Python, count + ack)':44s}{counter['msgs']:10,.0f}")
    print(f"{'naive bridge (write per message)':44s}{naive['msgs']:10,.0f}{naive['readings']:12,.0f}")
    print(f"{'ingest x1':44s}{one['msgs']:10,.0f}{one['readings']:12,.0f}")
    print(f"{'ingest x2 (shared subscription)':44s}{two['msgs']:10,.0f}{two['readings']:12,.0f}")
    print(f"ingest x1 / consumer ceiling     {_ratio(one['msgs'], counter['msgs']):>6s}   (target >= 0.70)")
    print(f"  per CPU-second of the process: ingest x1 {one['per_cpu']:,.0f}, consumer ceiling "
          f"{counter['per_cpu']:,.0f}, naive bridge {naive['per_cpu']:,.0f} msgs -> ratio "
          f"{_ratio(one['per_cpu'], counter['per_cpu'])}")
    if max(one["msgs"], counter["msgs"]) >= 0.95 * args.rate:
        print(f"  note: consumers kept up with the offered {args.rate:,.0f} msgs/s: the live ratios say 'keeps up', "
              "not 'is slower' (the backlog drain has no such limit)")
    print(f"ingest x2 / ingest x1            {_ratio(two['msgs'], one['msgs']):>6s}   (target >= 1.6)")
    print(f"ingest x1 / naive bridge         {_ratio(one['msgs'], naive['msgs']):>6s}   (target >= 20)")
    print(f"publish -> stored delay at {lat['rate']:,.0f} msgs/s: p50 {lat.get('p50', 0) * 1000:,.0f} ms, "
          f"p99 {lat.get('p99', 0) * 1000:,.0f} ms")
    print(f"peak RSS per ingest process: x1 {one['rss_mb']:.0f} MB, x2 {two['rss_mb']:.0f} MB, "
          f"delay run {lat['rss_mb']:.0f} MB")


def _report_drain(args: argparse.Namespace, r: dict[str, dict]) -> None:
    broker, counter, naive, one, two = (r[k] for k in ("broker", "counter", "naive", "one", "two"))
    print()
    best = f", best of {args.repeat} tries each" if args.repeat > 1 else ""
    print(f"backlog drain, {args.backlog:,} messages{best}")
    print(f"{'':44s}    msgs/s  readings/s  msgs/CPU-s   seconds")
    rows = [("broker ceiling (mosquitto_sub)", broker, False),
            ("consumer ceiling (Python, count + ack)", counter, False),
            (f"naive bridge ({args.naive_seconds:.0f} s slice)", naive, True), ("ingest x1", one, True),
            ("ingest x2 (shared subscription)", two, True)]
    for label, x, readings in rows:
        rd = f"{x['readings']:12,.0f}" if readings else f"{'':12s}"
        print(f"{label:44s}{x['msgs']:10,.0f}{rd}{x['per_cpu']:12,.0f}{x['seconds']:10.1f}")
    print(f"ingest x1 / consumer ceiling     {_ratio(one['msgs'], counter['msgs']):>6s}   (target >= 0.70); "
          f"per CPU-second {_ratio(one['per_cpu'], counter['per_cpu'])}")
    print(f"ingest x2 / ingest x1            {_ratio(two['msgs'], one['msgs']):>6s}   (target >= 1.6)")
    print(f"ingest x1 / naive bridge         {_ratio(one['msgs'], naive['msgs']):>6s}   (target >= 20); "
          f"x2 / naive {_ratio(two['msgs'], naive['msgs'])}; consumer ceiling / naive "
          f"{_ratio(counter['msgs'], naive['msgs'])}")
    print(f"consumer ceiling / broker        {_ratio(counter['msgs'], broker['msgs']):>6s}")
    for label, x in (("ingest x1", one), ("ingest x2", two), ("consumer ceiling", counter), ("naive bridge", naive)):
        print(f"cores during the {label} drain: {_cores(x)} (of {os.cpu_count()})")
    lost = [f"{label} stored {x['count']:,.0f} of {args.backlog:,}" for label, x in (("x1", one), ("x2", two))
            if x["count"] != args.backlog]  # (a shortfall in any try stops the bench before this)
    print("stored in InfluxDB: " + ("; ".join(lost) if lost else f"every pre-loaded message, x1 and x2 "
                                    f"({args.backlog:,} points each)"))
    print(f"peak RSS per ingest process with {args.backlog:,} messages queued in the broker: "
          f"x1 {one['rss_mb']:.0f} MB, x2 {two['rss_mb']:.0f} MB")


def _naive_bridge(influx_url: str, database: str):
    """What a first MQTT → InfluxDB bridge looks like (the tutorials' shape): in paho's
    ``on_message``, parse the JSON, build one point with influxdb-client's ``Point``, POST it
    to ``/write`` and return, so the message is acknowledged after its write. Tags come from
    the topic, no quality control. The HTTP connection is kept alive, as the usual clients
    (requests sessions, urllib3 pools) do. InfluxDB 1.6 has no ``/api/v2/write``, so the
    write is a plain POST rather than influxdb-client's write API.

    Returns ``write(topic, payload) -> readings written`` (0 when the write failed, so the
    message is left unacknowledged and redelivered).
    """
    import http.client
    import urllib.parse

    from influxdb_client import Point, WritePrecision

    url = urllib.parse.urlsplit(influx_url)
    conn = [http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 8086, timeout=10)]
    path = f"/write?db={urllib.parse.quote(database)}&precision=ms"

    def write(topic: str, payload: bytes) -> int:
        doc = json.loads(payload)
        _, _, jurisdiction, medium, station, _ = topic.split("/")
        p = Point(medium).tag("station", station).tag("jurisdiction", jurisdiction)
        for k, v in doc["values"].items():
            p.field(k, float(v))
        p.time(datetime.fromisoformat(doc["ts"]), WritePrecision.MS)
        try:
            conn[0].request("POST", path, p.to_line_protocol().encode())
            r = conn[0].getresponse()
            r.read()
        except (OSError, http.client.HTTPException):
            conn[0].close()
            conn[0] = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 8086, timeout=10)
            return 0
        return len(doc["values"]) if r.status == 204 else 0

    return write


def _child(role: str, group: str, arg: float) -> int:
    """Counting subscriber / naive bridge process.

    Live roles (``counter``, ``naive``; ``arg`` = seconds): print ``ready`` once subscribed,
    then ``msgs readings cpu_seconds`` counted over ``arg`` seconds after the warm-up.
    Drain roles (``drain-counter``: ``arg`` = messages to receive; ``drain-naive``: ``arg`` =
    seconds): print ``starting``, connect to the session that holds the backlog, then
    ``msgs readings seconds cpu_seconds`` from before the connect to the last message (the
    counter) or to the end of the slice (the naive bridge, whose points are then counted in
    InfluxDB).
    """
    from envmon.influx import InfluxClient
    from envmon.mqttio import Consumer, Message
    from envmon.settings import load_settings
    from envmon.topics import shared

    settings = load_settings()
    counts = [0, 0]
    lock = threading.Lock()
    started = threading.Event()
    done = threading.Event()
    t_end = [0.0]
    drain = role.startswith("drain-")
    kind = role.removeprefix("drain-")
    target = int(arg) if kind == "counter" else 0
    t_done = [0.0]
    write = _naive_bridge(settings.influx.url, settings.influx.database)

    def count(m: Message) -> None:
        m.ack()
        if drain:
            counts[0] += 1
            if counts[0] == target:
                t_done[0] = time.monotonic()
                done.set()
        elif started.is_set() and time.monotonic() < t_end[0]:
            counts[0] += 1

    def naive(m: Message) -> None:
        if drain and time.monotonic() >= t_end[0]:
            return  # the slice is over: nothing more is written (the session is removed after)
        n = write(m.topic, m.payload)
        if not n:
            return  # left unacked: redelivered
        m.ack()
        if drain or (started.is_set() and time.monotonic() < t_end[0]):
            with lock:
                counts[0] += 1
                counts[1] += n

    if kind == "naive":
        InfluxClient(settings.influx).create_database()
    c = Consumer(settings.mqtt, f"{group}-c", [shared(group, DATA_FILTER)], count if kind == "counter" else naive,
                 receive_maximum=RECEIVE_MAXIMUM, session_expiry=settings.ingest.session_expiry_s)
    if drain:
        print("starting", flush=True)
        cpu0 = time.process_time()
        t0 = time.monotonic()
        t_end[0] = t0 + arg
        c.start()
        if kind == "counter":
            if not done.wait(_drain_timeout(target)):
                print("", flush=True)
                return 1
            seconds = t_done[0] - t0
        else:
            # (start() returns late when the handler is slow: the queued messages flow
            # before the SUBACK is read; the slice runs from the connect all the same.)
            time.sleep(max(0.0, t_end[0] - time.monotonic()))
            seconds = arg
        cpu = time.process_time() - cpu0
        c.stop()
        print(f"{counts[0]} {counts[1]} {seconds:.3f} {cpu:.3f}", flush=True)
        return 0
    c.start()
    print("ready", flush=True)
    time.sleep(min(3.0, arg / 4))  # same warm-up as the ingest phases
    t_end[0] = time.monotonic() + arg
    cpu0 = time.process_time()  # every thread of this process, user + system
    started.set()
    time.sleep(arg)
    print(f"{counts[0]} {counts[1]} {time.process_time() - cpu0:.3f}", flush=True)
    c.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2], float(sys.argv[3])))
