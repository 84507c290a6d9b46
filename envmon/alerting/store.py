"""The alert store: one record per alert, its lifecycle, and an append-only audit trail.

The analytics core emits :class:`~envmon.alerts.Event` s (``raised`` / ``updated`` /
``cleared``); :meth:`AlertStore.apply` folds them into records. People move a record through
the field teams' lifecycle with :meth:`AlertStore.transition`::

    open ─acknowledge→ acknowledged ─dispatch→ dispatched ─resolve→ resolved ─close→ closed
    (open ─escalate→ open, severity up)            resolved | closed ─reopen→ open

Two things are kept apart, as ThingsBoard does with ACTIVE/CLEARED × ACK/UNACK: whether the
*condition* is still present (``active``, set by the core) and where the *people* are with it
(``status``, set by transitions). A condition that clears does not resolve the alert: only a
field team that went there and reported back does.

Flapping: a ``raised`` for a (station, kind) whose last record cleared less than ``rearm``
ago (data time) reopens that record instead of creating a new one, so a condition that
comes and goes yields one alert with updates, not a storm. A later re-occurrence creates a
new record linked to the earlier one (``previous_id``).

Replays are harmless: every applied event is remembered by a digest, and applying it again
returns the record unchanged.

>>> from envmon.alerts import Alert, Event
>>> from envmon.timeutil import parse_time
>>> store = AlertStore(":memory:")
>>> a = Alert(id="a1", kind="illegal_discharge", station="TZ_TOWN", medium="water",
...           parameters=("cod",), start=parse_time("2026-07-14T02:00:00+08:00"),
...           severity="warning", message="COD 突升", suspected_source="OF_TZ_RAIN",
...           confidence=0.8)
>>> rec = store.apply(Event("raised", a))
>>> rec.status, rec.active, rec.jurisdictions
('open', True, ('jiashan',))
>>> store.apply(Event("raised", a)).occurrences   # a replay is the same record
1
>>> store.transition("a1", "acknowledge", actor="zhang").status
'acknowledged'
>>> [e.action for e in store.audit("a1")]
['raised', 'acknowledge']
>>> store.close()
"""

from __future__ import annotations

import builtins
import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from envmon.alerts import SEVERITIES, Alert, Event
from envmon.stations import Registry, RegistryError, load_registry
from envmon.timeutil import format_time, utcnow

STATUSES = ("open", "acknowledged", "dispatched", "resolved", "closed")
# Statuses in which nobody has finished with the alert yet.
UNRESOLVED = ("open", "acknowledged", "dispatched")

# Cause categories a field team reports when resolving (反馈). Codes are stable for
# statistics; the Chinese label is what people pick on the phone.
CAUSES: dict[str, str] = {
    "illegal_discharge": "偷排",
    "pipe_damage": "管网破损",
    "cross_connection": "雨污混接",
    "equipment_fault": "设备故障",
    "false_alarm": "误报",
    "other": "其他",
}
_CAUSE_BY_LABEL = {label: code for code, label in CAUSES.items()}

# action -> (statuses it may start from, status it leads to; None = unchanged)
ACTIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "acknowledge": (("open",), "acknowledged"),
    "dispatch": (("open", "acknowledged"), "dispatched"),
    "resolve": (("acknowledged", "dispatched"), "resolved"),
    "close": (("resolved",), "closed"),
    "reopen": (("resolved", "closed"), "open"),
    "escalate": (("open",), None),
    "comment": (STATUSES, None),
}

SYSTEM_ACTOR = "system:analytics"


class AlertStoreError(Exception):
    """Base of the store's errors."""


class AlertNotFound(AlertStoreError, KeyError):
    """No alert with that id."""

    def __str__(self) -> str:
        return f"no alert with id {self.args[0]!r}"


class TransitionError(AlertStoreError, ValueError):
    """An action that the alert's current status, or its arguments, do not allow."""


class StateConflict(TransitionError):
    """The action is fine but not from the alert's current status (HTTP 409)."""


