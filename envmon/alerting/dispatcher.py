"""Dispatcher: core events → alert store → routed notifications, never blocking detection.

``submit(event)`` only puts the event on a bounded queue and returns at once. One worker
thread applies events to the store (a local SQLite write) and, for changes people must
hear about, enqueues deliveries. Each channel has its own delivery thread with its own
retry schedule (exponential backoff with a cap), so a DingTalk outage delays neither the
store nor e-mail. Every outcome, success or final failure, is recorded in the store and in
the alert's audit trail.

Who is told what:

* machine channels listed in ``[defaults] broadcast`` (MQTT) get every change;
* people's channels get a new alert, an alert back after it was resolved, a severity
  increase by the core, and escalations; a flap that re-arms an alert people already work
  on, updates and clears do not page anyone (alert fatigue);
* several teams on one channel (one group robot) get one message naming them all.

Escalation: :meth:`Dispatcher.check_escalations` (run by the worker every
``escalation_interval_s`` and callable directly) escalates alerts still ``open`` past their
acknowledgement deadline: severity up one level, audited, and the route's next contact told.

>>> from envmon.alerting.store import AlertStore
>>> from envmon.alerting.routing import parse_routing
>>> d = Dispatcher(AlertStore(":memory:"), parse_routing({}), {})
>>> d.start(); d.stop(); d.stats["submitted"]
0
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from envmon.alerting.notifiers import Notifier, NotifierError
from envmon.alerting.routing import RoutingConfig, Target
from envmon.alerting.store import AlertStore, StoredAlert
from envmon.alerts import Event
from envmon.stations import JURISDICTION_ZH
from envmon.timeutil import utcnow

log = logging.getLogger(__name__)

# Changes (AlertStore.apply_with_change) that page people.
PAGE_ON = ("created", "recurred", "escalated_by_core")


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    alert_id: str = field(compare=False)
    channel: str = field(compare=False)
    target: str = field(compare=False)
    note: str | None = field(compare=False, default=None)
    attempt: int = field(compare=False, default=0)


class _ChannelWorker:
    """One channel's delivery thread: a heap of jobs ordered by when they are due."""

    def __init__(self, owner: Dispatcher, channel: str, notifier: Notifier):
        self.owner = owner
        self.channel = channel
        self.notifier = notifier
        self._heap: list[_Job] = []
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=f"notify-{channel}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, job: _Job) -> bool:
        with self._cond:
            if len(self._heap) >= self.owner.max_pending_per_channel:
                return False
            heapq.heappush(self._heap, job)
            self._cond.notify()
            return True

    def idle(self) -> bool:
        with self._cond:
            return not self._heap and not self._busy

    def stop(self, timeout: float) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop:
                    if self._heap:
                        wait = self._heap[0].due - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._stop:
                    return
                job = heapq.heappop(self._heap)
                self._busy = True
            try:
                self._deliver(job)
            finally:
                with self._cond:
                    self._busy = False

    def _deliver(self, job: _Job) -> None:
        o = self.owner
        job.attempt += 1
        try:
            rec = o.store.get(job.alert_id)
            self.notifier.send(rec, job.note)
        except NotifierError as err:
            if err.retryable and job.attempt < o.max_attempts:
                delay = min(o.max_backoff_s, o.backoff_s * 2 ** (job.attempt - 1))
                job.due = time.monotonic() + delay
                log.warning("%s: attempt %d for %s failed (%s); retry in %.1fs", self.channel,
                            job.attempt, job.alert_id, err, delay)
                with self._cond:
                    heapq.heappush(self._heap, job)
                return
            o._record(job, ok=False, error=str(err))
            return
        except Exception as err:  # a bug in a notifier must not kill the channel thread
            log.exception("%s: notifier crashed on %s", self.channel, job.alert_id)
            o._record(job, ok=False, error=f"{type(err).__name__}: {err}")
            return
        o._record(job, ok=True, error=None)


