"""``envmon bench detect``: each event's outcome from the scorer, the breakdown of illegal
discharges by setting, the list of misses, and replaying files already generated."""

from __future__ import annotations

from analytics.scoring import score
from envmon.benches.detect import _miss_line, markers_seen, setting
from envmon.cli import main
from envmon.stations import load_registry

REG = load_registry()


def _ev(i: str, station: str, arrival: str, **kw) -> dict:
    return {"id": i, "type": "illegal_discharge", "stations": [station], "start": arrival,
            "end": "2026-07-14T20:00:00Z", "parameters": ["nh3n"], "arrivals": {station: arrival}, **kw}


def test_the_scorer_tells_what_became_of_each_event() -> None:
    on_time = _ev("e1", "XT_TOWN", "2026-07-14T16:00:00Z")
    late = _ev("e2", "TZ_TOWN", "2026-07-14T16:00:00Z")
    never = _ev("e3", "LXT_LUXU", "2026-07-14T16:00:00Z")
    alerts = [{"id": "a1", "kind": "illegal_discharge", "station": "XT_TOWN", "start": "2026-07-14T16:05:00Z",
               "raised_at": "2026-07-14T16:10:00Z"},
              {"id": "a2", "kind": "illegal_discharge", "station": "TZ_TOWN", "start": "2026-07-14T16:40:00Z",
               "raised_at": "2026-07-14T16:45:00Z"}]
    r = score([on_time, late, never], alerts, station_days=3)
    assert [(o.event["id"], o.delay_min, o.within(30)) for o in r.outcomes] == [
        ("e1", 10.0, True), ("e2", 45.0, False), ("e3", None, False)]
    assert r.by_type["illegal_discharge"].within_target == sum(o.within(30) for o in r.outcomes)


def test_a_pipe_into_a_river_is_localised_to_its_segment_not_to_an_outfall() -> None:
    # A pipe between XT_TOWN and TZ_TOWN (no outfall: the truth names the segment). An
    # alert naming the segment, or the reach above its lower station, localises it; one
    # naming an outfall into that reach does not, however well it found the plume.
    def pipe(i: str) -> dict:
        return _ev(i, "TZ_TOWN", "2026-07-14T16:00:00Z", source=None, segment="XT_TOWN..TZ_TOWN")

    def alert(i: str, source: str) -> dict:
        return {"id": i, "kind": "illegal_discharge", "station": "TZ_TOWN", "start": "2026-07-14T16:05:00Z",
                "raised_at": "2026-07-14T16:10:00Z", "suspected_source": source}

    for source, right in (("XT_TOWN..TZ_TOWN", 1), ("..TZ_TOWN", 1), ("OF_TZ_RAIN", 0), ("LXT_TAOZHUANG..TZ_TOWN", 0)):
        r = score([pipe("e1")], [alert("a1", source)], station_days=1)
        assert (r.segment_total, r.segment_right, r.source_total) == (1, right, 0), source
        # and the outcome says what was named, for the bench's list of wrong sources
        assert (r.outcomes[0].named, r.outcomes[0].localised) == ((source,), bool(right)), source
    # never raised: not counted (as for outfalls, localisation is judged on what was found)
    r = score([pipe("e1")], [], station_days=1)
    assert (r.segment_total, r.segment_right) == (0, 0)
    assert (r.outcomes[0].named, r.outcomes[0].localised) == ((), None)


def test_an_outfalls_discharge_named_for_another_outfall_is_listed_as_not_localised() -> None:
    # Two alerts answer it: the river station's names the factory beside the rain outfall.
    ev = _ev("e1", "OF_XT_RAIN", "2026-07-14T16:00:00Z", source="OF_XT_RAIN")
    ev["stations"] = ["OF_XT_RAIN", "XT_TOWN"]
    wrong = {"id": "a1", "kind": "illegal_discharge", "station": "XT_TOWN", "start": "2026-07-14T16:20:00Z",
             "raised_at": "2026-07-14T16:20:00Z", "suspected_source": "OF_XT_WWTP"}
    r = score([ev], [wrong], station_days=1)
    assert (r.source_total, r.source_exact) == (1, 0)
    assert (r.outcomes[0].named, r.outcomes[0].localised) == (("OF_XT_WWTP",), False)
    right = {**wrong, "id": "a2", "station": "OF_XT_RAIN", "suspected_source": "OF_XT_RAIN"}
    r = score([ev], [wrong, right], station_days=1)
    assert (r.outcomes[0].named, r.outcomes[0].localised) == (("OF_XT_RAIN", "OF_XT_WWTP"), True)


