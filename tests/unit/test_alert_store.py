"""Alert store: lifecycle, idempotent replays, flap suppression, audit, jurisdictions."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

from envmon.alerting.store import (
    AlertNotFound,
    AlertStore,
    AlertStoreError,
    TransitionError,
)
from envmon.alerts import Alert, Event, alert_id

T0 = datetime(2026, 7, 13, 18, 0, tzinfo=UTC)


def make_alert(station: str = "TZ_TOWN", kind: str = "illegal_discharge", start: datetime = T0,
               **kw: object) -> Alert:
    base: dict = dict(id=alert_id(station, kind, start), kind=kind, station=station,
                      medium="water", parameters=("cod", "nh3n"), start=start,
                      severity="warning", message="COD、氨氮突升",
                      suspected_source="OF_TZ_RAIN", confidence=0.7, last_seen=start)
    base.update(kw)
    return Alert(**base)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 7, 14, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path):
    s = AlertStore(tmp_path / "alerts.sqlite", clock=Clock())
    yield s
    s.close()


def test_nothing_opened_until_used(tmp_path):
    path = tmp_path / "sub" / "alerts.sqlite"
    s = AlertStore(path)
    assert not path.exists()
    assert s.list() == []
    assert path.exists()
    s.close()


def test_wal_mode(tmp_path):
    s = AlertStore(tmp_path / "a.sqlite")
    s.list()
    mode = sqlite3.connect(tmp_path / "a.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    s.close()


def test_raise_update_clear(store):
    a = make_alert()
    rec = store.apply(Event("raised", a))
    assert (rec.status, rec.active, rec.severity, rec.occurrences) == ("open", True, "warning", 1)
    assert rec.alert.jurisdiction == "jiashan"
    rec = store.apply(Event("updated", a.evolve(last_seen=T0 + timedelta(minutes=5),
                                                 severity="critical", confidence=0.9)))
    assert rec.id == a.id and rec.severity == "critical" and rec.alert.confidence == 0.9
    assert rec.alert.last_seen == T0 + timedelta(minutes=5)
    rec = store.apply(Event("cleared", a.evolve(end=T0 + timedelta(minutes=20))))
    assert not rec.active and rec.status == "open"  # clearing is not resolving
    assert rec.alert.end == T0 + timedelta(minutes=20)
    assert [e.action for e in store.audit(a.id)] == ["raised", "severity_changed", "cleared"]


def test_replayed_events_are_idempotent(store):
    a = make_alert()
    events = [Event("raised", a),
              Event("updated", a.evolve(last_seen=T0 + timedelta(minutes=3))),
              Event("cleared", a.evolve(end=T0 + timedelta(minutes=9)))]
    for e in events:
        store.apply(e)
    first = store.get(a.id)
    trail = store.audit(a.id)
    for e in events:  # at-least-once: the whole stream again
        store.apply(e)
    assert len(store.list()) == 1
    assert store.get(a.id) == first
    assert store.audit(a.id) == trail


def test_out_of_order_update_does_not_move_time_back(store):
    a = make_alert()
    store.apply(Event("raised", a))
    store.apply(Event("updated", a.evolve(last_seen=T0 + timedelta(minutes=10))))
    rec = store.apply(Event("updated", a.evolve(last_seen=T0 + timedelta(minutes=4))))
    assert rec.alert.last_seen == T0 + timedelta(minutes=10)


def test_update_without_raise_creates_record(store):
    a = make_alert()
    rec = store.apply(Event("updated", a))
    assert rec.id == a.id and rec.active


def test_flapping_condition_is_one_alert(store):
    """raised/cleared/raised within the re-arm window reopens the same record."""
    start = T0
    first = None
    for i in range(12):
        a = make_alert(start=start)
        rec = store.apply(Event("raised", a))
        first = first or rec.id
        assert rec.id == first, f"flap {i} created a new alert"
        end = start + timedelta(minutes=3)
        store.apply(Event("cleared", a.evolve(end=end)))
        start = end + timedelta(minutes=5)
    assert len(store.list()) == 1
    rec = store.get(first)
    assert rec.occurrences == 12
    actions = [e.action for e in store.audit(first)]
    assert actions.count("raised") == 1 and actions.count("reopened") == 11
    # a later event of a re-armed occurrence is found by its own core id
    assert store.get(make_alert(start=start - timedelta(minutes=8)).id).id == first


def test_reoccurrence_after_window_links_to_previous(store):
    a = make_alert()
    store.apply(Event("raised", a))
    store.apply(Event("cleared", a.evolve(end=T0 + timedelta(minutes=10))))
    b = make_alert(start=T0 + timedelta(hours=5))
    rec = store.apply(Event("raised", b))
    assert rec.id == b.id != a.id
    assert rec.previous_id == a.id
    assert len(store.list()) == 2


def test_reraise_within_window_reopens_resolved(store):
    a = make_alert()
    store.apply(Event("raised", a))
    store.transition(a.id, "acknowledge", "li")
    store.transition(a.id, "resolve", "li", note="已封堵", cause="偷排")
    store.apply(Event("cleared", a.evolve(end=T0 + timedelta(minutes=10))))
    rec = store.apply(Event("raised", make_alert(start=T0 + timedelta(minutes=30))))
    assert rec.id == a.id and rec.status == "open" and rec.active


def test_new_core_id_while_active_is_folded(store):
    a = make_alert()
    store.apply(Event("raised", a))
    b = make_alert(start=T0 + timedelta(minutes=2))  # e.g. the detector restarted
    rec = store.apply(Event("raised", b))
    assert rec.id == a.id and len(store.list()) == 1


def test_full_lifecycle_and_audit(store):
    a = make_alert()
    store.apply(Event("raised", a))
    store.transition(a.id, "acknowledge", "zhang")
    store.transition(a.id, "dispatch", "zhang", target="嘉善执法一队")
    rec = store.transition(a.id, "resolve", "wang", note="雨水口有黑水，已取样", cause="偷排")
    assert (rec.status, rec.cause, rec.resolved_by, rec.resolution_note) == (
        "resolved", "illegal_discharge", "wang", "雨水口有黑水，已取样")
    assert rec.to_dict()["cause_zh"] == "偷排"
    rec = store.transition(a.id, "close", "admin")
    assert rec.status == "closed" and rec.closed_at is not None
    trail = store.audit(a.id)
    assert [(e.action, e.actor, e.from_status, e.to_status) for e in trail] == [
        ("raised", "system:analytics", None, "open"),
        ("acknowledge", "zhang", "open", "acknowledged"),
        ("dispatch", "zhang", "acknowledged", "dispatched"),
        ("resolve", "wang", "dispatched", "resolved"),
        ("close", "admin", "resolved", "closed"),
    ]
    assert all(e.at is not None for e in trail)


@pytest.mark.parametrize(("setup", "action", "kw", "msg"), [
    ([], "resolve", {"note": "x", "cause": "误报"}, "it is open"),
    ([], "close", {}, "it is open"),
    (["acknowledge"], "acknowledge", {}, "it is acknowledged"),
    (["acknowledge"], "resolve", {"note": "x"}, "needs a cause"),
    (["acknowledge"], "resolve", {"note": "x", "cause": "外星人"}, "unknown cause"),
    (["acknowledge"], "resolve", {"note": "  ", "cause": "误报"}, "needs a note"),
    ([], "dispatch", {}, "needs a target"),
    ([], "explode", {}, "unknown action"),
])
def test_bad_transitions_are_refused(store, setup, action, kw, msg):
    a = make_alert()
    store.apply(Event("raised", a))
    for s in setup:
        store.transition(a.id, s, "zhang")
    before = store.audit(a.id)
    with pytest.raises(TransitionError, match=msg):
        store.transition(a.id, action, "zhang", **kw)
    assert store.audit(a.id) == before  # nothing half-written


def test_unknown_alert(store):
    with pytest.raises(AlertNotFound):
        store.get("nope")
    with pytest.raises(AlertNotFound):
        store.transition("nope", "acknowledge", "zhang")


def test_audit_is_append_only(tmp_path):
    s = AlertStore(tmp_path / "a.sqlite")
    s.apply(Event("raised", make_alert()))
    s.close()
    db = sqlite3.connect(tmp_path / "a.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit SET actor = 'someone else'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit")


def test_escalation_is_a_floor_the_core_cannot_lower(store):
    a = make_alert()
    store.apply(Event("raised", a))
    rec = store.transition(a.id, "escalate", "system:escalation", severity="critical")
    assert rec.severity == "critical" and rec.escalation_level == 1
    rec = store.apply(Event("updated", a.evolve(last_seen=T0 + timedelta(minutes=1))))
    assert rec.severity == "critical"


def test_jurisdictions_and_filters(store):
    store.apply(Event("raised", make_alert("TZ_TOWN")))                     # jiashan only
    store.apply(Event("raised", make_alert("HQT_HENGGANG")))                # jiashan + qingpu
    store.apply(Event("raised", make_alert("NZ_QP_JINZE", kind="noise_night_burst")))  # qingpu
    assert store.get(make_alert("HQT_HENGGANG").id).jurisdictions == ("jiashan", "qingpu")
    qp = {r.alert.station for r in store.list(jurisdictions=["qingpu"])}
    assert qp == {"HQT_HENGGANG", "NZ_QP_JINZE"}
    assert store.list(jurisdictions=[]) == []
    assert [r.alert.station for r in store.list(kind="noise_night_burst")] == ["NZ_QP_JINZE"]
    assert [r.alert.station for r in store.list(station="TZ_TOWN")] == ["TZ_TOWN"]
    assert store.counts_by_kind() == {"illegal_discharge": 2, "noise_night_burst": 1}
    assert store.counts_by_kind(jurisdictions=["wujiang"]) == {}
    store.transition(make_alert("TZ_TOWN").id, "acknowledge", "zhang")
    assert [r.alert.station for r in store.list(status="acknowledged")] == ["TZ_TOWN"]
    # unresolved first, acknowledged after open ones
    assert store.list()[-1].alert.station == "TZ_TOWN"
    assert store.list(since=T0 + timedelta(hours=1)) == []
    with pytest.raises(AlertStoreError, match="unknown status"):
        store.list(status="pending")


def test_deliveries_are_recorded_and_audited(store):
    a = make_alert()
    store.apply(Event("raised", a))
    store.record_delivery(a.id, "dingtalk", "jiashan-enforcement", ok=False, attempts=3,
                          error="HTTP 503")
    d = store.deliveries(a.id)
    assert [(x.channel, x.ok, x.attempts, x.error) for x in d] == [
        ("dingtalk", False, 3, "HTTP 503")]
    assert store.audit(a.id)[-1].action == "notify_failed"


def test_thread_safety(tmp_path):
    s = AlertStore(tmp_path / "a.sqlite")
    errors: list[BaseException] = []

    stations = ["TZ_TOWN", "XT_TOWN", "YZ_TOWN", "TP_JINZE"]

    def worker(n: int) -> None:
        try:
            for i in range(20):
                # 3 h apart: beyond the re-arm window, so each is its own record
                a = make_alert(station=stations[n], kind="exceedance",
                               start=T0 + timedelta(days=n, hours=i * 3))
                s.apply(Event("raised", a))
                s.apply(Event("cleared", a.evolve(end=a.start + timedelta(minutes=1))))
                s.list(limit=5)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(s.list(limit=1000)) == 80
    s.close()