class Dispatcher:
    """Consumes core events without blocking the caller; see the module docstring.

    ``notifiers`` maps channel ids of the routing config to notifiers. ``queue_size`` bounds
    the events waiting for the store; when it is full ``submit`` drops the event, counts it
    (``stats["dropped"]``) and logs an error rather than stall detection.
    """

    def __init__(self, store: AlertStore, routing: RoutingConfig,
                 notifiers: Mapping[str, Notifier], *, queue_size: int = 10_000,
                 max_attempts: int = 5, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 max_pending_per_channel: int = 10_000, escalation_interval_s: float = 30.0,
                 clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.routing = routing
        self.notifiers = dict(notifiers)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_pending_per_channel = max_pending_per_channel
        self.escalation_interval_s = escalation_interval_s
        self.clock = clock
        self.stats = {"submitted": 0, "dropped": 0, "applied": 0, "apply_errors": 0,
                      "sent": 0, "failed": 0, "escalated": 0, "undeliverable": 0}
        self._queue: queue.Queue[Event | None] = queue.Queue(maxsize=queue_size)
        self._seq = itertools.count()
        self._workers: dict[str, _ChannelWorker] = {}
        self._thread: threading.Thread | None = None
        self._stats_lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        for cid, n in self.notifiers.items():
            w = _ChannelWorker(self, cid, n)
            w.start()
            self._workers[cid] = w
        self._thread = threading.Thread(target=self._run, name="alert-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the events already submitted were applied; pending retries are
        abandoned (and were recorded only if they finished)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
        for w in self._workers.values():
            w.stop(timeout)
        self._workers.clear()

    def submit(self, event: Event) -> bool:
        """Hand an event over; never blocks. False if the queue was full (event dropped)."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._count("dropped")
            log.error("alert dispatcher queue full; dropped %s %s", event.type, event.alert.id)
            return False
        self._count("submitted")
        return True

    def idle(self) -> bool:
        """True when no event waits for the store and no delivery is pending (tests)."""
        # unfinished_tasks counts events taken but not yet handled, unlike empty()
        return (self._queue.unfinished_tasks == 0
                and all(w.idle() for w in self._workers.values()))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.idle():
                return True
            time.sleep(0.02)
        return self.idle()

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    # -- the worker ---------------------------------------------------------------------
    def _run(self) -> None:
        next_check = time.monotonic() + self.escalation_interval_s
        while True:
            timeout = max(0.0, next_check - time.monotonic())
            try:
                event = self._queue.get(timeout=timeout)
            except queue.Empty:
                event = None
                if time.monotonic() >= next_check:
                    self._safe_escalations()
                    next_check = time.monotonic() + self.escalation_interval_s
                continue
            try:
                if event is None:
                    return
                self.handle(event)
            finally:
                self._queue.task_done()

    def _safe_escalations(self) -> None:
        try:
            self.check_escalations()
        except Exception:
            log.exception("escalation check failed")

    def handle(self, event: Event) -> StoredAlert | None:
        """Apply one event and enqueue its notifications (the worker's step; synchronous)."""
        try:
            rec, change = self.store.apply_with_change(event)
        except Exception:
            self._count("apply_errors")
            log.exception("cannot store %s %s", event.type, event.alert.id)
            return None
        self._count("applied")
        if change == "duplicate":
            return rec
        for cid in self.routing.broadcast:
            self._enqueue(rec.id, cid, "broadcast", None)
        if change in PAGE_ON:
            note = {"recurred": "处置后再次出现", "escalated_by_core": "级别升高"}.get(change)
            self._page(rec, self.routing.targets(rec.alert.kind, rec.jurisdictions,
                                                 rec.severity), note)
        return rec

    def _page(self, rec: StoredAlert, targets: list[Target], note: str | None) -> None:
        by_channel: dict[str, list[Target]] = {}
        for t in targets:
            if t.channel.id in self.routing.broadcast:
                continue  # already got the event
            by_channel.setdefault(t.channel.id, []).append(t)
        for cid, ts in by_channel.items():
            names = "、".join(dict.fromkeys(
                f"{JURISDICTION_ZH.get(t.jurisdiction, t.jurisdiction)}·{t.team.name}" for t in ts))
            line = f"请处置：{names}" + (f"（{note}）" if note else "")
            self._enqueue(rec.id, cid, ",".join(dict.fromkeys(t.team.id for t in ts)), line)

    def _enqueue(self, alert_id: str, channel: str, target: str, note: str | None) -> None:
        w = self._workers.get(channel)
        if w is None:
            # Configured in routing but no notifier built (e.g. its secret is not set here).
            self._count("undeliverable")
            self.store.record_delivery(alert_id, channel, target, ok=False, attempts=0,
                                       error=f"no notifier for channel {channel!r}")
            return
        job = _Job(time.monotonic(), next(self._seq), alert_id, channel, target, note)
        if not w.put(job):
            self._count("undeliverable")
            self.store.record_delivery(alert_id, channel, target, ok=False, attempts=0,
                                       error="channel backlog full")

    def _record(self, job: _Job, *, ok: bool, error: str | None) -> None:
        self._count("sent" if ok else "failed")
        try:
            self.store.record_delivery(job.alert_id, job.channel, job.target, ok=ok,
                                       attempts=job.attempt, error=error)
        except Exception:
            log.exception("cannot record delivery of %s via %s", job.alert_id, job.channel)

    # -- escalation ---------------------------------------------------------------------
    def check_escalations(self, now: datetime | None = None) -> list[str]:
        """Escalate every open alert past its acknowledgement deadline; return their ids."""
        now = now or self.clock()
        done = []
        for rec in self.store.list(status="open", limit=10_000):
            step = self.routing.escalation_due(rec.alert.kind, rec.jurisdictions, rec.severity,
                                               rec.opened_at, rec.escalation_level, now)
            if step is None:
                continue
            teams = "、".join(dict.fromkeys(t.team.name for t in step.targets)) or None
            rec = self.store.transition(
                rec.id, "escalate", "system:escalation",
                note=f"超过确认时限未确认，第 {step.level} 次升级", severity=step.severity,
                target=teams)
            self._count("escalated")
            done.append(rec.id)
            for cid in self.routing.broadcast:
                self._enqueue(rec.id, cid, "broadcast", None)
            self._page(rec, list(step.targets), f"超时未确认，第 {step.level} 次升级")
        return done