def test_a_dry_weather_flow_alert_is_false_only_where_nothing_flowed_but_the_meters_noise() -> None:
    # At OF_XT_RAIN sewage let in in dry weather is dry-weather flow too: the alert beside
    # the discharge's is right. At OF_TZ_RAIN nothing flowed: that one is false.
    dis = _ev("e1", "OF_XT_RAIN", "2026-07-14T16:00:00Z")
    alerts = [{"id": "a1", "kind": "illegal_discharge", "station": "OF_XT_RAIN", "start": "2026-07-14T16:00:00Z",
               "raised_at": "2026-07-14T16:05:00Z"},
              {"id": "a2", "kind": "dry_weather_flow", "station": "OF_XT_RAIN", "start": "2026-07-14T16:00:00Z",
               "raised_at": "2026-07-14T16:10:00Z"},
              {"id": "a3", "kind": "dry_weather_flow", "station": "OF_TZ_RAIN", "start": "2026-07-15T03:00:00Z",
               "raised_at": "2026-07-15T03:10:00Z"}]
    r = score([dis], alerts, station_days=2, rain_outfall_days=4)
    assert (r.false_pollution, r.false_dry_weather_flow, r.rain_outfall_days) == (0, 1, 4)
    assert r.unmatched_by_kind == {"dry_weather_flow": 2}


def test_the_setting_names_the_outfall_kind_and_what_made_it_hard() -> None:
    assert setting({"source": "OF_XT_RAIN", "hard": "discharge_in_rain"}, REG) == "rain outfall, in rain"
    assert setting({"source": "OF_XT_WWTP"}, REG) == "sewage plant outfall"
    assert setting({"source": None}, REG) == "into a river, unmonitored pipe"


def test_the_markers_seen_are_counted_at_the_station_where_most_moved() -> None:
    # TN and flow are no markers; DO and turbidity are.
    ev = {"signature": {"BH2": {"nh3n": 0.3, "tn": 0.4}, "BH3": {"nh3n": 0.2, "do": -0.5, "turb": 3.0},
                        "OF_X": {"flow": 20.0, "cond": 80.0}}}
    assert markers_seen(ev) == 3
    assert markers_seen({"signature": {"BH2": {"nh3n": 0.3, "tn": 0.4, "temp": 0.2}}}) == 1
    assert markers_seen({}) == 0


def test_a_miss_is_listed_with_its_first_station_and_its_size() -> None:
    ev = _ev("month-0014-illegal_discharge", "BH2", "2026-07-14T23:05:00Z", source=None,
             signature_type="sewage", flow_l_s=25.2, signature={"BH2": {"nh3n": 0.3125, "tp": 0.0429}})
    (o,) = score([ev], [], station_days=1).outcomes
    line = _miss_line(20291073, o, REG)
    assert line == ("  20291073 month-0014-illegal_discharge: into a river, unmonitored pipe, sewage, 25.2 L/s, "
                    "source –; first at BH2 2026-07-14T23:05:00Z (nh3n +0.312, tp +0.0429); never raised")
    # with the truth's seen_at, how many markers had shown within 30 min (TP only at the
    # analysers' next result, 40 min after arrival)
    ev["seen_at"] = {"BH2": {"nh3n": "2026-07-14T23:05:00Z", "tp": "2026-07-14T23:45:00Z"}}
    (o,) = score([ev], [], station_days=1).outcomes
    assert _miss_line(20291073, o, REG).endswith("(nh3n +0.312, tp +0.0429); 1 marker in 30 min; never raised")


def test_the_bench_replays_the_files_it_already_has(tmp_path, capsys) -> None:
    args = ["bench", "detect", "--scenario", "demo-night", "--seeds", "1", "--out", str(tmp_path)]
    assert main(args) == 0
    first = capsys.readouterr().out
    (csv,) = tmp_path.glob("demo-night-*.csv")
    made = csv.stat().st_mtime_ns
    assert main([*args, "--reuse", "--misses"]) == 0
    again = capsys.readouterr().out
    assert csv.stat().st_mtime_ns == made  # replayed, not generated again
    # the night's one scripted discharge, at a rain outfall in dry weather, raised in time
    assert "illegal discharges by setting:\n  rain outfall " in first
    assert "1 events,    1 within 30 min (100 %)" in first
    # one event in time is 100 %, but says little: the interval is printed beside it
    assert ("illegal discharges within 30 min: 1/1 = 100.0 % (95 % interval 20.7–100.0 %): "
            "target ≥ 95 % not told apart by 1 event\n") in first
    assert "markers the truth saw move" in first and "  two or more at a station " in first
    assert "false dry-weather-flow alerts (no dry-weather flow nor discharge at the rain outfall): " in first
    table = [x for x in first.splitlines() if x.startswith(("illegal", "  rain"))]
    assert table == [x for x in again.splitlines() if x.startswith(("illegal", "  rain"))]
    assert "not raised within 30 min" not in again


def test_seeds_replayed_in_two_processes_score_as_one_at_a_time(tmp_path, capsys) -> None:
    def table(out: str) -> list[str]:
        lines = out.splitlines()
        first = next(i for i, x in enumerate(lines) if x.startswith("scenario demo-night,"))
        # everything but the timing figures and the folder
        return [x for x in lines[first:] if "readings/s" not in x and "µs" not in x and not x.startswith("files")]

    args = ["bench", "detect", "--scenario", "demo-night", "--seeds", "2"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    one = capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "two"), "--jobs", "2"]) == 0
    two = capsys.readouterr().out
    assert "2 seeds in 2 processes" in two
    assert "scenario demo-night, 2 seed(s)" in one
    assert table(one) == table(two)


