"""The alert sinks: a failing sink is counted and logged, and the others still get the event."""

from __future__ import annotations

from envmon.alerts import Alert, Event
from envmon.service import AlertSinks, alert_line
from envmon.stations import load_registry
from envmon.timeutil import parse_time

REG = load_registry()


class _Broken:
    def publish(self, *a, **kw):  # type: ignore[no-untyped-def]
        raise OSError("broker gone")

    def apply(self, *a, **kw):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")


def test_a_failing_sink_is_counted_and_the_others_still_get_the_event() -> None:
    a = Alert(id="a1", kind="illegal_discharge", station="TZ_TOWN", medium="water", parameters=("cod",),
              start=parse_time("2026-07-14T02:00:00+08:00"), severity="warning", message="COD 突升")
    heard: list[Event] = []
    sinks = AlertSinks(REG, _Broken(), None, _Broken(), [heard.append])  # type: ignore[arg-type]
    sinks([Event("raised", a)])
    assert [e.alert.id for e in heard] == ["a1"]
    assert sinks.failures["store"] == 1
    assert sinks.failures["mqtt"] == len(REG["TZ_TOWN"].jurisdictions)


def test_the_alerts_point_carries_the_source_in_words_for_the_dashboards() -> None:
    a = Alert(id="a2", kind="illegal_discharge", station="LXT_LUXU", medium="water", parameters=("nh3n",),
              start=parse_time("2026-07-14T02:00:00+08:00"), severity="warning", message="氨氮↑",
              suspected_source="..LXT_LUXU", confidence=0.45)
    point = alert_line(Event("raised", a), REG)
    assert 'suspected_source="..LXT_LUXU"' in point and 'source_name="芦墟塘芦墟以上河段"' in point
    assert "source_name" not in alert_line(Event("raised", a))  # no registry, no words
