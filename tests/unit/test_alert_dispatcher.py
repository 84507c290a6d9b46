"""Dispatcher: never blocks the caller, retries with backoff, records outcomes, escalates."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from envmon.alerting.dispatcher import Dispatcher
from envmon.alerting.notifiers import NotifierError
from envmon.alerting.routing import parse_routing
from envmon.alerting.store import AlertStore
from envmon.alerts import Alert, Event, alert_id

T0 = datetime(2026, 7, 13, 18, 0, tzinfo=UTC)
ROUTING = parse_routing({
    "defaults": {"broadcast": ["bus"], "ack_deadline_minutes": 30},
    "channels": {"bus": {"type": "mqtt"}, "ding": {"type": "dingtalk", "url": "http://x"},
                 "mail": {"type": "email", "smtp_host": "h", "sender": "a@x", "to": ["b@x"]}},
    "teams": {"js": {"name": "嘉善执法", "jurisdiction": "jiashan", "channels": ["ding"]},
              "js2": {"name": "嘉善巡查", "jurisdiction": "jiashan", "channels": ["ding"]},
              "chief": {"name": "值班领导", "jurisdiction": "jiashan", "channels": ["mail"]}},
    "routes": [{"jurisdiction": "jiashan", "kinds": ["*"], "teams": ["js", "js2"],
                "escalate": ["chief"]}],
})


class Fake:
    """A notifier that records, and fails the first ``fail`` calls."""

    def __init__(self, channel: str, fail: int = 0, retryable: bool = True,
                 block: threading.Event | None = None):
        self.channel = channel
        self.fail = fail
        self.retryable = retryable
        self.block = block
        self.calls: list[tuple[str, str | None]] = []
        self.delivered: list[tuple[str, str | None]] = []

    def send(self, alert, note=None):
        if self.block is not None:
            self.block.wait(10)
        self.calls.append((alert.id, note))
        if len(self.calls) <= self.fail:
            raise NotifierError(f"{self.channel} down", retryable=self.retryable)
        self.delivered.append((alert.id, note))


def ev(kind: str, start: datetime = T0, **kw) -> Event:
    a = Alert(id=alert_id("TZ_TOWN", "illegal_discharge", start), kind="illegal_discharge",
              station="TZ_TOWN", medium="water", parameters=("cod",), start=start,
              severity="warning", message="COD 突升", suspected_source="OF_TZ_RAIN",
              confidence=0.8, last_seen=start)
    return Event(kind, a.evolve(**kw))


@pytest.fixture
def parts():
    store = AlertStore(":memory:")
    n = {"bus": Fake("bus"), "ding": Fake("ding"), "mail": Fake("mail")}
    yield store, n
    store.close()


def make(store, n, **kw) -> Dispatcher:
    d = Dispatcher(store, ROUTING, n, backoff_s=0.01, max_backoff_s=0.05, **kw)
    d.start()
    return d


def test_new_alert_pages_once_per_channel(parts):
    store, n = parts
    d = make(store, n)
    d.submit(ev("raised"))
    assert d.wait_idle()
    d.stop()
    assert len(n["ding"].delivered) == 1  # two teams, one group robot: one message
    note = n["ding"].delivered[0][1]
    assert "嘉善执法" in note and "嘉善巡查" in note
    assert len(n["bus"].delivered) == 1
    rec_id = n["ding"].delivered[0][0]
    assert [x.channel for x in store.deliveries(rec_id)] in (["bus", "ding"], ["ding", "bus"])
    assert {e.action for e in store.audit(rec_id)} >= {"raised", "notified"}


def test_flapping_pages_people_once(parts):
    store, n = parts
    d = make(store, n)
    start = T0
    for _ in range(10):
        d.submit(ev("raised", start))
        d.submit(ev("cleared", start, end=start + timedelta(minutes=2)))
        start += timedelta(minutes=7)
    assert d.wait_idle()
    d.stop()
    assert len(store.list()) == 1
    assert len(n["ding"].delivered) == 1
    assert len(n["bus"].delivered) == 20  # machines see every change


def test_submit_never_blocks_and_drops_when_full(parts):
    store, n = parts
    gate = threading.Event()
    n["bus"] = Fake("bus", block=gate)
    d = make(store, n, queue_size=5)
    t = time.monotonic()
    results = [d.submit(ev("raised", T0 + timedelta(hours=3 * i))) for i in range(50)]
    assert time.monotonic() - t < 0.5
    assert not all(results) and d.stats["dropped"] == results.count(False)
    gate.set()
    assert d.wait_idle()
    d.stop()


def test_retry_with_backoff_then_success(parts):
    store, n = parts
    n["ding"] = Fake("ding", fail=3)
    d = make(store, n)
    d.submit(ev("raised"))
    assert d.wait_idle()
    d.stop()
    rec_id = store.list()[0].id
    ding = [x for x in store.deliveries(rec_id) if x.channel == "ding"]
    assert [(x.ok, x.attempts) for x in ding] == [(True, 4)]


def test_permanent_failure_recorded_and_others_unaffected(parts):
    store, n = parts
    n["ding"] = Fake("ding", fail=99, retryable=False)
    d = make(store, n)
    d.submit(ev("raised"))
    assert d.wait_idle()
    d.stop()
    rec_id = store.list()[0].id
    by = {x.channel: x for x in store.deliveries(rec_id)}
    assert not by["ding"].ok and by["ding"].attempts == 1 and "down" in by["ding"].error
    assert by["bus"].ok
    assert store.audit(rec_id)[-1].action in ("notify_failed", "notified")
    assert d.stats["failed"] == 1


def test_gives_up_after_max_attempts(parts):
    store, n = parts
    n["ding"] = Fake("ding", fail=99)
    d = make(store, n, max_attempts=3)
    d.submit(ev("raised"))
    assert d.wait_idle()
    d.stop()
    ding = [x for x in store.deliveries(store.list()[0].id) if x.channel == "ding"]
    assert [(x.ok, x.attempts) for x in ding] == [(False, 3)]


def test_missing_notifier_is_recorded(parts):
    store, n = parts
    del n["ding"]
    d = make(store, n)
    d.submit(ev("raised"))
    assert d.wait_idle()
    d.stop()
    ding = [x for x in store.deliveries(store.list()[0].id) if x.channel == "ding"]
    assert ding and not ding[0].ok and "no notifier" in ding[0].error


def test_escalation_when_not_acknowledged(parts):
    store, n = parts
    clock_now = [datetime(2026, 7, 14, tzinfo=UTC)]
    store.clock = lambda: clock_now[0]
    d = make(store, n, clock=lambda: clock_now[0], escalation_interval_s=3600)
    d.submit(ev("raised"))
    d.submit(ev("cleared", end=T0 + timedelta(minutes=5)))
    d.submit(ev("raised", T0 + timedelta(days=1)))  # a second alert, acknowledged below
    assert d.wait_idle()
    acked = store.list()[0].id
    store.transition(acked, "acknowledge", "zhang")
    assert d.check_escalations(clock_now[0] + timedelta(minutes=29)) == []
    done = d.check_escalations(clock_now[0] + timedelta(minutes=31))
    assert len(done) == 1 and done[0] != acked
    rec = store.get(done[0])
    assert rec.severity == "critical" and rec.escalation_level == 1
    assert d.wait_idle()
    d.stop()
    assert any("升级" in (note or "") for _, note in n["mail"].delivered)
    esc = [e for e in store.audit(done[0]) if e.action == "escalate"]
    assert esc and esc[0].actor == "system:escalation" and esc[0].details["to"] == "critical"