def test_the_water_interval_option_samples_the_water_stations_at_it(tmp_path, capsys) -> None:
    args = ["bench", "detect", "--scenario", "demo-night", "--seeds", "1", "--out", str(tmp_path)]
    assert main([*args, "--water-interval", "600"]) == 0
    out = capsys.readouterr().out
    assert "scenario demo-night-w600, 1 seed(s)" in out
    (csv,) = tmp_path.glob("demo-night-w600-*.csv")
    times = {x.split(",")[0] for x in csv.read_text(encoding="utf-8").splitlines()[1:] if ",TZ_TOWN," in x}
    assert times and all(t[14:16] in ("00", "10", "20", "30", "40", "50") for t in times)
    assert main([*args, "--water-interval", "0"]) != 0


def test_a_core_setting_is_judged_on_the_same_months(tmp_path, capsys) -> None:
    args = ["bench", "detect", "--scenario", "demo-night", "--seeds", "1", "--out", str(tmp_path)]
    assert main(args) == 0
    capsys.readouterr()
    (alerts,) = tmp_path.glob("demo-night-*.alerts.jsonl")
    before = alerts.read_text(encoding="utf-8")
    # A bar no rise reaches (nor a marker far out, which with the water's pH moving is an
    # outfall's effluent changing), and no outfall flow that counts (the levels of
    # wastewater are judged on an outfall flowing), and the probes-alone rule off (its own
    # bar): the night's discharge is no longer raised.
    assert main([*args, "--reuse", "--set", "z_rise=1000", "--set", "z_support=1000", "--set", "z_fault=1000",
                 "--set", "storm_sewage_nh3n=1000", "--set", "outfall_flow_l_s=1e9", "--set", "probe_trio_z=0"]) == 0
    out = capsys.readouterr().out
    assert ("core settings z_rise=1000 z_support=1000 z_fault=1000 storm_sewage_nh3n=1000 "
            "outfall_flow_l_s=1e9 probe_trio_z=0") in out
    assert "illegal_discharge" in before and "illegal_discharge" not in alerts.read_text(encoding="utf-8")
    assert main([*args, "--reuse", "--set", "z_rsie=3"]) == 2
    assert main([*args, "--reuse", "--set", "z_rise=high"]) == 2


def test_a_discharge_in_a_storm_is_in_rain_scripted_or_not() -> None:
    assert setting({"source": "OF_XT_RAIN", "raining": True}, REG) == "rain outfall, in rain"
    assert setting({"source": None, "raining": True}, REG) == "into a river, unmonitored pipe, in rain"
    assert setting({"source": "OF_XT_RAIN", "hard": "small_discharge", "raining": True}, REG) == \
        "rain outfall, small"


def test_each_miss_is_drawn_from_the_readings_of_its_window(tmp_path) -> None:
    from datetime import timedelta

    from envmon.benches.miss_plots import plot_misses, read_windows
    from envmon.timeutil import format_time, parse_time

    arrival = parse_time("2026-07-14T23:05:00Z")
    ev = _ev("month-0014-illegal_discharge", "BH2", format_time(arrival), source=None,
             signature={"BH2": {"nh3n": 0.31}}, seen_at={"BH2": {"nh3n": "2026-07-14T23:45:00Z"}})
    rows = ["time,station,parameter,value,flag"]
    for k in range(-40, 50):  # every 5 min from 3 h 20 min before to 4 h after
        t = format_time(arrival + k * timedelta(minutes=5))
        rows += [f"{t},BH2,nh3n,{0.4 + (0.3 if k >= 8 else 0.0)},N", f"{t},BH2,cond,520,N",
                 f"{t},BH2,tn,{1.5 + (0.4 if k >= 8 else 0.0)},N", f"{t},BH2,ph,7.5,N", f"{t},BH9,nh3n,9,N"]
    (tmp_path / "month-1.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "month-1.alerts.jsonl").write_text("", encoding="utf-8")

    # only the stations and windows asked for, only the parameters a figure draws
    got = read_windows(tmp_path / "month-1.csv", {"BH2": [(arrival - timedelta(hours=2), arrival + timedelta(hours=3))]})
    assert set(got) == {"BH2"} and set(got["BH2"]) == {"nh3n", "cond", "tn"}
    assert len(got["BH2"]["nh3n"]) == 61 and min(t for t, _ in got["BH2"]["nh3n"]) == arrival - timedelta(hours=2)

    (o,) = score([ev], [], station_days=1).outcomes
    (png,) = plot_misses([(1, o)], tmp_path, "month", REG, lambda seed, o: f"{seed} {o.event['id']}")
    assert png == tmp_path / "misses" / "1-month-0014-illegal_discharge.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a miss whose stations have no readings in the file: no figure, and none counted
    (o,) = score([_ev("month-0015-illegal_discharge", "BH3", format_time(arrival))], [], station_days=1).outcomes
    assert plot_misses([(1, o)], tmp_path, "month", REG, lambda seed, o: "") == []