def normalise_cause(cause: str) -> str:
    """Accept a cause code or its Chinese label; return the code.

    >>> normalise_cause("雨污混接"), normalise_cause("false_alarm")
    ('cross_connection', 'false_alarm')
    """
    if cause in CAUSES:
        return cause
    if cause in _CAUSE_BY_LABEL:
        return _CAUSE_BY_LABEL[cause]
    allowed = ", ".join(f"{c} ({z})" for c, z in CAUSES.items())
    raise TransitionError(f"unknown cause {cause!r}; allowed: {allowed}")


def _ts(t: datetime | None) -> str | None:
    # Fixed width with microseconds so that string order is time order in SQL
    # (format_time drops zero fractions, which breaks lexicographic comparison).
    if t is None:
        return None
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dt(s: str | None) -> datetime | None:
    if s is None:
        return None
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _sev_max(a: str, b: str) -> str:
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the append-only audit trail of an alert."""

    seq: int
    alert_id: str
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "alert_id": self.alert_id, "at": format_time(self.at),
            "actor": self.actor, "action": self.action, "from_status": self.from_status,
            "to_status": self.to_status, "note": self.note, "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification attempt series for one alert over one channel."""

    alert_id: str
    channel: str
    target: str
    ok: bool
    attempts: int
    at: datetime
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "channel": self.channel, "target": self.target,
                "ok": self.ok, "attempts": self.attempts, "at": format_time(self.at),
                "error": self.error}


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as the store keeps it: the core's :class:`Alert` plus its lifecycle."""

    alert: Alert
    status: str
    active: bool
    jurisdictions: tuple[str, ...]
    severity: str  # effective: the core's severity, raised by escalation
    opened_at: datetime  # wall time the record was created
    updated_at: datetime
    occurrences: int = 1  # 1 + times the condition re-armed into this record
    previous_id: str | None = None
    escalation_level: int = 0
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    dispatched_to: str | None = None
    dispatched_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    cause: str | None = None
    resolution_note: str | None = None
    closed_at: datetime | None = None

    @property
    def id(self) -> str:
        return self.alert.id

    def to_dict(self) -> dict[str, Any]:
        def t(x: datetime | None) -> str | None:
            return format_time(x) if x else None

        d = self.alert.to_dict()
        d.update({
            "severity": self.severity, "core_severity": self.alert.severity,
            "status": self.status, "active": self.active,
            "jurisdictions": list(self.jurisdictions), "opened_at": t(self.opened_at),
            "updated_at": t(self.updated_at), "occurrences": self.occurrences,
            "previous_id": self.previous_id, "escalation_level": self.escalation_level,
            "acknowledged_by": self.acknowledged_by, "acknowledged_at": t(self.acknowledged_at),
            "dispatched_to": self.dispatched_to, "dispatched_at": t(self.dispatched_at),
            "resolved_by": self.resolved_by, "resolved_at": t(self.resolved_at),
            "cause": self.cause, "cause_zh": CAUSES.get(self.cause or ""),
            "resolution_note": self.resolution_note, "closed_at": t(self.closed_at),
        })
        return d


_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    station TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    active INTEGER NOT NULL,
    severity TEXT NOT NULL,
    start TEXT NOT NULL,
    last_seen TEXT,
    end_time TEXT,
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    occurrences INTEGER NOT NULL DEFAULT 1,
    previous_id TEXT,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    acknowledged_by TEXT, acknowledged_at TEXT,
    dispatched_to TEXT, dispatched_at TEXT,
    resolved_by TEXT, resolved_at TEXT,
    cause TEXT, resolution_note TEXT, closed_at TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_station_kind ON alerts (station, kind, opened_at);
CREATE INDEX IF NOT EXISTS alerts_status ON alerts (status);
CREATE TABLE IF NOT EXISTS alert_scope (
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    jurisdiction TEXT NOT NULL,
    PRIMARY KEY (alert_id, jurisdiction)
);
CREATE INDEX IF NOT EXISTS alert_scope_j ON alert_scope (jurisdiction);
-- the core's alert ids that were folded into a record (re-armed or restarted detectors)
CREATE TABLE IF NOT EXISTS alert_alias (
    event_alert_id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applied_events (
    digest TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    note TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_alert ON audit (alert_id, seq);
-- append-only: the database itself refuses to rewrite history
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    ok INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    at TEXT NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_alert ON deliveries (alert_id, seq);
"""

_COLUMNS = (
    "id, station, kind, status, active, severity, start, last_seen, end_time, opened_at, "
    "updated_at, occurrences, previous_id, escalation_level, acknowledged_by, acknowledged_at, "
    "dispatched_to, dispatched_at, resolved_by, resolved_at, cause, resolution_note, closed_at, "
    "data"
)


class AlertStore:
    """SQLite alert store, safe to share between threads (one connection behind a lock).

    ``path`` may be ``":memory:"`` for tests. ``registry`` gives each alert the
    jurisdictions that may see it (owner + ``shared_with``); by default the project's
    registry is loaded on first use. ``rearm`` is the flap window (data time) within which a
    re-raised condition reopens the previous record. ``clock`` gives wall time for the audit.

    >>> s = AlertStore(":memory:")
    >>> s.list()
    []
    >>> s.close()
    """

    def __init__(self, path: str | Path, *, registry: Registry | None = None,
                 rearm: timedelta = timedelta(minutes=60),
                 clock: Callable[[], datetime] = utcnow):
        self.path = str(path)
        self.rearm = rearm
        self.clock = clock
        self._registry = registry
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._change = "duplicate"  # what the running apply() did; only read under the lock

    # -- connection -------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so that every apply()
            # or transition() is one transaction (record + audit together or not at all).
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=30.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _jurisdictions(self, alert: Alert) -> tuple[str, ...]:
        if self._registry is None:
            try:
                self._registry = load_registry()
            except RegistryError:
                self._registry = Registry([])
        st = self._registry.get(alert.station)
        if st is not None:
            return st.jurisdictions
        # A station unknown to our registry: trust the alert's own jurisdiction only.
        return (alert.jurisdiction,) if alert.jurisdiction else ()

    # -- events from the core ---------------------------------------------------------
    def apply(self, event: Event) -> StoredAlert:
        """Fold one core event into the store and return the resulting record."""
        return self.apply_with_change(event)[0]

    def apply_with_change(self, event: Event) -> tuple[StoredAlert, str]:
        """Like :meth:`apply`, also saying what changed, for the dispatcher to decide whom
        to tell: ``created``, ``reopened`` (flap, people still on it), ``recurred`` (back
        after it was resolved or closed), ``folded`` (same condition, new core id),
        ``escalated_by_core`` (severity went up), ``updated``, ``cleared`` or ``duplicate``
        (a replay or nothing new).
        """
        if event.type not in ("raised", "updated", "cleared"):
            raise AlertStoreError(f"unknown event type {event.type!r}")
        digest = hashlib.sha256(
            json.dumps(event.to_dict(), sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT alert_id FROM applied_events WHERE digest = ?",
                                 (digest,)).fetchone()
                if row is not None:
                    db.execute("COMMIT")
                    return self.get(row["alert_id"]), "duplicate"
                self._change = "duplicate"
                rid = self._apply(db, event)
                db.execute("INSERT INTO applied_events (digest, alert_id) VALUES (?, ?)",
                           (digest, rid))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return self.get(rid), self._change

    def _resolve_id(self, db: sqlite3.Connection, event_alert_id: str) -> str | None:
        row = db.execute("SELECT alert_id FROM alert_alias WHERE event_alert_id = ?",
                         (event_alert_id,)).fetchone()
        return row["alert_id"] if row else None

    def _apply(self, db: sqlite3.Connection, event: Event) -> str:
        a = event.alert
        now = _ts(self.clock())
        rid = self._resolve_id(db, a.id)
        if rid is None and event.type == "raised":
            return self._raise(db, a, now)
        if rid is None:
            # An update or clear for an alert we never saw raised (missed message, store
            # started late): create the record so that nothing the core reports is lost.
            rid = self._raise(db, a, now)
            if event.type == "updated":
                return rid
        cur = db.execute("SELECT * FROM alerts WHERE id = ?", (rid,)).fetchone()
        old = Alert.from_dict(json.loads(cur["data"]))
        if event.type == "raised":
            # Same id raised again with new content (a replay after a restart): refresh.
            self._refresh(db, cur, old, a, now)
            if not cur["active"]:
                self._rearm(db, cur, a, now)
            return rid
        if event.type == "updated":
            self._refresh(db, cur, old, a, now)
            return rid
        # cleared
        end = a.end or a.last_seen or old.last_seen or old.start
        merged = old.evolve(end=end, last_seen=a.last_seen or old.last_seen)
        db.execute("UPDATE alerts SET active = 0, end_time = ?, updated_at = ?, data = ? "
                   "WHERE id = ?", (_ts(end), now, json.dumps(merged.to_dict()), rid))
        if cur["active"]:
            self._audit(db, rid, now, SYSTEM_ACTOR, "cleared", cur["status"], cur["status"],
                        None, {"end": format_time(end)})
            self._change = "cleared"
        return rid

    def _raise(self, db: sqlite3.Connection, a: Alert, now: str | None) -> str:
        prev = db.execute(
            "SELECT * FROM alerts WHERE station = ? AND kind = ? "
            "ORDER BY opened_at DESC, rowid DESC LIMIT 1", (a.station, a.kind)).fetchone()
        if prev is not None:
            prev_alert = Alert.from_dict(json.loads(prev["data"]))
            if prev["active"]:
                # The core restarted and raised the same condition under a new id: one
                # open alert per (station, kind), so fold it in.
                db.execute("INSERT OR IGNORE INTO alert_alias VALUES (?, ?)", (a.id, prev["id"]))
                self._refresh(db, prev, prev_alert, a.evolve(start=prev_alert.start), now)
                self._change = "folded"
                return str(prev["id"])
            ended = _dt(prev["end_time"])
            if ended is not None and a.start - ended <= self.rearm:
                db.execute("INSERT OR IGNORE INTO alert_alias VALUES (?, ?)", (a.id, prev["id"]))
                self._rearm(db, prev, a, now)
                return str(prev["id"])
        jurisdictions = self._jurisdictions(a)
        if a.jurisdiction is None and jurisdictions:
            a = a.evolve(jurisdiction=jurisdictions[0])
        db.execute(
            f"INSERT INTO alerts ({_COLUMNS}) VALUES "
            "(?, ?, ?, 'open', 1, ?, ?, ?, NULL, ?, ?, 1, ?, 0, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, ?)",
            (a.id, a.station, a.kind, a.severity, _ts(a.start), _ts(a.last_seen or a.start),
             now, now, prev["id"] if prev is not None else None, json.dumps(a.to_dict())))
        db.executemany("INSERT INTO alert_scope VALUES (?, ?)",
                       [(a.id, j) for j in jurisdictions])
        db.execute("INSERT OR IGNORE INTO alert_alias VALUES (?, ?)", (a.id, a.id))
        self._audit(db, a.id, now, SYSTEM_ACTOR, "raised", None, "open", a.message,
                    {"severity": a.severity, "start": format_time(a.start),
                     **({"previous_id": prev["id"]} if prev is not None else {})})
        self._change = "created"
        return a.id

    def _rearm(self, db: sqlite3.Connection, cur: sqlite3.Row, a: Alert, now: str | None) -> None:
        """The condition came back within the flap window: reopen the same record."""
        old = Alert.from_dict(json.loads(cur["data"]))
        merged = old.evolve(end=None, last_seen=a.last_seen or a.start, severity=a.severity,
                            confidence=a.confidence, message=a.message,
                            suspected_source=a.suspected_source or old.suspected_source)
        # People who already work on it keep it; a resolved or closed one is open again
        # (the fix did not hold), so the loop starts over.
        status = cur["status"] if cur["status"] in UNRESOLVED else "open"
        severity = _sev_max(a.severity, cur["severity"]) if cur["escalation_level"] else a.severity
        db.execute("UPDATE alerts SET active = 1, end_time = NULL, status = ?, severity = ?, "
                   "occurrences = occurrences + 1, last_seen = ?, updated_at = ?, data = ? "
                   "WHERE id = ?",
                   (status, severity, _ts(merged.last_seen), now, json.dumps(merged.to_dict()),
                    cur["id"]))
        self._audit(db, cur["id"], now, SYSTEM_ACTOR, "reopened", cur["status"], status, None,
                    {"event_alert_id": a.id, "start": format_time(a.start),
                     "occurrence": cur["occurrences"] + 1})
        self._change = "reopened" if cur["status"] in UNRESOLVED else "recurred"

    def _refresh(self, db: sqlite3.Connection, cur: sqlite3.Row, old: Alert, a: Alert,
                 now: str | None) -> None:
        last_seen = a.last_seen or old.last_seen
        if old.last_seen and last_seen and last_seen < old.last_seen:
            last_seen = old.last_seen  # out-of-order delivery must not move time backwards
        merged = old.evolve(severity=a.severity, confidence=a.confidence, message=a.message,
                            last_seen=last_seen, parameters=a.parameters or old.parameters,
                            suspected_source=a.suspected_source or old.suspected_source,
                            details={**old.details, **a.details})
        # Escalation is a floor the core cannot lower; otherwise the core's severity rules.
        severity = _sev_max(a.severity, cur["severity"]) if cur["escalation_level"] else a.severity
        db.execute("UPDATE alerts SET severity = ?, last_seen = ?, updated_at = ?, data = ? "
                   "WHERE id = ?",
                   (severity, _ts(last_seen), now, json.dumps(merged.to_dict()), cur["id"]))
        # Only changes people care about are audited; last_seen ticks every reading.
        self._change = "updated"
        if severity != cur["severity"]:
            self._audit(db, cur["id"], now, SYSTEM_ACTOR, "severity_changed", cur["status"],
                        cur["status"], None, {"from": cur["severity"], "to": severity})
            if SEVERITIES.index(severity) > SEVERITIES.index(cur["severity"]):
                self._change = "escalated_by_core"

    # -- people's actions -------------------------------------------------------------
    def transition(self, id: str, action: str, actor: str, note: str | None = None,
                   cause: str | None = None, *, severity: str | None = None,
                   target: str | None = None) -> StoredAlert:
        """Apply a lifecycle action by ``actor`` and audit it.

        ``resolve`` needs a ``cause`` (code or Chinese label, see :data:`CAUSES`) and a
        non-empty ``note`` (the field team's feedback). ``dispatch`` takes the team in
        ``target`` (or ``note``). ``escalate`` may raise ``severity``.
        """
        if action not in ACTIONS:
            raise TransitionError(f"unknown action {action!r}; allowed: {', '.join(ACTIONS)}")
        if not actor or not actor.strip():
            raise TransitionError("actor is required")
        allowed_from, to = ACTIONS[action]
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                rid = self._resolve_id(db, id)
                cur = db.execute("SELECT * FROM alerts WHERE id = ?", (rid or id,)).fetchone()
                if cur is None:
                    raise AlertNotFound(id)
                status = cur["status"]
                if status not in allowed_from:
                    raise StateConflict(
                        f"cannot {action} alert {cur['id']!r}: it is {status} "
                        f"(allowed from: {', '.join(allowed_from)})")
                now = _ts(self.clock())
                sets: dict[str, Any] = {"updated_at": now}
                details: dict[str, Any] = {}
                if to is not None:
                    sets["status"] = to
                if action == "acknowledge":
                    sets.update(acknowledged_by=actor, acknowledged_at=now)
                elif action == "dispatch":
                    team = target or note
                    if not team:
                        raise TransitionError("dispatch needs a target team")
                    sets.update(dispatched_to=team, dispatched_at=now)
                    details["target"] = team
                elif action == "resolve":
                    if cause is None:
                        raise TransitionError("resolve needs a cause: " + ", ".join(CAUSES))
                    code = normalise_cause(cause)
                    if not note or not note.strip():
                        raise TransitionError("resolve needs a note (处置反馈)")
                    sets.update(resolved_by=actor, resolved_at=now, cause=code,
                                resolution_note=note.strip())
                    details["cause"] = code
                elif action == "close":
                    sets["closed_at"] = now
                elif action == "reopen":
                    sets.update(resolved_by=None, resolved_at=None, cause=None,
                                resolution_note=None, closed_at=None)
                elif action == "escalate":
                    new_sev = severity or cur["severity"]
                    if new_sev not in SEVERITIES:
                        raise TransitionError(f"unknown severity {new_sev!r}")
                    new_sev = _sev_max(new_sev, cur["severity"])
                    sets.update(severity=new_sev, escalation_level=cur["escalation_level"] + 1)
                    details.update({"from": cur["severity"], "to": new_sev,
                                    "level": cur["escalation_level"] + 1})
                    if target:
                        details["target"] = target
                elif action == "comment" and not (note and note.strip()):
                    raise TransitionError("comment needs a note")
                assign = ", ".join(f"{k} = ?" for k in sets)
                db.execute(f"UPDATE alerts SET {assign} WHERE id = ?", (*sets.values(), cur["id"]))
                self._audit(db, cur["id"], now, actor, action, status, to or status, note, details)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return self.get(cur["id"])

    def record_delivery(self, alert_id: str, channel: str, target: str, ok: bool,
                        attempts: int, error: str | None = None) -> None:
        """Record a notification outcome (also in the audit, as part of the loop)."""
        with self._lock:
            db = self._db()
            now = _ts(self.clock())
            db.execute("BEGIN IMMEDIATE")
            try:
                rid = self._resolve_id(db, alert_id) or alert_id
                db.execute("INSERT INTO deliveries (alert_id, channel, target, ok, attempts, at, "
                           "error) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (rid, channel, target, int(ok), attempts, now, error))
                status = db.execute("SELECT status FROM alerts WHERE id = ?", (rid,)).fetchone()
                st = status["status"] if status else None
                self._audit(db, rid, now, "system:notifier", "notified" if ok else "notify_failed",
                            st, st, error, {"channel": channel, "target": target,
                                            "attempts": attempts})
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @staticmethod
    def _audit(db: sqlite3.Connection, alert_id: str, at: str | None, actor: str, action: str,
               from_status: str | None, to_status: str | None, note: str | None,
               details: dict[str, Any]) -> None:
        db.execute("INSERT INTO audit (alert_id, at, actor, action, from_status, to_status, "
                   "note, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (alert_id, at, actor, action, from_status, to_status, note,
                    json.dumps(details, ensure_ascii=False)))

    # -- reading ----------------------------------------------------------------------
    def _row(self, db: sqlite3.Connection, r: sqlite3.Row) -> StoredAlert:
        scope = tuple(x["jurisdiction"] for x in db.execute(
            "SELECT jurisdiction FROM alert_scope WHERE alert_id = ? ORDER BY rowid", (r["id"],)))
        return StoredAlert(
            alert=Alert.from_dict(json.loads(r["data"])), status=r["status"],
            active=bool(r["active"]), jurisdictions=scope, severity=r["severity"],
            opened_at=_dt(r["opened_at"]),  # type: ignore[arg-type]
            updated_at=_dt(r["updated_at"]),  # type: ignore[arg-type]
            occurrences=r["occurrences"], previous_id=r["previous_id"],
            escalation_level=r["escalation_level"], acknowledged_by=r["acknowledged_by"],
            acknowledged_at=_dt(r["acknowledged_at"]), dispatched_to=r["dispatched_to"],
            dispatched_at=_dt(r["dispatched_at"]), resolved_by=r["resolved_by"],
            resolved_at=_dt(r["resolved_at"]), cause=r["cause"],
            resolution_note=r["resolution_note"], closed_at=_dt(r["closed_at"]))

    def get(self, id: str) -> StoredAlert:
        """The record for ``id`` (also accepts a core alert id folded into a record)."""
        with self._lock:
            db = self._db()
            rid = self._resolve_id(db, id) or id
            r = db.execute("SELECT * FROM alerts WHERE id = ?", (rid,)).fetchone()
            if r is None:
                raise AlertNotFound(id)
            return self._row(db, r)

    def list(self, *, status: str | Sequence[str] | None = None,
             jurisdictions: Iterable[str] | None = None, kind: str | None = None,
             station: str | None = None, since: datetime | None = None,
             limit: int = 100, active: bool | None = None) -> list[StoredAlert]:
        """Records, unresolved first, then newest first.

        ``jurisdictions`` restricts to alerts visible to any of them (``None`` = all;
        an empty list = none). ``since`` keeps alerts whose condition was seen at or after it.
        """
        where: builtins.list[str] = []
        args: builtins.list[Any] = []
        if status is not None:
            statuses = [status] if isinstance(status, str) else builtins.list(status)
            bad = [s for s in statuses if s not in STATUSES]
            if bad:
                raise AlertStoreError(f"unknown status {bad[0]!r}; allowed: {', '.join(STATUSES)}")
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        if jurisdictions is not None:
            js = builtins.list(jurisdictions)
            if not js:
                return []
            where.append("EXISTS (SELECT 1 FROM alert_scope s WHERE s.alert_id = alerts.id "
                         f"AND s.jurisdiction IN ({', '.join('?' * len(js))}))")
            args.extend(js)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if station is not None:
            where.append("station = ?")
            args.append(station)
        if since is not None:
            where.append("COALESCE(end_time, last_seen, start) >= ?")
            args.append(_ts(since))
        if active is not None:
            where.append("active = ?")
            args.append(int(active))
        sql = "SELECT * FROM alerts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += (" ORDER BY CASE status WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 "
                "WHEN 'dispatched' THEN 2 ELSE 3 END, opened_at DESC, rowid DESC LIMIT ?")
        args.append(max(0, int(limit)))
        with self._lock:
            db = self._db()
            return [self._row(db, r) for r in db.execute(sql, args).fetchall()]

    def audit(self, id: str) -> builtins.list[AuditEntry]:
        """The audit trail of one alert, oldest first."""
        with self._lock:
            db = self._db()
            rid = self._resolve_id(db, id) or id
            rows = db.execute("SELECT * FROM audit WHERE alert_id = ? ORDER BY seq",
                              (rid,)).fetchall()
        return [AuditEntry(seq=r["seq"], alert_id=r["alert_id"],
                           at=_dt(r["at"]),  # type: ignore[arg-type]
                           actor=r["actor"], action=r["action"], from_status=r["from_status"],
                           to_status=r["to_status"], note=r["note"],
                           details=json.loads(r["details"])) for r in rows]

    def deliveries(self, id: str) -> builtins.list[Delivery]:
        """Notification outcomes of one alert, oldest first."""
        with self._lock:
            db = self._db()
            rid = self._resolve_id(db, id) or id
            rows = db.execute("SELECT * FROM deliveries WHERE alert_id = ? ORDER BY seq",
                              (rid,)).fetchall()
        return [Delivery(alert_id=r["alert_id"], channel=r["channel"], target=r["target"],
                         ok=bool(r["ok"]), attempts=r["attempts"],
                         at=_dt(r["at"]), error=r["error"])  # type: ignore[arg-type]
                for r in rows]

    def counts_by_kind(self, *, status: str | Sequence[str] | None = UNRESOLVED,
                       jurisdictions: Iterable[str] | None = None) -> dict[str, int]:
        """Number of records per kind; by default the unresolved ones (what is on the board)."""
        where: builtins.list[str] = []
        args: builtins.list[Any] = []
        if status is not None:
            statuses = [status] if isinstance(status, str) else builtins.list(status)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        if jurisdictions is not None:
            js = builtins.list(jurisdictions)
            if not js:
                return {}
            where.append("EXISTS (SELECT 1 FROM alert_scope s WHERE s.alert_id = alerts.id "
                         f"AND s.jurisdiction IN ({', '.join('?' * len(js))}))")
            args.extend(js)
        sql = "SELECT kind, COUNT(*) AS n FROM alerts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " GROUP BY kind ORDER BY kind"
        with self._lock:
            return {r["kind"]: r["n"] for r in self._db().execute(sql, args)}
