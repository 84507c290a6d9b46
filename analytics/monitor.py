"""The pure analytics core: ``Monitor.process(reading) -> list[Event]``.

No I/O. The live service and ``envmon replay`` feed the same object, so what is measured
offline is what runs live. Readings of one station that share a timestamp form a snapshot;
a snapshot is evaluated when the station's next timestamp arrives (or on :meth:`flush`).

What it decides, per station and snapshot:

- ``illegal_discharge`` — a correlated rise of conductivity / NH3-N / COD(Mn) / TP /
  turbidity (DO down) against the station's own robust baseline, or a small one that
  steps up against the hour before and stays; not explained by rain. The first station
  that sees it opens an *incident*; a station further down that sees it after about the
  registry's travel time corroborates it (confidence up) instead of raising its own
  alert. The source is localised to the outfalls discharging into the segment above the
  first station, preferring an outfall with its own evidence (dry-weather flow or a
  signature at the outfall); else the segment ``U..S``.
- ``dry_weather_flow`` — flow at a rain outfall with no rain in the last 24 h.
- ``sensor_fault`` — one parameter jumping far out of its baseline with no support from the
  station's other parameters, a value stuck for an hour, or device flags (D, B) persisting:
  for maintenance, never pollution.
- ``station_offline`` — no data for 3 sampling intervals (data clock); backfill closes it.
- ``exceedance`` — GB 3838 hourly single-factor class worse than the target class; GB 3096
  hourly Leq over the zone's day/night limit; hourly AQI (HJ 633) above 100; GB 18918 at
  sewage-plant outfalls. ``noise_night_burst`` — night Lmax more than 15 dB over the limit.

Derived series (class, AQI, Leq) are queued for :meth:`drain_derived`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise, takewhile
from typing import Any

import numpy as np

from analytics.detectors.base import RollingStats
from analytics.permits import STANDARD_BY_TYPE, Permit, Permits
from analytics.policy import AlertPolicy, Condition
from analytics.standards import Limit, gb3096, gb3838, gb8978, gb18918, hj633
from envmon.alerts import Event
from envmon.params import RAIN_MM_H, load_parameters
from envmon.reading import VALID_FLAGS, Reading
from envmon.stations import Registry, Station
from envmon.timeutil import CST, cst_day_start, cst_hour_start, is_night

# Parameters whose rise marks sewage or industrial wastewater (standards.md §7.1). Total
# nitrogen counts in a river, where national automatic stations measure it (the "9+X" set,
# standards.md §1): raw sewage carries some tens of mg/L of it, mostly as NH3-N (not in
# standards.md: [M]). Its analyser is an instrument of its own, so an NH3-N analyser's
# fault does not move it, but a plume does. It is never the dissolved lead a signature
# needs (drainage from fields brings nitrate), nor a marker of its own beside NH3-N.
RISE_PARAMS = ("cond", "nh3n", "cod", "codmn", "tp", "tn", "turb")
COMPANY_ONLY = ("tn",)  # adds its weight to the others' evidence; never counted, never the lead
CHEMISTRY = ("cond", "nh3n", "cod", "codmn", "tp")
# Dissolved markers of wastewater. Particles alone (turbidity with TP and COD_Mn bound to
# them) come from runoff, resuspension or sediment in a sample line, not from a pipe.
DISSOLVED = ("cond", "nh3n")
STEP_MARKERS = (*CHEMISTRY, "do")  # the step rule also weighs DO going down
# Smallest change that can count, whatever the baseline's spread: of the order of the
# instruments' resolution/repeatability, so a very quiet baseline cannot make noise an event.
MIN_SCALE = {"cond": 8.0, "nh3n": 0.05, "cod": 1.0, "codmn": 0.3, "tp": 0.01, "turb": 2.0,
             "do": 0.25, "ph": 0.05, "temp": 0.2, "tn": 0.1, "flow": 1.0, "level": 0.02,
             # Air (spikes only): reported in whole µg/m³ (CO in 0.1 mg/m³ steps of the
             # national reports), so a baseline of a few µg/m³ can have a MAD of 0, and an
             # analyser's repeatability near zero is about 2 µg/m³ [M: not in standards.md].
             "so2": 2.0, "no2": 2.0, "o3": 2.0, "pm25": 2.0, "pm10": 2.0, "co": 0.1}
# Parameters whose values naturally repeat (a flat reading there is not a stuck sensor).
FLAT_OK = {"flow", "level", "rain"}
# Parameters whose natural excursions (boats, wind resuspension, storms) are too common for
# a lone jump to say "broken sensor".
JUMP_OK = {"turb", "flow", "level", "rain"}
PARTICLE = ("turb", "tp", "codmn")
# Parameters watched for single-sample spikes (:meth:`Monitor._spikes`), per medium. A sound
# level meter's are judged by its range, not by a z: noise is impulsive by nature.
SPIKE_PARAMS = {"water": ("turb", "cond", "do", "ph", "nh3n", "cod"),
                "air": ("pm25", "pm10", "so2", "no2", "o3", "co"),
                "noise": ("laeq",)}
# Any other parameter this far from its baseline counts as support for a change.
Z_SUPPORT = 2.5
CST_HOURS = int(CST.utcoffset(None).total_seconds()) // 3600  # the day's rhythm is kept by CST hour
# A marker whose value changes at more than this share of samples (EWMA) is a probe reading
# each sample; an hourly analyser holds its result until the next one.
MOVING = 0.7
_SQRT2 = math.sqrt(2.0)
_SPIKE_WINDOW = timedelta(hours=2)  # spikes this close together make a fault (``spike_count``)


def _sample_noise(a: np.ndarray) -> float:
    """A series' sample-to-sample noise as a standard deviation, from its first differences
    (robust: the median of their absolute values, a difference of two samples having √2
    their spread), so a level that moves slowly adds little to it. Not their spread about
    their median: a steady trend's step is in every difference, and counts as noise."""
    return RollingStats.MAD_TO_SIGMA * float(np.median(np.abs(np.diff(a)))) / _SQRT2


def _zh(*params: str) -> str:
    """Parameters by their Chinese names (``label_zh`` of seeds/parameters.toml), for the
    messages officials and field teams read; a parameter the table lacks keeps its code.

    >>> _zh("nh3n", "codmn"), _zh("cod")
    ('氨氮、高锰酸盐指数', '化学需氧量')
    """
    table = load_parameters()
    return "、".join(table.label(p) for p in params)


def _median(xs: list[float]) -> float:
    """The median of a short list (sorted in place), as ``np.median`` gives it."""
    xs.sort()
    n = len(xs)
    m = n // 2
    return xs[m] if n % 2 else 0.5 * (xs[m - 1] + xs[m])


@dataclass(frozen=True, slots=True)
class Derived:
    """A derived point for InfluxDB (class, AQI, Leq ...)."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, Any]
    time: datetime


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    baseline_window: int = 72  # samples in the rolling baseline (6 h at 5 min)
    # Recompute median/MAD every n samples: the baseline moves slowly, the saving is large.
    baseline_every: int = 4
    min_history: int = 12  # samples before a station's baseline is trusted
    # The day's rhythm (a plant's effluent load, photosynthesis, a factory's shifts): a 6-h
    # baseline lags a daily cycle, and the cycle's steepest climb each day reads as a rise.
    # A river or plant/factory outfall station keeps, per parameter and hour of the day
    # (CST), how far above its rolling median the hour ran on each of the last
    # ``rhythm_days`` days; the median of those days moves the baseline's median at that
    # hour once ``rhythm_min_days`` of them are known, less one scale of the z (a rhythm
    # smaller than the noise is none). A median over days: a discharge on a
    # few of them, or a storm, leaves it where it was; one repeated at the same hour on more
    # than half of the days becomes the station's rhythm (as a signature lasting
    # ``protect_max_s`` becomes its new level).
    rhythm_days: int = 7
    rhythm_min_days: int = 3
    z_rise: float = 4.0  # robust z for a parameter to count as risen
    z_support: float = 2.0  # robust z for a parameter to add its evidence to a correlated rise
    z_fault: float = 8.0  # a lone parameter this far out, unsupported: a fault candidate
    # Conductivity's robust z for a climbing front to begin a plume (:meth:`_salt_front`):
    # under ``z_rise``, because the climb's shape is the evidence a lone z lacks.
    z_front: float = 3.0
    min_rises: int = 2  # parameters that must rise together for a discharge signature
    step_before: int = 12  # samples before a step: its reference level (1 h at 5 min)
    step_after: int = 6  # samples since it, the current one included (30 min)
    # The step rule's two windows together span no longer than this: at a slower cadence
    # they hold fewer samples (:meth:`_step_samples`). Counted in samples they stretch with
    # the interval (3 h at 10 min, 18 h at 1 h), and an effluent that drifts over hours
    # then reads as a step.
    step_span_s: float = 5400.0
    protect_max_s: float = 4 * 3600.0  # stop protecting the baseline after this long
    rain_mm_h: float = RAIN_MM_H  # rain intensity that counts as rain
    rain_memory_s: float = 6 * 3600.0  # wet-weather explanation window for rivers
    dry_weather_s: float = 24 * 3600.0  # no rain this long = dry weather (outfalls)
    # Dry weather for dry-weather flow means no measurable rain at all: 0.1 mm, the least
    # precipitation a Chinese weather station records (below it is "trace"), not the
    # 0.5 mm/h that counts as rain for the rules' wet-weather explanations. Drizzle makes
    # runoff too (20301411: 0.1–0.4 mm/h for an hour, four rain outfalls at 11–16 L/s).
    measurable_rain_mm_h: float = 0.1
    # Flow at a rain outfall in dry weather counts when the mean of its last ``dwf_samples``
    # readings, less ``z_support`` standard errors of that mean, stands above
    # ``outfall_flow_l_s``: a flow meter reads noise about zero when nothing flows (at these
    # outfalls up to 1.5–2 L/s, three samples running now and then), and a misconnection
    # flows steadily.
    dwf_samples: int = 3
    dry_spell_s: float = 3 * 3600.0  # rain after this long without starts a new storm
    storm_min_samples: int = 6  # a storm's own baseline at a rain outfall, after its flush
    storm_window: int = 12  # samples of a storm's recent course (1 h at 5 min)
    # At a faster cadence both hold more samples, so that the window spans at least this
    # long (:meth:`_storm_samples`): a first flush takes its own minutes to come in, not a
    # number of samples, and at 1 min six samples of flowing are still in its climb.
    storm_span_s: float = 3600.0
    storm_nh3n_excess: float = 2.0  # mg/L over the dry-weather median (standards.md §7.1 [M])
    storm_sewage_nh3n: float = 10.0  # mg/L: half the low end of raw sewage's 20–40 (§7.1 [M])
    # Water leaving a rain outfall in dry weather with COD over this GB 8978-1996 grade's
    # limit (grade 1: 100 mg/L, the limit of a permitted direct discharge) is wastewater by
    # its level, whatever the outfall's history (industrial effluent carries little NH3-N).
    wastewater_grade: str = "1"
    # Conductivity at this multiple of its dry-weather median is wastewater: the conservative
    # end of the "1.5–2 × baseline" jump of standards.md §7.1 [M]; runoff dilutes salts.
    storm_sewage_cond_ratio: float = 2.0
    # A storm recession, for the dilution-reversed rule: the flow at most this share of what it
    # was three samples before.
    recession_flow_ratio: float = 0.8
    # Salt against the rain: rain carries almost no salts, so while a storm flows a rain
    # outfall's conductivity holds or falls, and the salts it carries (flow × conductivity)
    # never grow. Conductivity this share above where the storm's water was over its last
    # three samples, with the flow not falling or else its salt load as much above theirs,
    # and NH3-N, COD or TP as much above theirs, is wastewater let in (industrial effluent
    # carries little NH3-N, so the NH3-N gate of the other storm rules would let it through). Judged after
    # ``storm_min_samples`` of the outfall flowing: the first flush washes salts too.
    storm_salt_jump: float = 0.25
    # Salts without particles: in a flowing storm, conductivity up by this share and NH3-N
    # by ``storm_salt_jump`` over one of the last three samples while turbidity rose by far
    # less is wastewater let in (:meth:`_salts_without_particles`). A sewage
    # share f of the flow lifts conductivity by about 1.5 f over storm water (sewage
    # 800–1500 µS/cm, standards.md §7.1 [M]), so 10 % is a seventh of the flow in sewage.
    storm_salt_step: float = 0.10
    # One dissolved marker's load added to a flowing storm without particles: NH3-N up by this
    # share (conductivity by ``storm_salt_jump``) over one of the storm's last three samples,
    # with its load, while turbidity holds (:meth:`_dissolved_without_particles`). Twice the
    # salts' bar: the second instrument beside it need only clear the weaker bar.
    storm_nh3n_jump: float = 0.5
    # A conductivity front that has passed a river station before the hourly analysers
    # reported stays evidence for the first results drawn after it came in: an analyser
    # draws once a cycle (an hour) and reports up to a cycle after it drew, so a plume the
    # probe saw is in a result at most two cycles later.
    front_memory_s: float = 2 * 3600.0
    # The largest step of a front's climb, as a share of the whole (:meth:`_salt_front`): a
    # probe's jump comes in at one sample (a share near 1), a plume's front over two samples
    # or more. Over more than half, the climb is two steps: the larger at most twice the
    # smaller, the smaller ``z_support`` of the probe's sample noise (not the noise beside
    # a jump).
    front_step_share: float = 2.0 / 3.0
    # The probes alone between two results of the hourly analysers (:meth:`_probes_alone`):
    # conductivity up, turbidity up and DO down, each this many scales, at two samples
    # running. Wastewater is salty, turbid and without oxygen; a fault moves one instrument,
    # runoff dilutes the salts, a stirred bed or an algal night moves no salts. 0: off.
    probe_trio_z: float = 2.0
    # A parameter far out with no other beside it (``_lone_jump``, the fault pattern) for this
    # long is the instrument's, not the water's: while it stays ``z_rise`` out it no longer
    # counts as a marker of a discharge, and a discharge there must be shown by the others.
    # A plume's company comes within the hour (the probes' next samples, the analysers' next
    # result); a probe's offset stays alone until maintenance, and another marker wandering
    # to ``z_support`` beside it by chance read as a discharge (13 % of the simulator's
    # probe offsets reported as pollution on 108 months, 2026-12-07).
    fault_hold_s: float = 3600.0
    outfall_flow_l_s: float = 1.0  # flow at a rain outfall above this is a discharge
    stuck_samples: int = 12
    # A held result (an hourly analyser's, or a coarse probe's) must stay frozen for three
    # of its own cycles, and at least three times this long, before it is called stuck: a
    # count of samples is no measure of it, since at a 1-min cadence an hourly result is
    # held for 60 samples. The cycle is learnt from the parameter's own past runs (the
    # median of its last ``held_runs``); national stations' analysers report every 1–4 h.
    stuck_s: float = 3600.0
    held_runs: int = 8
    # Before a held parameter's cycle is known (no run of its own has ended since its first
    # result), the longest cycle in use: national automatic surface-water stations' analysers
    # report every 4 h at the longest ("每4小时", not in reference/standards.md: [M]). A
    # 4-hourly result is held for 4 h from its first cycle on and is no stuck sensor.
    max_cycle_s: float = 4 * 3600.0
    # Single-sample spikes within 2 h that make a fault: each is at least z_fault out and
    # back at once, which no river does; one is a bubble, two are a pattern. Counted by
    # instant: several parameters spiking at one sample are one spike.
    spike_count: int = 2
    offline_intervals: float = 3.0
    # Dropouts: a station that keeps reporting but loses records here and there. Over the
    # last ``dropout_window`` of its sampling instants, more than ``dropout_share`` missing
    # (gaps shorter than ``offline_intervals``; longer ones are outages) is a fault for
    # maintenance: a quarter missing leaves less than 45 min of an hour, which GB 3095-2012
    # (table 4) requires for an hourly value. That rule is not in reference/standards.md:
    # unverified [M].
    dropout_window: int = 12
    dropout_share: float = 0.25
    # A single loud pass (a truck, a horn) breaks the Lmax rule of GB 3096 every night near a
    # road; construction at night repeats. A burst alert needs this many over-limit intervals
    # within the window.
    burst_count: int = 3
    burst_window_s: float = 15 * 60.0
    burst_lift_db: float = 8.0
    noise_baseline_samples: int = 150  # night samples per half hour (five nights at 1 min)
    noise_baseline_min: int = 60
    # "data": a station is silent when the network's data clock ran on without it (replay);
    # "driver": the live driver calls tick(now) with its clock (wall time in production).
    offline_clock: str = "data"
    # HJ 633 edition: "auto" is the edition in force at the data's hour or day (2012 before
    # 2026-03-01, 2026 from then), as the official figures of that time were computed; "2026"
    # or "2012" forces one (a joint inspection comparing periods on one scale).
    aqi_edition: str = "auto"
    aqi_alert_above: int = 100
    wwtp_grade: str = "1A"
    # GB 8978-1996 grade an industrial outfall's day is judged at: "auto" takes it from the
    # class of the water it discharges into (:func:`gb8978.grade_for_water`), "1", "2" or
    # "3" sets it for every industrial outfall (grade 3: into a sewer leading to a plant).
    industrial_grade: str = "auto"

    def __post_init__(self) -> None:
        if self.aqi_edition not in ("auto", *hj633.EDITIONS):
            raise ValueError(f"aqi_edition must be 'auto' or one of {hj633.EDITIONS}, got {self.aqi_edition!r}")
        gb8978.limit("cod", self.wastewater_grade)  # a grade GB 8978 does not have fails here
        gb18918.limit("cod", self.wwtp_grade)  # and one GB 18918 does not have
        if self.industrial_grade != "auto":
            gb8978.limit("cod", self.industrial_grade)


@dataclass(slots=True)
class _Incident:
    first_station: str
    first_time: datetime
    last_time: datetime
    seen: dict[str, datetime] = field(default_factory=dict)
    source: str | None = None
    source_evidence: str = ""
    # Outfalls into the segment whose own stations watched their water through the plume's
    # time and saw nothing (:meth:`Monitor._clears_itself`): the segment is named instead.
    cleared: tuple[str, ...] = ()
    # Largest rise over baseline of each dissolved marker at the first station: a plume
    # only dilutes on its way down, so a station below that sees far more has a source of its own.
    peak: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _StationState:
    station: Station
    snap_time: datetime | None = None
    snap: dict[str, float] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)
    baselines: dict[str, RollingStats] = field(default_factory=dict)
    last_time: datetime | None = None
    # Since when the station has reported without missing a sample (a gap of more than two
    # intervals starts it again): what it can vouch for (:meth:`Monitor._clears_itself`).
    watch_since: datetime | None = None
    intervals: deque = field(default_factory=lambda: deque(maxlen=9))
    cadence: deque = field(default_factory=lambda: deque(maxlen=48))  # longer record of intervals
    cadence_s: float | None = None  # the station's own sampling interval, from ``cadence``
    gaps: deque = field(default_factory=deque)  # (time, sampling instants missed just before it)
    hour: datetime | None = None
    hour_sums: dict[str, list[float]] = field(default_factory=dict)
    day: datetime | None = None
    day_sums: dict[str, list[float]] = field(default_factory=dict)
    o3_hours: dict[int, float] = field(default_factory=dict)
    air_hours: deque = field(default_factory=lambda: deque(maxlen=24))  # (hour, {pm25, pm10, o3 means})
    storm_spell: datetime | None = None  # the storm the storm baselines belong to
    storm: dict[str, deque] = field(default_factory=dict)  # recent course of the open storm, per parameter
    storm_last: deque = field(default_factory=lambda: deque(maxlen=3))  # the storm's last snapshots, as they were
    storm_sig: tuple[str, ...] = ()  # the markers of a storm signature found at the last sample by the full rules
    salt_ref: dict[str, float] | None = None  # the sample salts without particles were found against, last sample
    # the markers and sample salts without particles or a dissolved load was found against, last sample
    load_ref: tuple[tuple[str, ...], dict[str, float]] | None = None
    flow_run: int = 0  # samples in a row the outfall has been flowing, this one included
    flows: deque = field(default_factory=deque)  # a rain outfall's last flow readings (``dwf_samples``)
    front: bool = False  # a wastewater front came in on the conductivity, which is still up
    front_at: datetime | None = None  # when the last front came in
    front_z: float = 0.0  # the conductivity's largest z while it was up
    protect_since: datetime | None = None
    # The day's rhythm, per parameter: the hour being summed (hours since the epoch), its
    # values' sum and count, per CST hour the last ``rhythm_days`` hourly means over the
    # rolling median, and their median per hour (NaN: not yet known; lists: read at every z).
    rhythm_hour: int | None = None
    rhythm_sum: dict[str, list[float]] = field(default_factory=dict)  # param -> [sum of values, count]
    rhythm_by_hour: dict[str, list[RollingStats]] = field(default_factory=dict)
    rhythm: dict[str, list[float]] = field(default_factory=dict)
    rhythm_known: bool = False  # some hour of some parameter is known
    rhythm_at: tuple[int, int, float] | None = None  # this sample's two nearest hours, weight of the later
    runs: dict[str, list] = field(default_factory=dict)  # param -> [value, run length, since when]
    run_spans: dict[str, deque] = field(default_factory=dict)  # param -> durations (s) of its last runs of 2+ samples
    move_rate: dict[str, float] = field(default_factory=dict)  # EWMA of "value changed"
    flag_run: dict[str, tuple[str, int]] = field(default_factory=dict)
    faults: list = field(default_factory=list)  # fault conditions found in this snapshot
    recent: dict[str, deque] = field(default_factory=dict)
    spikes: deque = field(default_factory=lambda: deque(maxlen=16))
    noise: gb3096.NoiseDayAggregator | None = None
    bursts: deque = field(default_factory=lambda: deque(maxlen=64))  # (time, Lmax) at night over limit+15
    night_leq: deque = field(default_factory=lambda: deque(maxlen=30))  # (time, laeq) at night
    course: dict[str, deque] = field(default_factory=dict)  # last samples per chemistry marker
    signature_at: datetime | None = None
    signature_since: datetime | None = None  # start of the current run of signatures
    alerted_at: datetime | None = None  # last evaluation with the outfall's discharge alert open
    offline: bool = False
    heard: datetime | None = None  # driver's clock when the station's data last arrived (live)
    lone: dict[str, datetime] = field(default_factory=dict)  # param -> since when far out alone (a fault)
    trio_prev: bool = False  # the probes alone showed a plume at the last sample (``_probes_alone``)


class Monitor:
    """One monitor per network (or per partition of stations). Feed readings in time order
    per station; stations may interleave.

    >>> from envmon.stations import load_registry
    >>> from envmon.timeutil import parse_time
    >>> m = Monitor(load_registry())
    >>> t = parse_time("2026-07-14T02:00:00+08:00")
    >>> m.process(Reading("TZ_TOWN", t, "nh3n", 0.4))
    []
    """

    def __init__(self, registry: Registry, config: MonitorConfig | None = None, permits: Permits | None = None):
        self.registry = registry
        self.config = config or MonitorConfig()
        self.permits = permits or Permits()  # outfalls' discharge permits (排污许可证), judged by day
        self.policy = AlertPolicy(station_info={s.id: (s.jurisdiction, s.name) for s in registry.values()})
        cod = gb8978.limit("cod", self.config.wastewater_grade)
        assert cod is not None and cod.upper is not None  # every grade limits COD
        self._wastewater_cod = cod.upper
        self._wastewater_grade = gb8978.GRADE_NAMES[str(self.config.wastewater_grade).strip()]
        # The top of a sound level meter's measuring range (seeds/parameters.toml): a minute
        # there is the meter's, not the street's (:meth:`_spikes`, :meth:`_noise`).
        self._meter_top = load_parameters()["laeq"].range_max
        self._st: dict[str, _StationState] = {}
        self._derived: list[Derived] = []
        self._incidents: list[_Incident] = []
        self._last_rain: datetime | None = None
        self._last_drop: datetime | None = None  # the last measurable rain (``measurable_rain_mm_h``)
        self._spell_start: datetime | None = None
        self._first_time: datetime | None = None
        self._clock: datetime | None = None
        self._last_offline_check: datetime | None = None
        self.readings = 0
        self.ignored = 0

    # -- public API ---------------------------------------------------------------------------
    def process(self, r: Reading, received: datetime | None = None) -> list[Event]:
        """One reading, in time order per station. ``received`` is the live driver's clock at
        arrival: a station backfilling stored readings is talking, however old their times."""
        st = self._st.get(r.station)
        if st is None:
            station = self.registry.get(r.station)
            if station is None:
                self.ignored += 1
                return []
            st = self._st[r.station] = _StationState(station)
        self.readings += 1
        if received is not None and (st.heard is None or received > st.heard):
            st.heard = received
        events: list[Event] = []
        if self._clock is None or r.time > self._clock:
            if self._clock is not None and self.config.offline_clock == "data":
                # Time order: every reading of an earlier instant is in. Judged before this
                # reading counts, a station silent until now has missed the samples up to the
                # old clock, whether or not it is the one that speaks first at the new one.
                events += self._check_offline(self._clock)
            self._clock = r.time
            if self._first_time is None:
                self._first_time = r.time
        if st.offline and (st.snap_time is None or r.time > st.snap_time):
            # Data again (live or backfilled): the outage is over.
            st.offline = False
            events += self.policy.absent(st.station.id, "station_offline", r.time)
        if st.snap_time is None:
            st.snap_time = r.time
        elif r.time > st.snap_time:
            events += self._evaluate(st)
            st.snap_time = r.time
        elif r.time < st.snap_time:
            # Late reading for a snapshot already evaluated: hourly aggregates only.
            self.ignored += 1
            return events
        p = r.parameter
        if r.flag in VALID_FLAGS:  # ``Reading.ok``, without a property call per reading
            st.snap[p] = r.value
            if p == "rain":
                self._rain(r.time, r.value)
        st.flags[p] = r.flag
        return events

    def _rain(self, t: datetime, mm_h: float) -> None:
        """A rain gauge's valid reading: the network's last drop and last rain, and the
        start of a new storm after a dry spell."""
        c = self.config
        if mm_h >= c.measurable_rain_mm_h:
            self._last_drop = t if self._last_drop is None else max(self._last_drop, t)
        if mm_h >= c.rain_mm_h:
            if self._last_rain is None or (t - self._last_rain).total_seconds() > c.dry_spell_s:
                self._spell_start = t  # a new storm: its first flush starts now
            self._last_rain = t if self._last_rain is None else max(self._last_rain, t)

    def tick(self, now: datetime, *, behind: bool = False) -> list[Event]:
        """The live driver's clock: check for silent stations as of ``now``.

        ``behind``: the driver is still reading a queue of messages (after a restart, or
        when the core could not keep pace for a while). Silence is then judged no further
        than the newest reading handed over so far: a station whose records wait in the
        queue behind the others' is not silent, it is unread. Once the queue is read, or
        when nothing arrives at all (a network gone quiet leaves no queue), the driver's
        clock judges again."""
        if behind and self._clock is not None and self._clock < now:
            now = self._clock
        return self._check_offline(now, data_clock=False)

    def process_many(self, readings: Iterable[Reading]) -> list[Event]:
        out: list[Event] = []
        for r in readings:
            out += self.process(r)
        return out

    def flush(self) -> list[Event]:
        """Evaluate every open snapshot and close the open hours (end of a replay)."""
        events: list[Event] = []
        for st in self._st.values():
            if st.snap_time is not None and (st.snap or st.flags):
                events += self._evaluate(st)
            events += self._close_hour(st)
            if st.day is not None:
                events += self._close_day(st)
            if st.noise is not None:
                for s in st.noise.flush():
                    events += self._noise_summary(st, s)
        return events

    def drain_derived(self) -> list[Derived]:
        out, self._derived = self._derived, []
        return out

    def open_alerts(self):
        return self.policy.open_alerts()

    # -- per snapshot ---------------------------------------------------------------------------
    def _evaluate(self, st: _StationState) -> list[Event]:
        t = st.snap_time
        assert t is not None
        snap, flags = st.snap, st.flags
        st.snap, st.flags = {}, {}
        events: list[Event] = []
        # Interval and offline bookkeeping.
        if st.last_time is not None and t > st.last_time:
            gap = (t - st.last_time).total_seconds()
            st.intervals.append(gap)
            st.cadence.append(gap)
            self._dropouts(st, t, gap)
            if gap > 2 * self._cadence(st):
                st.watch_since = t
        elif st.last_time is None:
            st.watch_since = t
        st.last_time = t
        st.rhythm_at = None
        if st.rhythm_known:
            h = (t.timestamp() / 3600.0 + CST_HOURS - 0.5) % 24.0  # an hour's mean sits at its middle
            st.rhythm_at = (int(h), (int(h) + 1) % 24, h - int(h))
        events += self._hourly(st, t, snap)
        self._device_flags(st, t, flags)
        medium = st.station.medium
        if medium == "water":
            if st.station.is_outfall:
                events += self._outfall(st, t, snap)
                self._stuck(st, snap)
            else:
                events += self._river(st, t, snap)
        elif medium == "noise":
            events += self._noise(st, t, snap)
            self._spikes(st, t, snap)
            self._stuck(st, snap)
        else:
            # Air: a baseline per pollutant, for its spikes only (the standards judge its
            # hours and days; a spike is judged against the sample before and after it).
            self._spikes(st, t, snap, alone=True)
            self._push_baselines(st, snap)
            self._stuck(st, snap)
        events += self._decide_faults(st, t)
        return events

    def _z(self, st: _StationState, p: str, v: float) -> float | None:
        b = st.baselines.get(p)
        if b is None or b.n < self.config.min_history:
            return None
        centre = b.memo
        if centre is None:
            med, mad = b.stats()
            # A concentration's spread grows with its level (2 % of it at least). pH is a
            # logarithm, where a share of the value means nothing: 2 % of pH 7.5 is 0.15,
            # which hid a pH probe jumping by 0.8 until the maintenance visit. Temperature
            # keeps the share: an industrial outfall's effluent steps with its process, and
            # without it those steps read as probe faults (5 in 12 months tried, 2026-12-06).
            # Kept with the statistics until the window moves (read for every sample).
            centre = b.memo = (med, max(mad, MIN_SCALE.get(p, 0.0), 0.0 if p == "ph" else 0.02 * abs(med)))
        med, scale = centre
        at = st.rhythm_at
        if at is not None and (day := st.rhythm.get(p)) is not None:
            a, b1 = day[at[0]], day[at[1]]
            if a == a and b1 == b1:  # both hours known (NaN is not equal to itself)
                # Shrunk by one scale: a few days' medians of an hour are noisy, and a rhythm
                # smaller than the noise is none (it would only add that noise to every z).
                off = a + at[2] * (b1 - a)
                if off > scale:
                    med += off - scale
                elif off < -scale:
                    med += off + scale
        return (v - med) / scale if scale > 0 else None

    def _keep_rhythm(self, st: _StationState, snap: dict[str, float], t: datetime) -> None:
        """Sum this sample into its hour of the station's daily rhythm (see ``rhythm_days``);
        when the hour turns, file the hour's means and update the median of their days."""
        c = self.config
        hour = int(t.timestamp() // 3600)
        if st.rhythm_hour is not None and hour != st.rhythm_hour:
            h_cst = (st.rhythm_hour + CST_HOURS) % 24
            for p, (total, n) in st.rhythm_sum.items():
                b = st.baselines.get(p)
                if b is None or b.n < c.min_history:
                    continue
                hours = st.rhythm_by_hour.get(p)
                if hours is None:
                    hours = st.rhythm_by_hour[p] = [RollingStats(c.rhythm_days) for _ in range(24)]
                    st.rhythm[p] = [math.nan] * 24
                # The hour's mean over the rolling median as the hour closes (the median
                # moves little within an hour; read once an hour, it costs nothing per sample).
                days = hours[h_cst]
                days.push(total / n - b.stats()[0])
                if len(days) >= c.rhythm_min_days:
                    st.rhythm[p][h_cst] = days.median()
                    st.rhythm_known = True
            st.rhythm_sum = {}
        st.rhythm_hour = hour
        sums = st.rhythm_sum
        for p, v in snap.items():
            acc = sums.get(p)
            if acc is None:
                sums[p] = [v, 1]
            else:
                acc[0] += v
                acc[1] += 1

    def _learn(self, st: _StationState, snap: dict[str, float], t: datetime, protect: bool) -> None:
        if st.station.outfall_type != "rain":
            self._keep_rhythm(st, snap, t)
        if protect:
            if st.protect_since is None:
                st.protect_since = t
            if (t - st.protect_since).total_seconds() < self.config.protect_max_s:
                return
            # A "signature" lasting this long is the river's new normal: learn it.
        else:
            st.protect_since = None
        self._push_baselines(st, snap)

    def _push_baselines(self, st: _StationState, snap: dict[str, float]) -> None:
        for p, v in snap.items():
            b = st.baselines.get(p)
            if b is None:
                b = st.baselines[p] = RollingStats(self.config.baseline_window, every=self.config.baseline_every)
            b.push(v)

    def _raining(self, t: datetime, memory_s: float) -> bool:
        return self._last_rain is not None and (t - self._last_rain).total_seconds() <= memory_s

    def _river(self, st: _StationState, t: datetime, snap: dict[str, float]) -> list[Event]:
        sid = st.station.id
        zs_all = {p: z for p in (*RISE_PARAMS, "do") if p in snap and (z := self._z(st, p, snap[p])) is not None}
        zs = self._without_faulty(st, t, zs_all)
        rain = self._raining(t, self.config.rain_memory_s)
        params = [p for p in RISE_PARAMS if not (rain and p == "turb")]
        signature, risen, do_down = self._correlated_rise(zs, params, with_do=True)
        ev = zs  # the evidence the signature was found on
        if not signature:
            # A front that has passed, for an analyser's result drawn while it did.
            ev = self._with_front(st, t, snap, zs)
            if ev is not zs:
                signature, risen, do_down = self._correlated_rise(ev, params, with_do=True)
        chem = [p for p in risen if p in CHEMISTRY]
        events: list[Event] = []
        if signature and rain and "cond" not in chem:
            # Runoff washes COD, TP, particles and NH3-N of its own into a river and dilutes
            # its salts; sewage and industrial wastewater are salty (800–1500 µS/cm against
            # 300–700 in these rivers, standards.md §7.1): in rain only a rise that
            # includes conductivity tells a pipe. Weighed, conductivity's ``z_support``
            # counts: back over its dry-weather baseline while rain dilutes the river, the
            # salts are a pipe's (BH4, 20291308: CODMn z 9, NH3-N, TP 3.5, conductivity 3).
            signature = False
        stepped = self._step_rise(st, snap, zs, wet=rain)
        if stepped and not signature:
            signature, risen, do_down = True, stepped, False
        front = self._salt_front(st, t, zs)
        if front and not signature:
            signature, risen, do_down = True, front, False
        if self._probes_alone(st, zs) and not signature:
            signature, risen, do_down = True, ["cond", "turb"], True
        if signature:
            events += self._discharge(st, t, snap, ev, risen + (["do"] if do_down else []), rain)
        else:
            events += self.policy.absent(sid, "illegal_discharge", t)
        lone = self._lone_jump(st, t, snap, zs_all, signature or self._incident_expected(sid, t))
        # Particles without dissolved markers, in dry weather, at one station only: sediment
        # drawn into the sample line (or a fouled turbidity window), not a discharge.
        particles = [p for p in PARTICLE if zs.get(p, 0.0) >= self.config.z_rise]
        if (len(particles) >= 2 and not signature and not rain
                and not any(zs.get(p, 0.0) >= self.config.z_rise for p in DISSOLVED)
                and not self._incident_expected(sid, t)):
            st.faults.append(Condition(
                sid, "water", "sensor_fault", tuple(particles), "info",
                f"{st.station.name} {_zh(*particles)} 同步升高而电导率、氨氮不变，且无降雨：疑似采样管路进泥",
                details={"pattern": "sediment"}))
        self._spikes(st, t, snap)
        self._stuck(st, snap)
        self._learn(st, snap, t, protect=signature or lone)
        return events

    def _probes_alone(self, st: _StationState, zs: dict[str, float]) -> bool:
        """The probes show a plume the hourly analysers have not yet drawn: conductivity and
        turbidity up and DO down, each ``probe_trio_z`` scales, at this sample and the one
        before. A pipe just above a station reaches it between two results (QX2, 20301493:
        a 55 L/s sewage pipe, the analysers' next result 40 min after the plume, the three
        probes 2–3 scales out together from its fourth sample on); the chemistry's rules
        could not see it before.
        Remembers this sample's answer for the next."""
        z = self.config.probe_trio_z
        trio = z > 0 and zs.get("cond", 0.0) >= z and zs.get("turb", 0.0) >= z and zs.get("do", 0.0) <= -z
        held, st.trio_prev = st.trio_prev, trio
        return trio and held

    def _lone_jump(self, st: _StationState, t: datetime, snap: dict[str, float], zs: dict[str, float],
                   explained: bool) -> bool:
        """One parameter far out (``z_fault``) with no other at ``Z_SUPPORT``: a sensor, not the
        water (the issue's "single parameter jumping without support"), noted as a fault unless
        a signature or a plume expected from upstream ``explained`` it. Flow, level, turbidity
        and rain move alone for reasons of their own (``JUMP_OK``). Remembers since when each
        such parameter has been out (``st.lone``, until it is back within ``z_rise``: see
        ``fault_hold_s``). Returns whether any parameter was that far out, so that the
        baseline does not learn it."""
        zs_all = {**zs, **{p: z for p in snap if p not in zs and (z := self._z(st, p, snap[p])) is not None}}
        if st.lone:
            for p in [p for p in st.lone if p in zs_all and abs(zs_all[p]) < self.config.z_rise]:
                del st.lone[p]
        lone = [p for p, z in zs_all.items() if abs(z) >= self.config.z_fault and p not in JUMP_OK]
        supported = [p for p, z in zs_all.items() if abs(z) >= Z_SUPPORT and p not in lone]
        if len(lone) == 1 and not supported and not explained:
            p = lone[0]
            st.lone.setdefault(p, t)
            where = "其他参数无佐证" if st.station.is_outfall else "其他参数与上下游无佐证"
            st.faults.append(Condition(
                st.station.id, "water", "sensor_fault", (p,), "info",
                f"{st.station.name} {_zh(p)} 单参数突变（z={zs_all[p]:.1f}），{where}，疑似仪器故障",
                details={"pattern": "jump", "z": round(zs_all[p], 1)}))
        return bool(lone)

    def _without_faulty(self, st: _StationState, t: datetime, zs: dict[str, float]) -> dict[str, float]:
        """``zs`` without the parameters that have been far out alone for ``fault_hold_s`` or
        longer (:meth:`_lone_jump`): the instrument's, not evidence of a discharge."""
        if not st.lone:
            return zs
        held = [p for p, since in st.lone.items() if (t - since).total_seconds() >= self.config.fault_hold_s]
        return {p: z for p, z in zs.items() if p not in held} if held else zs

    def _with_front(self, st: _StationState, t: datetime, snap: dict[str, float],
                    zs: dict[str, float]) -> dict[str, float]:
        """``zs`` with the conductivity of a front that has passed (see ``front_memory_s``):
        a plume shorter than the hourly analysers' cycle has left the probe before they
        report it. While an analyser's result drawn after the front came in is ``z_rise``
        out, conductivity weighs in the rules with its largest z of the front, not with
        where it is now. The front itself was judged a plume's by :meth:`_salt_front`
        (climbing over half an hour, not a probe's jump); alone, a front that does not hold
        for two samples raises nothing."""
        c = self.config
        if (st.front_at is None or (t - st.front_at).total_seconds() > c.front_memory_s
                or zs.get("cond", 0.0) >= st.front_z):
            return zs
        for p in CHEMISTRY:
            v = snap.get(p)
            if v is None or p == "cond" or st.move_rate.get(p, 1.0) > MOVING or zs.get(p, 0.0) < c.z_rise:
                continue
            run = st.runs.get(p)
            result_at = t if run is None or run[0] != v else run[2]
            if result_at is not None and result_at > st.front_at:
                return {**zs, "cond": st.front_z}
        return zs

    def _correlated_rise(self, zs: dict[str, float], params: Iterable[str], *,
                         with_do: bool = False) -> tuple[bool, list[str], bool]:
        """Is this snapshot a correlated rise of wastewater markers? Returns (signature,
        the parameters that rose, DO down).

        - Clear: ``min_rises`` markers at least ``z_rise`` out (DO that far down counts), a
          dissolved marker (conductivity, NH3-N) among them; the chemistry at ``z_support``
          beside them is named with them. Turbidity as one of the two asks for a third
          instrument at ``z_support``: stirred sediment lifts the particles and the NH3-N
          of its pore water, and nothing else need move.
        - Weighed: evidence adds up over the chemistry (conductivity,
          NH3-N, COD, CODMn, TP) at least ``z_support`` out — one marker at ``z_rise`` or
          more, a dissolved one among them, and together at least ``min_rises × z_rise``,
          the evidence of two clear rises. A small plume diluted in a river moves every
          marker a little. At a river station (``with_do``) three markers at ``Z_SUPPORT``,
          conductivity and NH3-N among them, need no lead. Turbidity never carries it
          (boats, wind and sediment stir particles); when turbidity is up, TP and COD
          travel bound to the particles and only the dissolved markers count. (In rain,
          runoff brings COD, TP and some NH3-N of its own: the caller asks for
          conductivity among the markers.) One marker far out (``z_fault``) with only weak
          company is the sensor-fault pattern, not a signature.
        - Total nitrogen (``COMPANY_ONLY``), where a river station measures it, adds its z
          to the evidence but is never counted as a marker of its own, nor leads: most of
          sewage's nitrogen is NH3-N, so NH3-N and TN up together are one substance measured
          twice (hourly analysers of a lake or a slow canal move them together on their
          own). It completes a plume that NH3-N, TP or CODMn already show.
        """
        c = self.config
        params = tuple(params)
        strong = [p for p in params if zs.get(p, 0.0) >= c.z_rise]
        do_down = with_do and zs.get("do", 0.0) <= -c.z_rise and any(p in CHEMISTRY for p in strong)
        own = [p for p in strong if p not in COMPANY_ONLY]
        turbid = zs.get("turb", 0.0) >= c.z_rise
        clear = len(own) + do_down >= c.min_rises and any(p in DISSOLVED for p in strong)
        if clear and "turb" in own and len(own) - 1 + do_down < c.min_rises:
            # Turbidity one of the two: a barge's wash or the wind stirring the bed lifts the
            # particles and releases the pore water's NH3-N with them, and nothing else need
            # move (a navigable river at night, tests/data/networks/long_chain.toml: 14 of 49
            # false alerts in 12 months were turbidity and NH3-N alone). A plume that lifts
            # the particles that far lifts more of its chemistry beside them: a third
            # instrument at ``z_support`` is asked.
            clear = any(p not in strong and zs.get(p, 0.0) >= c.z_support for p in params)
        if clear:
            # Named with the chemistry beside it at ``z_support`` (the weighed rule's company;
            # with turbidity up, the dissolved markers only): the alert names every
            # instrument that shows the plume, the rain's demand for the salts is judged as
            # the weighed rule judges it, and three instruments held since the sample before
            # raise at once (BH2, 20291322: CODMn z 8, conductivity 4.2, NH3-N 2.5).
            weigh = DISSOLVED if turbid else CHEMISTRY
            company = [p for p in params if p in weigh and c.z_support <= zs.get(p, 0.0) < c.z_rise]
            return True, sorted([*strong, *company], key=lambda p: -zs[p]), do_down
        count = DISSOLVED if turbid else tuple(p for p in params if p != "turb")
        rise = {p: z for p in params if p in count and (z := zs.get(p, 0.0)) >= c.z_support}
        lead = max((z for p, z in rise.items() if p not in COMPANY_ONLY), default=0.0)
        if with_do and rise and -zs.get("do", 0.0) >= c.z_support:
            # DO falling beside the chemistry is evidence too (wastewater's oxygen demand),
            # never the lead: DO also falls every night on its own.
            rise["do"] = -zs["do"]
        # At a river station no marker need lead when three instruments stand ``Z_SUPPORT``
        # out at once, the salts and NH3-N among them: a fault moves one instrument, noise
        # does not move three that far together, and runoff dilutes the salts (TZ_TOWN,
        # 20281558: CODMn z 3.4, conductivity 3.2, NH3-N 2.7, raised 20 min earlier).
        trio = [p for p, z in rise.items() if p not in COMPANY_ONLY and p != "do" and z >= Z_SUPPORT]
        led = lead >= c.z_rise or (with_do and len(trio) >= 3 and all(p in trio for p in DISSOLVED))
        signature = (any(p in DISSOLVED for p in rise) and led
                     and sum(p not in COMPANY_ONLY for p in rise) >= c.min_rises
                     and self._adds_up(sorted(rise.values(), reverse=True)))
        if not signature:
            return False, strong, do_down
        return True, sorted(rise, key=lambda p: -rise[p]), False

    def _adds_up(self, ev: list[float]) -> bool:
        """Moderate rises (``ev``, largest first) that together weigh as much as two clear
        ones: at least ``min_rises`` of them, summing to ``min_rises × z_rise``, and not one
        far out (``z_fault``) with only weak company, which is the sensor-fault pattern."""
        c = self.config
        return (len(ev) >= c.min_rises and sum(ev) >= c.min_rises * c.z_rise
                and not (ev[0] >= c.z_fault and ev[1] < Z_SUPPORT))

    def _step_rise(self, st: _StationState, snap: dict[str, float], zs: dict[str, float], *,
                   wet: bool) -> list[str]:
        """Chemistry markers that stepped up and stayed up, in dry weather: a small lasting
        discharge (a plant's bypass, a small pipe) moves each marker by about its noise
        against the 6-h baseline, but it starts at once, where a treatment plant's effluent
        (hours of retention) and a river (mixing) change gradually.

        The step of a marker is the median of its last ``step_after`` samples against the
        median of the ``step_before`` samples before them (fewer of each at a cadence slower
        than 5 min: :meth:`_step_samples`). Its scale is the larger of the
        sample-to-sample noise (from first differences) and how far the level itself
        wandered in that hour (a wandering industrial effluent is no step), at least the
        instrument's ``MIN_SCALE``, times the standard error of a difference of two medians.
        The evidence is weighed as in the dry-weather correlated rise: a dissolved marker
        (conductivity, NH3-N) stepping at least ``z_rise``, another at ``z_support`` or
        more, together at least ``min_rises × z_rise``; when turbidity is up only the
        dissolved markers count. Only markers that move at nearly every sample are judged
        (an hourly analyser's held result has no sample-to-sample noise). It is looked at
        only when a dissolved marker is already ``z_support`` above the rolling baseline or
        any chemistry marker ``z_rise`` above it, which keeps it cheap: an effluent whose
        NH3-N wanders keeps a wide baseline, and a bypass's NH3-N step may stand under
        ``z_support`` of it while its COD is clearly out (OF_YH2_WWTP, 20301209)."""
        c = self.config
        n = c.step_before + c.step_after - 1
        risen: list[str] = []
        if not wet and (any(zs.get(p, 0.0) >= c.z_support for p in DISSOLVED)
                        or any(zs.get(p, 0.0) >= c.z_rise for p in CHEMISTRY)):
            before, after = self._step_samples(st)
            steps: dict[str, float] = {}
            for p in STEP_MARKERS:
                v, w = snap.get(p), st.course.get(p)
                if v is None or w is None or len(w) < before + after - 1 or st.move_rate.get(p, 0.0) <= MOVING:
                    continue
                vals = list(w)[len(w) - (before + after - 1):]
                pre, post = vals[:before], sorted([*vals[before:], v])
                # Plain Python on a dozen values: numpy's per-call cost is most of the work.
                pre_med = _median([*pre])
                noise = _median([abs(b - a) for a, b in pairwise(pre)]) / _SQRT2
                sigma = RollingStats.MAD_TO_SIGMA * max(noise, _median([abs(x - pre_med) for x in pre]))
                # A median's variance is pi/2 that of a mean, for normal noise.
                se = max(sigma, MIN_SCALE.get(p, 0.0)) * math.sqrt(math.pi / 2 * (1 / after + 1 / before))
                # DO falls where wastewater comes in (its oxygen demand): a step down is evidence.
                steps[p] = (post[len(post) // 2] - pre_med) / se * (-1.0 if p == "do" else 1.0)
            count = (*DISSOLVED, "do") if zs.get("turb", 0.0) >= c.z_rise else STEP_MARKERS
            rise = {p: z for p, z in steps.items() if p in count and z >= c.z_support}
            if (any(p in DISSOLVED and z >= c.z_rise for p, z in rise.items())
                    and self._adds_up(sorted(rise.values(), reverse=True))):
                risen = sorted(rise, key=lambda p: -rise[p])
        for p in STEP_MARKERS:
            v = snap.get(p)
            if v is not None:
                w = st.course.get(p)
                if w is None:
                    w = st.course[p] = deque(maxlen=n)
                w.append(v)
        return risen

    def _step_samples(self, st: _StationState) -> tuple[int, int]:
        """The step rule's windows at this station's cadence, in samples (before the step,
        since it; a salt front's too): ``step_before`` and ``step_after``, fewer where they
        would span more than ``step_span_s`` together, never under half of each (a median of
        three still ignores one blip). Twelve and six samples of 10-min data compare two
        hours with the hour after them, and an industrial effluent drifting over a morning
        (OF_HP2_IND of tests/data/networks/lake_delta.toml: COD 40 → 48 mg/L in three hours,
        NH3-N and TP with it) stepped there: that network's 10-min months had four times
        the false alerts of its 5-min months.

        >>> m = Monitor(Registry([]))
        >>> st = _StationState(Station(id="S", name="s", medium="water", kind="outfall", lat=0, lon=0,
        ...                            jurisdiction="jiashan", outfall_type="industrial"))
        >>> for cadence in (60.0, 300.0, 600.0, 3600.0):
        ...     st.cadence_s = cadence
        ...     print(int(cadence), m._step_samples(st))
        60 (12, 6)
        300 (12, 6)
        600 (6, 3)
        3600 (6, 3)
        """
        c = self.config
        cadence = self._cadence(st)
        share = min(1.0, c.step_span_s / ((c.step_before + c.step_after) * cadence))
        return (max(c.step_before // 2, round(c.step_before * share)),
                max(c.step_after // 2, round(c.step_after * share)))

    def _salt_front(self, st: _StationState, t: datetime, zs: dict[str, float]) -> list[str]:
        """A wastewater front reaching a river station, seen by its conductivity probe
        before the hourly analysers report (industrial effluent is salty and carries little
        NH3-N; CODMn comes an hour later): conductivity ``z_front`` out of the 6-h baseline
        and climbing over the last ``step_after`` samples (the step rule's windows at the
        station's cadence, :meth:`_step_samples`) — most steps up, together at
        least 60 % of its rise over the hour before (so the rise is happening now), none
        more than half of it or, in two steps, ``front_step_share`` with the smaller
        ``z_support`` of the sample noise, the rise at least ``z_rise`` times that hour's
        sample noise — with DO not up. A plume spreads as it travels, so its front comes in
        over two samples or more (two from a pipe just above the station); a probe that
        jumps (an offset, fouling wiped off) does it from one sample to the next, and one
        that drifts takes days. (A logger that reports each interval's mean shows a jump in
        mid-interval over two samples; its larger part is under two thirds one time in
        three: such a probe's offset can read as a front. The simulator's loggers report
        instants, so its months cannot tell how often.) Once a front has come in, the plume
        behind it holds the signature while conductivity stays ``z_support`` up and DO
        does not rise ``z_support`` (its salts
        sway about their level; LXT_TAOZHUANG, 20281589, z 3.5, 3.8, 3.1, 4.9). The caller
        follows the front at every sample, whatever the other rules found. DO must not
        be up by ``z_support`` (oxygen-richer water coming in, a sluice opened onto another
        river); a DO reading a little above its median is noise, no evidence either way,
        and as likely at any sample as one a little below. Returns conductivity, with DO
        when it falls beside it (wastewater's oxygen demand)."""
        c = self.config
        z = zs.get("cond")
        w = st.course.get("cond")
        if z is None or z < (c.z_support if st.front else c.z_front):
            st.front = False
            return []
        found = ["cond", "do"] if zs.get("do", 0.0) <= -c.z_support else ["cond"]
        if st.front:
            # The plume behind its front, as long as its salts stay up and DO does not rise
            # (a front over two samples is found before other water's oxygen shows); its
            # largest z is what the analysers' results weigh once it has passed
            # (:meth:`_with_front`).
            if zs.get("do", 0.0) >= c.z_support:
                st.front, st.front_at = False, None  # other water: nothing for the analysers either
                return []
            st.front_z = max(st.front_z, z)
            return found
        before, after = self._step_samples(st)
        n = before + after - 1
        if w is None or len(w) < n or st.move_rate.get("cond", 0.0) <= MOVING or zs.get("do", 0.0) >= c.z_support:
            return []
        vals = np.fromiter(w, dtype=float)[len(w) - n:]
        pre = vals[:before]
        pre_med = float(np.median(pre))
        sigma = max(_sample_noise(pre), MIN_SCALE["cond"])
        rise = float(vals[-1]) - pre_med
        inc = np.diff(vals[-after:])
        top, second = (float(x) for x in np.sort(inc)[-1:-3:-1])
        # Over two samples: the smaller of the two steps must be a step, not the noise.
        two = top <= c.front_step_share * rise and second >= c.z_support * sigma
        if (rise < c.z_rise * sigma or float(inc.sum()) < 0.6 * rise or (top > 0.5 * rise and not two)
                or int((inc > 0).sum()) < 0.6 * len(inc)):
            return []
        st.front, st.front_at, st.front_z = True, t, z
        return found

    def _spikes(self, st: _StationState, t: datetime, snap: dict[str, float], *, alone: bool = False) -> None:
        """Single-sample excursions that come straight back, again and again: an electrical or
        optical fault (natural pulses last several samples). Judged at the sample after the
        spike: at least ``z_fault`` scales above both its neighbours, which lie within
        ``2 z_rise`` scales of each other. The scale is the baseline's (at least 2 % of the
        level around the sample); where the water around the sample is ``z_rise`` from the
        baseline, the spike must also stand out of the series' own sample-to-sample jitter
        over a whole hour of that water.

        - ``alone`` (an outfall, an air station): a sample at which two parameters spiked
          together is not counted. There a slug of wastewater or a puff of smoke can pass in
          one sample and moves several instruments at once; an instrument spikes alone. (A
          river mixes: nothing passes its station within one sample.)
        - A sound level meter (noise): noise is impulsive (a horn, a passing truck stands
          far out of a minute's baseline and is gone the next), so its spike is the meter's
          only when it reads at the top of its measuring range (``range_max`` of
          seeds/parameters.toml, where ingest flags T) for one minute, between two minutes
          below it. No street reaches that for a minute.
        """
        c = self.config
        medium = st.station.medium
        spiked = []
        for p in SPIKE_PARAMS.get(medium, ()):
            v = snap.get(p)
            if v is None:
                continue
            hist = st.recent.get(p)
            if hist is None:
                hist = st.recent[p] = deque(maxlen=c.step_before)
            hist.append(v)
            if len(hist) < 3:
                continue
            mid = hist[-2]
            a, after = hist[-3], v
            if mid <= a or mid <= after:
                continue  # no peak (most samples)
            if medium == "noise":
                if mid >= self._meter_top > max(a, after):
                    spiked.append(p)
                continue
            b = st.baselines.get(p)
            if b is None or len(b) < c.min_history:
                continue
            # The baseline's scale, at least 2 % of the level around the sample as in
            # :meth:`_z` (a concentration's spread grows with it; not pH, a logarithm).
            level = 0.0 if p == "ph" else 0.01 * abs(a + after)
            med, mad = b.stats()
            scale = max(mad, MIN_SCALE.get(p, 0.0), level)
            if not self._spike(a, mid, after, scale):
                continue
            out = c.z_rise * scale
            if abs(a - med) > out:
                # The water around it is not the baseline's (a discharge in progress at a
                # rain outfall, whose dry-weather baseline is kept): it jitters at its own
                # level, and the spike must stand out of that jitter too, over a whole hour
                # of that water (an hour that began at the baseline's level tells nothing of
                # it). Only there: where the water is the baseline's, its scale is the right
                # one, and a probe spiking every few samples would lift the jitter itself.
                if len(hist) < c.step_before or any(abs(x - med) <= out for x in hist):
                    continue
                if not self._spike(a, mid, after, max(scale, _sample_noise(np.fromiter(hist, float, len(hist))))):
                    continue
            spiked.append(p)
        spikes = st.spikes
        if spiked and not (alone and len(spiked) > 1):
            spikes.append((t, tuple(spiked)))
        while spikes and t - spikes[0][0] > _SPIKE_WINDOW:
            spikes.popleft()
        if len(spikes) >= c.spike_count:
            recent = [ps for _, ps in spikes]
            params = tuple(dict.fromkeys(p for ps in recent for p in ps))
            saturated = "，读数达仪器量程上限" if medium == "noise" else ""
            st.faults.append(Condition(
                st.station.id, medium, "sensor_fault", params, "info",
                f"{st.station.name} 2小时内 {len(recent)} 次单点尖峰后立即回落（{_zh(*params)}{saturated}），"
                "疑似传感器/供电干扰",
                details={"pattern": "spikes", "count": len(recent)}))

    def _spike(self, a: float, mid: float, after: float, scale: float) -> bool:
        """Is ``mid`` a spike between ``a`` and ``after``: ``z_fault`` scales above both,
        which lie within ``2 z_rise`` scales of each other?"""
        c = self.config
        return mid - a > c.z_fault * scale and mid - after > c.z_fault * scale and abs(after - a) < 2 * c.z_rise * scale

    def _stuck(self, st: _StationState, snap: dict[str, float]) -> None:
        """A value frozen for ``stuck_samples`` samples on a parameter that usually moves at
        (nearly) every sample. A parameter that holds its value (an analyser's result held
        until its next cycle, night water temperature at 0.1 °C) must stay frozen three times
        as many samples, and also three of its own cycles and three times ``stuck_s``: at a
        1-min cadence an hourly result is held 60 samples, and every one of them is normal."""
        c = self.config
        t = st.last_time
        stuck = []
        for p, v in snap.items():
            if p in FLAT_OK:
                continue
            prev = st.runs.get(p)
            moved = prev is None or prev[0] != v
            if prev is None or moved:
                if prev is not None and prev[1] > 1 and t is not None and prev[2] is not None and not prev[3]:
                    # A held run ended: how long this parameter holds a value. Not the run
                    # the data began with: it began with the data, not with a new result,
                    # and a run cut short that way would teach a cycle shorter than its own.
                    spans = st.run_spans.get(p)
                    if spans is None:
                        spans = st.run_spans[p] = deque(maxlen=c.held_runs)
                    spans.append((t - prev[2]).total_seconds())
                run: list = [v, 1, t, prev is None]
                st.runs[p] = run
            else:
                run = prev
                run[1] += 1
            rate = st.move_rate.get(p, 0.5)  # unknown until learned
            rate = st.move_rate[p] = rate + 0.02 * (float(moved) - rate)
            n = run[1]
            if rate > MOVING:
                if n >= c.stuck_samples:
                    stuck.append(p)
            elif n >= 3 * c.stuck_samples and self._frozen_three_cycles(st, p, run):
                stuck.append(p)
        if stuck:
            st.faults.append(Condition(
                st.station.id, st.station.medium, "sensor_fault", tuple(stuck), "info",
                f"{st.station.name} {_zh(*stuck)} 读数长时间不变，疑似传感器卡滞",
                details={"pattern": "stuck"}))

    def _frozen_three_cycles(self, st: _StationState, p: str, run: list) -> bool:
        """Has a held value's run (``[value, samples, since, first]``) lasted three of the
        parameter's cycles (``max_cycle_s`` while none is known), and three ``stuck_s``? The
        run covers its last sample's interval too, so at a 5-min cadence 36 samples are 3 h."""
        t, since = st.last_time, run[2]
        if t is None or since is None:
            return True
        spans = st.run_spans.get(p)
        cycle = max(self.config.stuck_s, float(np.median(spans)) if spans else self.config.max_cycle_s)
        gap = st.intervals[-1] if st.intervals else 0.0
        return (t - since).total_seconds() + gap >= 3 * cycle - 1e-6

    def _device_flags(self, st: _StationState, t: datetime, flags: dict[str, str]) -> None:
        """The instrument's own word (HJ 212 flags): D fault / B link fault persisting, or C
        calibration / M maintenance (data not valid while it lasts: an info for the operator;
        the serviced probe's baseline starts again when its normal data resume)."""
        runs = st.flag_run
        if not runs and all(f == "N" for f in flags.values()):
            return  # normal data everywhere and no run of another flag to end (nearly always)
        for p, f in flags.items():
            if f == "N":
                # Normal data (nearly every reading) ends any run of another flag. After a
                # calibration or maintenance (C/M) the probe has been serviced: what it read
                # before is no reference for it (an offset put right, a drift reset), so its
                # baseline starts again from its new readings. Kept, the repair itself read
                # as a probe jumping alone, a new fault hours after the visit.
                prev = runs.pop(p, None)
                if prev is not None and prev[0] in ("C", "M"):
                    st.baselines.pop(p, None)
                continue
            prev = runs.get(p)
            runs[p] = (f, prev[1] + 1) if prev is not None and prev[0] == f else (f, 1)
        broken = tuple(p for p, f in flags.items() if f in ("D", "B") and runs[p][1] >= 2)
        service = tuple(p for p, f in flags.items() if f in ("C", "M"))
        if broken:
            st.faults.append(Condition(
                st.station.id, st.station.medium, "sensor_fault", broken, "warning",
                f"{st.station.name} 仪器报告故障/通讯异常（HJ 212 标记 D/B）：{_zh(*broken)}",
                details={"pattern": "device_flag"}, min_hits=1))
        elif service:
            st.faults.append(Condition(
                st.station.id, st.station.medium, "sensor_fault", service, "info",
                f"{st.station.name} 仪器校准/维护中（HJ 212 标记 C/M），期间数据无效：{_zh(*service)}",
                details={"pattern": "calibration"}, min_hits=1))

    def _dropouts(self, st: _StationState, t: datetime, gap: float) -> None:
        """Records missing here and there (see ``dropout_share``). The station's cadence is
        the lower quartile of its recent intervals, so it holds while up to three in four
        records are missing; the first full window of history is needed before judging."""
        c = self.config
        if len(st.cadence) < c.dropout_window:
            return
        if st.cadence_s is None or abs(gap - st.cadence_s) > 0.01 * st.cadence_s:
            # Only an interval off the cadence can move its lower quartile: most snapshots
            # come on time, and this runs for every one.
            st.cadence_s = sorted(st.cadence)[len(st.cadence) // 4]
        cadence = st.cadence_s
        if cadence <= 0:
            return
        missed = round(gap / cadence) - 1
        if 0 < missed < c.offline_intervals:
            st.gaps.append((t, missed))
        if not st.gaps:
            return
        span = timedelta(seconds=c.dropout_window * cadence)
        while st.gaps and t - st.gaps[0][0] >= span:
            st.gaps.popleft()
        lost = sum(n for _, n in st.gaps)
        if lost > c.dropout_share * c.dropout_window:
            st.faults.append(Condition(
                st.station.id, st.station.medium, "sensor_fault", (), "warning",
                f"{st.station.name} 数据间断：近 {span.total_seconds() / 60:.0f} 分钟应有 {c.dropout_window} 组数据，"
                f"缺 {lost} 组（小时值需 45 分钟以上的数据），请检查采集仪与通讯",
                details={"pattern": "dropouts", "missing": lost, "expected": c.dropout_window},
                min_hits=1))  # the window is its minimum duration

    def _decide_faults(self, st: _StationState, t: datetime) -> list[Event]:
        """All fault evidence of one snapshot becomes one decision for (station, sensor_fault)."""
        faults, st.faults = st.faults, []
        if not faults:
            return self.policy.absent(st.station.id, "sensor_fault", t)
        rank = {"info": 0, "warning": 1, "critical": 2}
        main = max(faults, key=lambda c: rank[c.severity])
        params = tuple(dict.fromkeys(p for c in faults for p in c.parameters))
        patterns = sorted({c.details.get("pattern", "") for c in faults})
        merged = Condition(main.station, main.medium, "sensor_fault", params, main.severity,
                           "；".join(dict.fromkeys(c.message for c in faults)),
                           details={"patterns": patterns},
                           min_hits=min((c.min_hits for c in faults if c.min_hits), default=None))
        return self.policy.observe(merged, t)

    # -- discharge incidents ---------------------------------------------------------------------
    def _incident_expected(self, sid: str, t: datetime) -> bool:
        return any(self._arrival_ok(inc, sid, t) for inc in self._incidents)

    def _arrival_ok(self, inc: _Incident, sid: str, t: datetime) -> bool:
        """Could what ``sid`` sees at ``t`` be this incident's plume? Only while it can still
        be passing: from its arrival after the flow time, for as long as the first station
        saw it, with a tolerance for dispersion. A station that saw the plume once is not
        part of the incident for good: a later discharge there is a discharge of its own."""
        travel = self.registry.travel_minutes_between(inc.first_station, sid)
        if travel is None:
            return False
        expected = inc.first_time + timedelta(minutes=travel)
        tol = timedelta(minutes=max(30.0, 0.5 * travel))
        return expected - tol <= t <= expected + tol + (inc.last_time - inc.first_time)

    def _discharge(self, st: _StationState, t: datetime, snap: dict[str, float], zs: dict[str, float],
                   risen: list[str], rain: bool) -> list[Event]:
        sid = st.station.id
        self._incidents = [i for i in self._incidents if (t - i.last_time).total_seconds() < 12 * 3600]
        rise = {p: snap[p] - st.baselines[p].median() for p in DISSOLVED if p in snap and p in st.baselines}
        below: list[str] = []  # first stations of incidents whose plume cannot explain this
        for inc in self._incidents:
            if sid != inc.first_station and self._arrival_ok(inc, sid, t):
                if self._more_than_upstream(inc, rise):
                    below.append(inc.first_station)
                    continue
                # Downstream of an incident, in its window: the same plume. ``last_time``
                # stays the first station's, so the window follows the plume, not the echo.
                if inc.seen.setdefault(sid, t) == t:
                    return self._corroborate(inc, sid, t)
                return []
        # The station's own incident goes on while its signature comes back within the
        # discharge alert's re-arm window; after a longer quiet it is a new incident.
        rearm = timedelta(seconds=self.policy.kinds["illegal_discharge"].rearm_s)
        found = next((i for i in self._incidents if i.first_station == sid and t - i.last_time <= rearm), None)
        inc = found if found is not None else _Incident(sid, t, t, {sid: t})
        if found is None:
            inc.source, inc.source_evidence, inc.cleared = self._localise(st.station, t, below)
            self._incidents.append(inc)
        inc.last_time = t
        for p, d in rise.items():
            inc.peak[p] = max(inc.peak.get(p, 0.0), d)
        return self.policy.observe(self._discharge_condition(st, inc, t, snap, zs, risen, rain), t)

    @staticmethod
    def _more_than_upstream(inc: _Incident, rise: dict[str, float]) -> bool:
        """A dissolved marker here rose by more than twice its rise at the incident's first
        station: dilution and decay only shrink a plume downstream, so there is another
        input in between (an outfall, a hidden pipe) and this is a discharge of its own."""
        return any(d > 2.0 * inc.peak[p] for p, d in rise.items() if inc.peak.get(p, 0.0) > 0.0)

    def _outfalls_upstream(self, sid: str, t: datetime) -> list[tuple[Station, float]]:
        """Outfalls whose water reaches ``sid``, with their flow time to it (minutes)."""
        out = []
        for o in self.registry.values():
            if o.is_outfall:
                m = self.registry.travel_minutes_between(o.id, sid)
                if m is not None:
                    out.append((o, m))
        return out

    def _localise(self, station: Station, t: datetime, below: Iterable[str] = ()) -> tuple[str, str, tuple[str, ...]]:
        """Suspected source of a discharge first seen at ``station``, the evidence for it, and
        the outfalls into the segment that cleared themselves: an outfall with its own
        evidence (open discharge or dry-weather-flow alert, or a discharge alert of the last
        3 h) whose flow time fits; else the only outfall into the segment above, unless its
        own station watched its water through the plume's time and saw nothing
        (:meth:`_clears_itself`); else the segment. Outfalls above the stations in ``below``
        are ruled out (their plume is smaller than this).

        A monitored outfall that was clean while the river below it turned is not where the
        wastewater came from: a pipe straight into the river is (the simulator's months
        before 2026-12-07, eighth session, named a segment's only outfall for half the pipes
        into such segments, a sewage plant among them)."""
        outfalls = self.registry.outfalls_into(station.id)
        above = [b for b in below if b != station.id]
        best: tuple[float, str, str] | None = None
        for o, minutes in self._outfalls_upstream(station.id, t):
            if any(self.registry.travel_minutes_between(o.id, b) is not None for b in above):
                continue
            direct = o.discharges_into == station.id
            ev = ""
            score = 0.0
            ost = self._st.get(o.id)
            dry = self.policy.is_open(o.id, "dry_weather_flow")
            alerting = self.policy.is_open(o.id, "illegal_discharge")
            if alerting:
                score, ev = 3.0, "晴天排水、排口水质异常" if dry else "排口水质异常"
            elif dry:
                score, ev = 2.0, "晴天排水"
            elif ost is not None and ost.alerted_at is not None and (t - ost.alerted_at).total_seconds() <= 3 * 3600:
                # Its discharge alert cleared within the last 3 h (a single snapshot's
                # signature is no evidence: the alert policy wants it to hold).
                score, ev = 2.5, "排口水质异常"
            if score and not direct:
                # Further up: the evidence must be older than the flow time, and not by days.
                seen = (ost.alerted_at or ost.snap_time) if ost else None
                lag = (t - seen).total_seconds() / 60 if seen else None
                if lag is None or not (0.5 * minutes - 30 <= lag <= 2 * minutes + 180):
                    score = 0.0
                score *= 0.8
            if score and (best is None or score > best[0]):
                best = (score, o.id, ev)
        if best is not None:
            return best[1], best[2], ()
        cleared = tuple(o.id for o in outfalls if self._clears_itself(o, station.id, t))
        if len(outfalls) == 1 and not cleared:
            return outfalls[0].id, "", ()
        upstream = self.registry.upstream_of(station.id)
        if len(upstream) == 1:
            return f"{upstream[0].id}..{station.id}", "", cleared
        return f"..{station.id}", "", cleared

    def _clears_itself(self, o: Station, sid: str, t: datetime) -> bool:
        """Did outfall ``o``'s own station watch its water through the time a plume first seen
        at ``sid`` at ``t`` would have left it, and find nothing? It has reported without
        missing a sample since the flow time's longest reading (as in :meth:`_localise`'s
        evidence: twice the registry's flow time and three hours) before ``t``, reports still,
        has a baseline of a dissolved marker to judge by, and none of its rules found a
        discharge signature in that time, whether or not an alert followed. A station that
        was silent, new or just back from an outage vouches for nothing."""
        ost = self._st.get(o.id)
        if ost is None or ost.offline or ost.watch_since is None or ost.last_time is None:
            return False
        minutes = self.registry.travel_minutes_between(o.id, sid) or 0.0
        since = t - timedelta(minutes=2 * minutes + 180)
        if ost.watch_since > since or (t - ost.last_time).total_seconds() > 3 * self._cadence(ost):
            return False
        if not any(len(b) >= self.config.min_history for p, b in ost.baselines.items() if p in DISSOLVED):
            return False
        return ost.signature_at is None or ost.signature_at < since

    def _discharge_condition(self, st: _StationState, inc: _Incident, t: datetime, snap: dict[str, float],
                             zs: dict[str, float], risen: list[str], rain: bool) -> Condition:
        night = is_night(t)
        corroborated = len(inc.seen) > 1
        conf = 0.45 + 0.08 * (len(risen) - 2) + (0.1 if night else 0.0) + (0.2 if corroborated else 0.0)
        conf += 0.15 if inc.source_evidence else 0.0
        conf -= 0.15 if rain else 0.0
        conf = round(min(0.99, max(0.05, conf)), 2)
        zmax = max((zs.get(p, 0.0) for p in risen if p != "do"), default=0.0)
        severity = "critical" if zmax >= 15 or len(risen) >= 4 or corroborated else "warning"
        src = inc.source or ""
        src_name = self.registry.describe_source(src, ids=False) if src else "未定"
        parts = "、".join(_zh(p) + ("↓" if p == "do" else "↑") for p in risen)
        msg = (f"{st.station.name}（{st.station.river}）疑似偷排：{parts}，"
               f"疑似来源 {src_name}{'（' + inc.source_evidence + '）' if inc.source_evidence else ''}")
        if inc.cleared:
            names = "、".join(self.registry[o].name for o in inc.cleared)
            msg += f"（段内排口 {names} 在线监测未见异常，请沿河排查暗管）"
        if corroborated:
            msg += f"；下游 {'、'.join(self.registry[s].name for s in inc.seen if s != inc.first_station)} 已印证"
        return Condition(
            inc.first_station, "water", "illegal_discharge", tuple(risen), severity, msg,
            suspected_source=inc.source, confidence=conf, start=inc.first_time,
            details={"z": {p: round(zs.get(p, 0.0), 1) for p in risen},
                     "values": {p: snap[p] for p in risen if p in snap},
                     "seen_at": sorted(inc.seen), "night": night, "rain": rain},
            min_hits=1 if self._held(st, snap, risen) or self._overwhelming(zs, risen) else None,
            interval_s=self._interval_if_strong(st, zs, risen),
        )

    def _interval_if_strong(self, st: _StationState, zs: dict[str, float], risen: Iterable[str]) -> float | None:
        """The data time one of the station's evaluations of a discharge stands for, for the
        policy's ``raise_s``: the median of its last intervals (an outage's long gap among
        them does not count), or the registry's nominal interval before it has any. Only
        for a snapshot that carries the evidence of two (its markers' z adding up to twice
        ``min_rises × z_rise``): one hourly sample of an outfall's own varying effluent can
        show two markers at ``z_rise``; the second sample is the guard then, however late.
        None otherwise (the policy counts evaluations)."""
        c = self.config
        ev = sum(max(0.0, -zs.get(p, 0.0) if p == "do" else zs.get(p, 0.0)) for p in risen)
        if ev < 2 * c.min_rises * c.z_rise:
            return None
        if st.intervals:
            return float(np.median(st.intervals))
        return self.registry.sampling_s(st.station.id)

    def _overwhelming(self, zs: dict[str, float], risen: Iterable[str]) -> bool:
        """A signature no instrument's blip makes: four chemistry markers of it ``z_rise``
        out at one sample, both dissolved markers (the conductivity probe, the NH3-N
        analyser) among them. A fault, a bubble or fouling moves one instrument; a sonde's
        power glitch moves its own probes, not the analysers beside them. Raised at once:
        a short plume may stand at one sample only (OF_XT_WWTP, 20281615: a 20-min
        discharge fell into the outfall's dropouts, its one sample COD z 61, NH3-N 27,
        conductivity 20, TP 17.5, and the next sample, which the policy waited for, had
        none of it)."""
        out = [p for p in risen if p in CHEMISTRY and zs.get(p, 0.0) >= self.config.z_rise]
        return len(out) >= 4 and all(p in out for p in DISSOLVED)

    def _held(self, st: _StationState, snap: dict[str, float], risen: list[str]) -> bool:
        """A river signature whose evidence has already held two samples: three chemistry
        markers or more, and every probe among them (a marker that moves at nearly every
        sample) ``z_support`` out at the sample before too. An hourly analyser's result is
        held until the next one, so the five minutes the policy waits add nothing of it; they
        guard against a probe's one-sample blip, which here has already been ruled out. Such
        a signature raises the alert at once. So does one of three analysers' results with no
        probe among them, one of the results new at this sample: the next sample would judge
        the same held results again, and a wait that can find nothing new only delays the
        alert. Results held from an earlier sample are not new evidence (a plume's tail at a
        station whose window for an upstream incident has just closed)."""
        c = self.config
        chem = [p for p in risen if p in CHEMISTRY]
        cont = [p for p in chem if st.move_rate.get(p, 0.0) > MOVING]
        if len(chem) < 3:
            return False
        if not cont:
            # ``runs`` is brought up to date after the rules, so a result new at this
            # sample still differs from its run's value.
            return any((run := st.runs.get(p)) is None or run[0] != snap.get(p) for p in chem)
        for p in cont:
            w = st.course.get(p)
            if w is None or len(w) < 2:
                return False
            z = self._z(st, p, w[-2])
            if z is None or z < c.z_support:
                return False
        return True

    def _corroborate(self, inc: _Incident, sid: str, t: datetime) -> list[Event]:
        first = self._st.get(inc.first_station)
        if first is None or not self.policy.is_open(inc.first_station, "illegal_discharge"):
            return []
        alert = next(a for a in self.policy.open_alerts()
                     if a.station == inc.first_station and a.kind == "illegal_discharge")
        c = Condition(inc.first_station, "water", "illegal_discharge", alert.parameters, "critical",
                      alert.message + f"；下游 {self.registry[sid].name} 于 {t.astimezone(CST):%H:%M} 印证",
                      suspected_source=inc.source, confidence=min(0.99, (alert.confidence or 0.5) + 0.2),
                      start=inc.first_time, details={"seen_at": sorted(inc.seen)})
        return self.policy.observe(c, t)

    # -- outfalls ------------------------------------------------------------------------------
    def _outfall(self, st: _StationState, t: datetime, snap: dict[str, float]) -> list[Event]:
        s = st.station
        events: list[Event] = []
        flow = snap.get("flow")
        if s.outfall_type == "rain" and flow is not None:
            st.flows.append(flow)
            if len(st.flows) > self.config.dwf_samples:
                st.flows.popleft()
            dry = self._last_drop is None or (t - self._last_drop).total_seconds() > self.config.dry_weather_s
            if dry and flow > self.config.outfall_flow_l_s and self._flowing(st):
                known_dry = self._first_time is not None and \
                    (t - self._first_time).total_seconds() >= self.config.dry_weather_s
                conf = 0.9 if known_dry else 0.6
                events += self.policy.observe(Condition(
                    s.id, "water", "dry_weather_flow", ("flow",),
                    "critical" if flow > 20 * self.config.outfall_flow_l_s else "warning",
                    f"{s.name} 晴天排水：流量 {flow:.1f} L/s，"
                    + ("近24小时无降雨（晴天不排水）" if known_dry
                       # The core has not seen the whole day: say what it knows.
                       else "自数据开始无降雨（此前天气未知，可能为雨后余水）"),
                    suspected_source=s.id, confidence=conf, details={"flow": flow}), t)
            else:
                events += self.policy.absent(s.id, "dry_weather_flow", t)
        zs_all = {p: z for p in CHEMISTRY if p in snap and (z := self._z(st, p, snap[p])) is not None}
        zs = self._without_faulty(st, t, zs_all)
        # Two markers clearly out (an outfall's own water changing), or the correlated rise
        # of the rivers' rule, which also weighs moderate company of a dissolved marker.
        risen = [p for p, z in zs.items() if z >= self.config.z_rise]
        signature = len(risen) >= self.config.min_rises
        if not signature:
            signature, risen, _ = self._correlated_rise(zs, CHEMISTRY)
            risen = risen if signature else []
        raining = self._raining(t, self.config.rain_memory_s)
        # A sewage plant's effluent has hours of retention between its inflow and its
        # outfall (aeration, then the clarifiers): a storm reaching its sewers changes it
        # over hours, never as a dissolved marker stepping up within half an hour, so a step
        # there is a bypass (超越) in any weather. A factory's yard may drain its rain into
        # its wastewater, and a rain outfall's water is the rain's: there the step rule
        # waits for dry weather.
        stepped = self._step_rise(st, snap, zs, wet=raining and s.outfall_type != "sewage_plant")
        if stepped and not signature:
            signature, risen = True, stepped
        if not signature and not raining:
            risen = self._effluent_changed(st, snap, zs)
            signature = bool(risen)
        wet = s.outfall_type == "rain" and raining
        level = ""  # wastewater told by its level alone: what the message says
        if not signature and s.outfall_type == "rain" and not wet:
            risen, level = self._wastewater_flowing(st, snap, t)
            signature = bool(risen)
        measured = False
        if wet:
            # In a storm the dry-weather baseline says little: runoff (first flush, then the
            # recession) moves every parameter. Sewage in storm water ("雨天无污水") is a rise
            # against this storm's own course, with NH3-N well above the dry-weather level.
            risen, measured = self._storm_rise(st, t, snap)
            signature = len(risen) >= self.config.min_rises
        if signature:
            if not self._signature_recent(st, t):
                st.signature_since = t
            st.signature_at = t
            severity, conf = self._outfall_grade(s, risen)
            events += self.policy.observe(Condition(
                s.id, "water", "illegal_discharge", tuple(risen), severity,
                f"{s.name} 晴天出流为污水：{level}" if level
                else f"{s.name} 排口水质突变：{'、'.join(_zh(p) + self._arrow(st, snap, p) for p in risen)}",
                suspected_source=s.id, confidence=conf,
                details={"values": {p: snap[p] for p in risen}},
                min_hits=1 if measured or (not wet and self._overwhelming(zs, risen)) else None,
                interval_s=self._interval_if_strong(st, zs, risen)), t)
        else:
            events += self.policy.absent(s.id, "illegal_discharge", t)
        if self.policy.is_open(s.id, "illegal_discharge"):
            st.alerted_at = t
        # A probe jumping alone is a fault here as in a river, and so are its spikes; in a
        # storm everything moves.
        lone = not wet and self._lone_jump(st, t, snap, zs_all, signature)
        if not wet:
            self._spikes(st, t, snap, alone=True)
        else:
            st.recent.clear()  # a spike is judged between samples of one regime
        # A rain outfall's chemistry in and after a storm says nothing about its dry-weather
        # normal: keep storms out of its baseline, however long they last (a storm is not a
        # new regime; learnt after ``protect_max_s``, a day of rain would make the runoff
        # the outfall's "dry-weather level", and the storm rules measure against that
        # level). And wastewater is never a rain outfall's normal, however long it flows in
        # dry weather: learnt like a river's new regime, it would hide the next discharge.
        if s.outfall_type != "rain":
            self._learn(st, snap, t, protect=signature or lone)
        elif not (signature or wet):
            self._learn(st, snap, t, protect=lone)
        return events

    @staticmethod
    def _outfall_grade(s: Station, risen: Iterable[str]) -> tuple[str, float]:
        """Severity and confidence of a discharge signature at outfall ``s``. A rain outfall
        should carry no wastewater at all: whatever the rules found there is critical, at
        0.9. A sewage plant's or a factory's outfall carries its treated effluent by permit,
        and the effluent's quality moves with the process (a batch, a shift, nitrification
        slowing): raw wastewater let past the treatment lifts its markers together, where
        a process moves one or two. Two chemistry markers are a warning at 0.5, three
        critical at 0.7, four or more critical at 0.9; the alert keeps the highest it was
        given, so a discharge whose markers join one by one ends at 0.9. (On the 84 months
        replayed in 2026-12-07's eighth session, sets U and T and the fourth network's first
        12, 73 of the 77 alerts at factories naming two markers answered no discharge, 29 of
        40 naming three, 1 of 399 naming four.) Nothing is raised or dropped by it: it tells
        the field team which to visit first (and a warning waits 30 min for acknowledgement
        before it escalates, a critical alert 15: seeds/routing.toml).

        >>> from envmon.stations import load_registry
        >>> reg = load_registry()
        >>> Monitor._outfall_grade(reg["OF_LX_IND"], ["cond", "nh3n"])
        ('warning', 0.5)
        >>> Monitor._outfall_grade(reg["OF_XT_RAIN"], ["nh3n", "cod"])
        ('critical', 0.9)
        >>> Monitor._outfall_grade(reg["OF_XT_WWTP"], ["nh3n", "cod", "tp"])
        ('critical', 0.7)
        """
        if s.outfall_type == "rain":
            return "critical", 0.9
        n = sum(p in CHEMISTRY for p in risen)
        return ("warning", 0.5) if n <= 2 else ("critical", 0.7) if n == 3 else ("critical", 0.9)

    def _flowing(self, st: _StationState) -> bool:
        """Water leaving a rain outfall beyond its flow meter's noise about zero: the mean of
        its last ``dwf_samples`` readings, less ``z_support`` standard errors of that mean
        (their own spread), above ``outfall_flow_l_s``. A misconnection flows steadily; a
        meter reading 1.1, 1.1 and 1.4 L/s where nothing flows does not stand that far over
        1 L/s (mean 1.2, less 0.2)."""
        c = self.config
        w = st.flows
        n = len(w)
        if n < c.dwf_samples or n < 2:
            return False
        mean = sum(w) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in w) / (n - 1))
        return mean - c.z_support * sd / math.sqrt(n) > c.outfall_flow_l_s

    def _arrow(self, st: _StationState, snap: dict[str, float], p: str) -> str:
        """↑, or ↓ for pH or temperature below the baseline (the markers only rise)."""
        if p in ("ph", "temp") and (z := self._z(st, p, snap[p])) is not None and z < 0:
            return "↓"
        return "↑"

    def _effluent_changed(self, st: _StationState, snap: dict[str, float], zs: dict[str, float]) -> list[str]:
        """An outfall's effluent changing in dry weather: a chemistry marker far out
        (``z_fault``) with the water's pH or temperature moving beside it (``Z_SUPPORT``).
        A chemistry analyser's fault (an offset, fouling, a calibration gone wrong) moves
        its own result only; sediment drawn into the sample line moves particles (turbidity,
        TP, COD) but neither the water's pH nor its temperature. Wastewater of another
        process, or sewage let into the outfall, changes all of them at once. Returns the
        marker with its company (empty: none)."""
        c = self.config
        far = [p for p, z in zs.items() if z >= c.z_fault]
        if not far:
            return []
        company = [p for p in ("ph", "temp") if p in snap and (z := self._z(st, p, snap[p])) is not None
                   and abs(z) >= Z_SUPPORT]
        if not company:
            return []
        more = [p for p, z in zs.items() if Z_SUPPORT <= z < c.z_fault]
        return sorted(far, key=lambda p: -zs[p]) + more + company

    def _wastewater_flowing(self, st: _StationState, snap: dict[str, float], t: datetime) -> tuple[list[str], str]:
        """Wastewater itself flowing out of a rain outfall in dry weather, whatever the
        outfall's history: NH3-N at ``storm_sewage_nh3n`` (half the low end of raw sewage's
        20–40 mg/L, standards.md §7.1 [M]; surface water's class V limit is 2), or COD over
        the GB 8978-1996 limit of ``wastewater_grade`` (industrial effluent, which carries
        little NH3-N), with the outfall flowing. A new station has no baseline for an hour,
        and one that starts on a cross-connection would learn the wastewater as its normal.
        Conductivity, COD and NH3-N are named beside it when they stand out of the baseline.
        Returns those markers, the level's first, and what the level is (empty: none).

        In the core's first ``rain_memory_s`` of data it does not know whether it rained just
        before (a replay, a first start): a flow receding then, to ``recession_flow_ratio``
        of its last readings' highest or less, may be a storm's tail, whose first flush
        carries COD over 100 mg/L, and COD alone does not make it wastewater (four rain
        outfalls of 20291555 draining at the month's first sample, COD 103–124 mg/L falling
        with their flow). Raw sewage's NH3-N still does."""
        c = self.config
        nh3n, cod, flow = snap.get("nh3n"), snap.get("cod"), snap.get("flow")
        if flow is None or flow <= c.outfall_flow_l_s:
            return [], ""
        if nh3n is not None and nh3n >= c.storm_sewage_nh3n:
            risen = ["nh3n"]
            level = f"流量 {flow:.1f} L/s，氨氮 {nh3n:.3g} mg/L（达生活污水水平 ≥ {c.storm_sewage_nh3n:g} mg/L）"
        elif cod is not None and cod > self._wastewater_cod and not (self._weather_unknown(t) and self._receding(st)):
            risen = ["cod"]
            level = (f"流量 {flow:.1f} L/s，COD {cod:.4g} mg/L"
                     f"（超 GB 8978-1996 {self._wastewater_grade}标准 {self._wastewater_cod:g} mg/L）")
        else:
            return [], ""
        for p in ("cond", "cod", "nh3n"):
            if p in risen:
                continue
            if p in snap:
                z = self._z(st, p, snap[p])
                if z is not None and z >= c.z_support:
                    risen.append(p)
        return risen, level

    def _weather_unknown(self, t: datetime) -> bool:
        """Is ``t`` within the core's first ``rain_memory_s`` of data, when a storm it did not
        see may still be running off?"""
        return self._first_time is None or (t - self._first_time).total_seconds() < self.config.rain_memory_s

    def _receding(self, st: _StationState) -> bool:
        """A rain outfall's flow (its last ``dwf_samples`` readings, this one last) fallen to
        ``recession_flow_ratio`` of the highest before it or less."""
        flows = list(st.flows)
        return len(flows) >= 2 and flows[-1] <= self.config.recession_flow_ratio * max(flows[:-1])

    def _signature_recent(self, st: _StationState, t: datetime) -> bool:
        """The outfall's discharge signature held within the last three sampling intervals."""
        if st.signature_at is None:
            return False
        gap = max(st.intervals) if st.intervals else 0.0
        return (t - st.signature_at).total_seconds() <= 3 * max(gap, 60.0)

    def _storm_rise(self, st: _StationState, t: datetime, snap: dict[str, float]) -> tuple[list[str], bool]:
        """Sewage in storm water at a rain outfall ("雨天无污水"): the parameters that show it,
        and whether it is wastewater measured (the sewage-level rule below), not a trend.

        NH3-N must stand ``storm_nh3n_excess`` mg/L above the dry-weather median: raw sewage
        carries 20–40 mg/L, runoff a few (standards.md §7.1, [M]). Then:

        - Wastewater itself, at any moment of the storm, its first minutes included: NH3-N
          at ``storm_sewage_nh3n`` (half the low end of raw sewage, §7.1 [M]), or
          conductivity at ``storm_sewage_cond_ratio`` = 2 times its dry-weather median (the
          conservative end of §7.1's "1.5–2 × baseline" jump, [M]; runoff dilutes salts),
          with conductivity above dry weather. That is wastewater itself, measured: it
          raises the alert at the first sample (a plume let into a storm's first flush may
          stand out of it at one sample only).
        - A discharge that began before the rain goes on being judged against dry weather,
          NH3-N and conductivity both still above it: it does not vanish when the rain
          starts. Otherwise — a storm's first flush also lifts both, at every rain outfall
          at once — a rise that begins in the rain is judged against the storm's own course:
        - Against the storm's course: NH3-N and another marker jumping from where the
          storm's water was, by more than the storm moves them from one sample to the next
          (over its last ``storm_window`` samples; the company weighed as in
          :meth:`_storm_company`). The reference is the lower of the last
          three samples' median (a recession falls steadily) and the window's (a plume let
          in over a few samples must not carry its own reference up with it). The first
          flush and the recession move steadily next to a pipe being opened; the window
          needs ``storm_min_samples`` samples of the outfall flowing, so the flush becomes
          part of it, and a plume is kept out of it.
        - In the recession, NH3-N and another marker rising while the flow falls
          (:meth:`_dilution_reversed`): runoff's concentrations do not do that.
        - Below that NH3-N gate — a small pipe in a large storm flow lifts NH3-N by less than
          2 mg/L — the same jumps against the storm's course count only when the NH3-N load
          shows a pipe (:meth:`_load_added`): the outfall's own water returning as a storm
          ends lifts its concentrations, never its load.
        - With no dry-weather baseline yet (a new station, data that begins in a storm),
          NH3-N at sewage level jumping against the storm's course with another marker
          beside it.
        """
        c = self.config
        flushed, window = self._storm_samples(st)
        if st.storm_spell != self._spell_start:
            st.storm_spell, st.storm = self._spell_start, {}
            st.storm_last.clear()
            st.storm_sig, st.salt_ref, st.load_ref = (), None, None
        dry = st.baselines.get("nh3n")
        nh3n = snap.get("nh3n")
        has_dry = dry is not None and len(dry) >= c.min_history
        excess = nh3n is not None and dry is not None and has_dry and nh3n - dry.median() >= c.storm_nh3n_excess
        flowing = snap.get("flow", c.outfall_flow_l_s + 1.0) > c.outfall_flow_l_s
        st.flow_run = st.flow_run + 1 if flowing else 0
        risen: list[str] = []
        measured = False
        if excess:
            cond = snap.get("cond")
            carried = (st.signature_since is not None and self._spell_start is not None
                       and st.signature_since < self._spell_start and self._signature_recent(st, t))
            cond_dry = st.baselines.get("cond")
            sewage_level = (nh3n is not None and nh3n >= c.storm_sewage_nh3n) or (
                cond is not None and cond_dry is not None and len(cond_dry) >= c.min_history
                and cond >= c.storm_sewage_cond_ratio * cond_dry.median())
            if (carried or sewage_level) and self._salts_out(st, snap):
                risen, measured = ["nh3n", "cond"], sewage_level
            else:
                risen = self._storm_company(self._storm_steps(st, snap))
            if len(risen) < c.min_rises:
                risen = self._dilution_reversed(st, snap)
        elif has_dry and self._load_added(st, snap, "nh3n"):
            risen = self._storm_company(self._storm_steps(st, snap))
        elif not has_dry and nh3n is not None and nh3n >= c.storm_sewage_nh3n:
            if self._salts_out(st, snap):
                # NH3-N at raw sewage's level needs no baseline of its own to be sewage (an
                # analyser just calibrated starts its baseline again): with the salts out of
                # the outfall's dry-weather water, it is wastewater measured, as above.
                risen, measured = ["nh3n", "cond"], True
            else:
                steps = self._storm_steps(st, snap)
                if steps.get("nh3n", 0.0) >= c.z_rise:
                    risen = [p for p, z in steps.items() if z >= c.z_support and p != "turb"]
        if len(risen) < c.min_rises:
            risen = self._salt_against_rain(st, snap)
        salt_ref, st.salt_ref = st.salt_ref, None
        if len(risen) < c.min_rises:
            st.salt_ref = self._salts_without_particles(st, snap, st.storm_last)
            risen = ["nh3n", "cond"] if st.salt_ref is not None else []
        # What the next sample's dissolved load is held against: the markers and the sample.
        load_ref, st.load_ref = st.load_ref, (("nh3n", "cond"), st.salt_ref) if st.salt_ref is not None else None
        if len(risen) < c.min_rises:
            # Against samples from the flush's end on: a probe's offset that began in the
            # flush stands out of the flush's samples before it, which runoff also lifted.
            past = [old for j, old in enumerate(reversed(st.storm_last), 1)
                    if st.flow_run - j >= flushed]
            found = self._dissolved_without_particles(st, snap, past)
            if found is not None:
                st.load_ref, risen = ((found[0],), found[1]), [found[0], "flow"]
        held = st.storm_sig
        st.storm_sig = tuple(risen) if len(risen) >= c.min_rises and not measured else ()
        if len(risen) < c.min_rises and held:
            risen = self._storm_held(st, snap, held)
            if len(risen) < c.min_rises and salt_ref is not None \
                    and self._salts_without_particles(st, snap, (salt_ref,), share=0.5) is not None:
                risen = ["nh3n", "cond"]
            # After salts without particles, or a dissolved load, either marker's load holds
            # it at half the bars against the same sample: more rain dilutes a plume's salts
            # before its NH3-N.
            if len(risen) < c.min_rises and load_ref is not None:
                found = self._dissolved_without_particles(st, snap, (load_ref[1],), share=0.5, markers=load_ref[0])
                if found is not None:
                    risen = [found[0], "flow"]
        st.storm_last.append(dict(snap))
        if len(risen) < c.min_rises:
            risen = []
            # The storm's course at this outfall starts when it flows: the samples before
            # its runoff arrives are still dry-weather water, and against them the first
            # flush would look like a step.
            for p in (*CHEMISTRY, "turb", "flow") if flowing else ():
                if p in snap:
                    w = st.storm.get(p)
                    if w is None:
                        w = st.storm[p] = deque(maxlen=window)
                    w.append(snap[p])
        return risen, measured

    def _salts_out(self, st: _StationState, snap: dict[str, float]) -> bool:
        """Conductivity ``z_rise`` out of the outfall's dry-weather baseline."""
        cond = snap.get("cond")
        z = self._z(st, "cond", cond) if cond is not None else None
        return z is not None and z >= self.config.z_rise

    def _storm_held(self, st: _StationState, snap: dict[str, float], held: tuple[str, ...]) -> list[str]:
        """Hysteresis for a storm signature's second sample: found at the sample before by
        the rules above (``held``, its markers), it holds when each of them still stands
        half the bar of :meth:`_up_on_storm` over the storm's course (half of
        ``storm_salt_jump`` over the lowest of its last three samples, and half of
        ``z_rise`` times the instrument's ``MIN_SCALE``; the course kept as it was, the
        plume's samples are kept out of it). A plume let into a storm flow is diluted by the
        next burst of rain: its second sample is often below the bar its first one cleared,
        and the policy raises an alert only on two samples in a row. The markers other than
        the salts must also stand half their ``z_rise`` over the dry-weather baseline, as in
        :meth:`_salt_against_rain` (a receding storm brings the outfall's own water back, up
        to its dry-weather level and not over it), and the flow must not be receding
        (``recession_flow_ratio`` of the highest of the last three samples). Only the sample right
        after a signature of the full rules is judged so: a weaker sample never holds
        another weaker one."""
        c = self.config
        # Not in a recession: as the runoff dries up the outfall's own water lifts its
        # concentrations over the storm's course, and a weaker sample says nothing more.
        q = snap.get("flow")
        if q is None or not self._flow_steady(st, q):
            return []
        for p in held:
            v = snap.get(p)
            if v is None or not self._up_on_storm(st, p, v, share=0.5):
                return []
            # As in the salt rule, a marker other than the salts must also stand out of the
            # outfall's own dry-weather water (here by half its bar): as a storm recedes
            # that water comes back and lifts the concentrations over the storm's course
            # toward the dry-weather level, never over it.
            if p != "cond" and (self._z(st, p, v) or 0.0) < c.z_rise / 2:
                return []
        return list(held)

    def _storm_company(self, steps: dict[str, float]) -> list[str]:
        """NH3-N jumping from the storm's course (``z_rise`` in the storm's own units) with
        company: another marker jumping as clearly, or, weighed as in the dry-weather
        correlated rise, one at ``z_support`` or more with the two together at least
        ``min_rises × z_rise`` (NH3-N far out with only weak company is the fault pattern).
        A pipe let into a storm flow lifts NH3-N many times, while the runoff already there
        dilutes its salts and COD: they move less than the storm's own swings.

        When turbidity jumps too (``z_support``), particles came: a new burst of rain washing
        a second flush off the catchment lifts COD and TP bound to them, and some NH3-N.
        Only conductivity counts as company then (as in the dry-weather rule; sewage carries
        its salts dissolved, and rain brings none)."""
        c = self.config
        lead = steps.get("nh3n", 0.0)
        particles = steps.get("turb", 0.0) >= c.z_support
        company = sorted(((z, p) for p, z in steps.items() if p not in ("nh3n", "turb") and z >= c.z_support
                          and (p in DISSOLVED or not particles)), reverse=True)
        if lead < c.z_rise or not company:
            return []
        best = company[0][0]
        if best >= c.z_rise:
            return ["nh3n", *(p for z, p in company if z >= c.z_rise)]
        return ["nh3n", *(p for _, p in company)] if self._adds_up([lead, best]) else []

    def _dilution_reversed(self, st: _StationState, snap: dict[str, float]) -> list[str]:
        """Sewage let into a receding storm flow: NH3-N and another marker rising while the
        outfall's flow falls. In the recession runoff's load (flow × concentration) falls at
        least as fast as its flow, so its concentrations hold or fall; a pipe adds a load of
        its own, which the falling flow dilutes less and less, so they rise. Against the
        sample three intervals back: flow down to ``recession_flow_ratio`` of it or less,
        NH3-N up by ``z_rise`` times its ``MIN_SCALE``, and conductivity, COD or TP up by as
        much of theirs. Only looked at with NH3-N already ``storm_nh3n_excess`` above dry
        weather, as every storm rule."""
        c = self.config
        if len(st.storm_last) < 3:
            return []
        old = st.storm_last[0]
        q0, q, n0, n = old.get("flow"), snap.get("flow"), old.get("nh3n"), snap.get("nh3n")
        if q0 is None or q is None or n0 is None or n is None:
            return []
        if not c.outfall_flow_l_s < q <= c.recession_flow_ratio * q0 or n - n0 < c.z_rise * MIN_SCALE["nh3n"]:
            return []
        rose = [p for p in ("cond", "cod", "tp") if p in snap and p in old
                and snap[p] - old[p] >= c.z_rise * MIN_SCALE.get(p, 0.0)]
        return ["nh3n", *rose] if rose else []

    def _salt_against_rain(self, st: _StationState, snap: dict[str, float]) -> list[str]:
        """Wastewater in a flowing storm, by its salts (see ``storm_salt_jump``): conductivity
        up by that share over the lowest of the storm's last three samples (its course, the
        plume kept out of it), the flow not falling over the last three samples or else the
        salt load (flow × conductivity) up by as much over theirs, and NH3-N, COD or TP up
        as much and above the outfall's dry-weather level. As the flow falls back to dry
        weather the outfall's own salty water returns: its conductivity rises, but its salt
        load does not, nor its NH3-N over dry weather."""
        c = self.config
        if st.flow_run <= self._storm_samples(st)[0]:
            # Its flush not yet past: flowing samples of an earlier shower in the same storm
            # are no reference for this runoff's first minutes.
            return []
        q, flows = snap.get("flow"), st.storm.get("flow")
        before = [old.get("flow") for old in st.storm_last]
        if q is None or q <= c.outfall_flow_l_s or flows is None or len(flows) < 3 or not before \
                or None in before:
            return []
        steady = self._flow_steady(st, q)
        risen = []
        for p in ("cond", "nh3n", "cod", "tp"):
            v = snap.get(p)
            if v is None or not self._up_on_storm(st, p, v):
                continue
            # With the flow falling, the salt load: as the runoff recedes the outfall's own
            # water makes up more of the flow and its conductivity rises, but the salts it
            # carries (flow × conductivity) do not grow; wastewater let in adds salts of its own.
            if p == "cond" and not steady and not self._load_up_on_storm(st, p, v, q):
                continue
            # Beside the salts, the marker must also stand out of the outfall's own
            # dry-weather water: that water coming back as a storm ends is not a discharge.
            if p != "cond" and not self._over_dry(st, p, v):
                continue
            risen.append(p)
        return risen if "cond" in risen and len(risen) >= c.min_rises else []

    def _over_dry(self, st: _StationState, p: str, v: float) -> bool:
        """``v`` out of the outfall's own dry-weather water: ``z_rise`` over its baseline, or,
        before the baseline is trusted (``min_history``: a new station, data that begin just
        before a storm), ``storm_salt_jump`` over the median of the three or more dry samples
        it has. The outfall's own water, coming back as a storm recedes, returns to that
        level and not over it, however slowly the flow falls (OF_XT_RAIN, 20281795: six dry
        samples, then industrial effluent let into a steady 75–90 L/s storm, conductivity
        332 → 840 µS/cm and COD 142 → 253 mg/L over a dry level of 30, never raised)."""
        z = self._z(st, p, v)
        if z is not None:
            return z >= self.config.z_rise
        dry = st.baselines.get(p)
        return dry is not None and len(dry) >= 3 and v >= (1.0 + self.config.storm_salt_jump) * dry.median()

    def _salts_without_particles(self, st: _StationState, snap: dict[str, float], refs: Iterable[dict[str, float]],
                                 share: float = 1.0) -> dict[str, float] | None:
        """Sewage let into a flowing storm, by what it carries that runoff does not: dissolved
        salts and NH3-N without particles. Returns the sample of ``refs`` it was found
        against (None: not found). Rain brings no salts, and what runoff washes off a
        catchment is mostly bound to particles (turbidity, COD), so whenever a storm's water
        gains salts and NH3-N it gains turbidity with them, and more of it (a first flush, a
        new burst of rain); sewage or effluent carries them dissolved.

        Against one sample of ``refs`` (the storm's last three; the same sample for all
        three markers: a lull between two bursts is no reference for the salts while the
        burst before it is one for the particles): conductivity up by ``storm_salt_step``
        and ``z_support`` times its ``MIN_SCALE``, NH3-N up by ``storm_salt_jump`` and
        ``z_rise`` times its own, both bars times ``share``. The salts' share is the
        evidence; their floor only keeps the probe's noise out, and at ``z_rise`` times it
        (32 µS/cm) it stood for a rise of 15–20 % at the low salts of a heavy storm
        (OF_CH1_RAIN_B, 20301276: salts 163 → 179 → 183 µS/cm, NH3-N 1.2 → 2.3 mg/L,
        turbidity falling, never raised). Turbidity up by no more than ``z_rise`` times
        its ``MIN_SCALE`` or, if more, half the share conductivity rose by (a pipe's water
        has some particles; a flush's are many times its salts). NH3-N ``z_rise`` (times
        ``share``) over the outfall's dry-weather baseline (with none yet, NH3-N at
        ``storm_sewage_nh3n``), and the flow not receding: as a
        storm ends the outfall's own water returns, lifting salts without particles too,
        but never NH3-N over its dry-weather level. Of the samples that qualify, the one
        with the least salts. Needs a turbidity probe and no storm course, so sewage let
        into a first flush counts from its first sample. The sample after a signature holds
        it at half the bars against the same reference (``share`` 0.5), as the other storm
        rules do (:meth:`_storm_held`). Two markers that are two instruments: an NH3-N
        analyser's offset does not move conductivity."""
        c = self.config
        q = snap.get("flow")
        if q is None or any(snap.get(p) is None for p in ("cond", "nh3n", "turb")) \
                or q <= c.outfall_flow_l_s or not self._flow_steady(st, q):
            return None
        z = self._z(st, "nh3n", snap["nh3n"])
        if z is None:
            # No dry-weather baseline yet (a new station, data that begin in a storm:
            # OF_NZ2_RAIN, 20291329): NH3-N at raw sewage's level stands for it, as in
            # the storm rules' own no-baseline case.
            z = c.z_rise if snap["nh3n"] >= c.storm_sewage_nh3n else 0.0
        # Under the dry-weather level, NH3-N must rise past what the outfall's own water
        # could bring back (``own``; None: NH3-N stands over that level, no reckoning needed).
        own = None if z >= share * c.z_rise else self._own_water(st)
        if z < share * c.z_rise and own is None:
            return None
        bars = (("cond", c.storm_salt_step, c.z_support), ("nh3n", c.storm_salt_jump, c.z_rise))
        best: dict[str, float] | None = None
        for old in refs:
            if any(old.get(p) is None for p in ("cond", "nh3n", "turb")) or old["cond"] <= 0:
                continue
            rose = (snap["cond"] - old["cond"]) / old["cond"]
            if snap["turb"] - old["turb"] > max(c.z_rise * MIN_SCALE["turb"], 0.5 * rose * old["turb"]):
                continue
            need = {p: share * max(bar * abs(old[p]), floor * MIN_SCALE[p]) for p, bar, floor in bars}
            if own is not None and snap["nh3n"] - self._own_water_nh3n(own, old, snap["cond"]) < need["nh3n"]:
                continue
            if all(snap[p] - old[p] >= need[p] for p in need):
                if best is None or old["cond"] < best["cond"]:
                    best = old
        return best

    def _own_water(self, st: _StationState) -> tuple[float, float] | None:
        """The outfall's own dry-weather water: the medians of its conductivity and NH3-N
        baselines (None until both are learnt)."""
        dc, dn = st.baselines.get("cond"), st.baselines.get("nh3n")
        if dc is None or dn is None or min(dc.n, dn.n) < self.config.min_history:
            return None
        return dc.median(), dn.median()

    @staticmethod
    def _own_water_nh3n(own: tuple[float, float], old: dict[str, float], cond: float) -> float:
        """The NH3-N that storm water at ``old`` would reach if the outfall's own dry-weather
        water (``own``: its conductivity and NH3-N) had come back into it in the share that
        lifted conductivity to ``cond``. Mixing moves every concentration toward that
        water's by the same share, so no returning water lifts NH3-N past this: above it,
        NH3-N came from elsewhere. Where the salts did not move toward their dry-weather
        level, no such water came back and NH3-N stays at ``old``'s.

        Storm water at 140 µS/cm and NH3-N 0.7 mg/L, the outfall's own at 425 and 1.2: salts
        back up to 283 (half-way) are half its own water, so NH3-N 0.95 at most:

        >>> round(Monitor._own_water_nh3n((425.0, 1.2), {"cond": 140.0, "nh3n": 0.7}, 282.5), 3)
        0.95
        >>> Monitor._own_water_nh3n((425.0, 1.2), {"cond": 140.0, "nh3n": 0.7}, 130.0)
        0.7
        """
        cond_dry, nh3n_dry = own
        gap = cond_dry - old["cond"]
        share = min(max((cond - old["cond"]) / gap, 0.0), 1.0) if gap > 0 else 0.0
        return old["nh3n"] + share * max(nh3n_dry - old["nh3n"], 0.0)

    def _dissolved_without_particles(self, st: _StationState, snap: dict[str, float],
                                     refs: Iterable[dict[str, float]], share: float = 1.0,
                                     markers: tuple[str, ...] = ("nh3n", "cond"),
                                     ) -> tuple[str, dict[str, float]] | None:
        """Wastewater let into a flowing storm by one dissolved marker whose load grows while
        the particles' does not: NH3-N (sewage) or conductivity (industrial effluent, which
        carries little NH3-N) up by ``storm_nh3n_jump`` or ``storm_salt_jump`` and ``z_rise``
        times its ``MIN_SCALE`` over one of the storm's last three samples, its load (flow ×
        concentration) up by as much, turbidity up by no more than ``z_rise`` times its
        ``MIN_SCALE`` or a tenth; the marker ``z_rise`` over the outfall's dry-weather
        baseline; past the flush (``storm_min_samples`` flowing).
        Rain brings no salts and no NH3-N of its own: what runoff carries it washes off the
        catchment with particles, and a new burst of rain lifts the flow and the particles
        with it. A storm's dilution can hide the second marker of a pipe let in (a sewage
        plume's salts are lost in the storm's swings, effluent carries little NH3-N), so
        one marker leads here, at twice the salts' bar for NH3-N, and a second instrument
        need only move at the weighed rules' weaker bar. As a storm recedes the
        outfall's own water returns: its concentrations rise, but not its load, nor over its
        dry-weather level; so while the flow recedes the second instrument, too, must show
        it in its load. Returns the marker and the sample it was found against (of those
        that qualify, the lowest); the sample after a signature holds it at half the bars
        (``share`` 0.5) against the same sample."""
        c = self.config
        q = snap.get("flow")
        if q is None or q <= c.outfall_flow_l_s or st.flow_run <= self._storm_samples(st)[0] \
                or snap.get("turb") is None:
            return None
        # As the flow recedes, the returning dry-weather water lifts every concentration a
        # little, so the second instrument's concentration is no evidence then: its load
        # must grow, as the marker's does (runoff's loads fall with its flow).
        receding = not self._flow_steady(st, q)
        refs = list(refs)
        for p in markers:
            v = snap.get(p)
            if v is None or (self._z(st, p, v) or 0.0) < share * c.z_rise:
                continue
            jump = c.storm_nh3n_jump if p == "nh3n" else c.storm_salt_jump
            best: dict[str, float] | None = None
            for old in refs:
                v0, q0, t0 = old.get(p), old.get("flow"), old.get("turb")
                if v0 is None or q0 is None or t0 is None or v0 <= 0 or q0 <= 0:
                    continue
                if snap["turb"] - t0 > max(c.z_rise * MIN_SCALE["turb"], 0.1 * t0):
                    continue
                if v - v0 < share * max(jump * v0, c.z_rise * MIN_SCALE[p]) \
                        or v * q < (1.0 + share * jump) * v0 * q0 or (best is not None and v0 >= best[p]):
                    continue
                # A second instrument beside it, at the weighed rules' weaker bar: another
                # marker up by ``z_support`` times its MIN_SCALE, a fortieth of the reference
                # and the storm's own swing from sample to sample (a probe's offset moves one
                # instrument only, and a storm's noise must not stand in for the second).
                q_ratio = q / q0 if receding else 1.0  # the company judged by its load (per the reference flow)
                if any(snap.get(o) is not None and old.get(o) is not None
                       and snap[o] * q_ratio - old[o] >= share * c.z_support * max(
                           MIN_SCALE[o], 0.025 * abs(old[o]), self._storm_swing(st, o))
                       for o in ("cond", "nh3n", "cod", "tp") if o != p):
                    best = old
            if best is not None:
                return p, best
        return None

    def _storm_swing(self, st: _StationState, p: str) -> float:
        """How far the storm moves ``p`` at this outfall, sample by sample: the sample noise
        of its course (0 before ``storm_min_samples``)."""
        w = st.storm.get(p)
        if w is None or len(w) < self._storm_samples(st)[0]:
            return 0.0
        return _sample_noise(np.fromiter(w, dtype=float))

    def _load_added(self, st: _StationState, snap: dict[str, float], p: str) -> bool:
        """A load of ``p`` let into a flowing storm: ``p`` up by ``storm_salt_jump`` over the
        lowest of the storm's last three samples (:meth:`_up_on_storm`), and the load it
        carries (flow × concentration) up as much over theirs, with the flow not above theirs.
        Runoff's load grows only with its flow (a new burst of rain); through a recession it
        falls, even while the outfall's own water, coming back as the runoff dries up, lifts
        its concentrations. A pipe adds a load of its own. Judged once the outfall has flowed
        more than ``storm_min_samples`` in a row, its first flush past (samples of an earlier
        shower are no reference for this runoff)."""
        c = self.config
        q, v, flows = snap.get("flow"), snap.get(p), st.storm.get("flow")
        if st.flow_run <= self._storm_samples(st)[0] or q is None or v is None or q <= c.outfall_flow_l_s \
                or not flows:
            return False
        return q <= max(list(flows)[-3:]) and self._up_on_storm(st, p, v) and self._load_up_on_storm(st, p, v, q)

    def _up_on_storm(self, st: _StationState, p: str, v: float, share: float = 1.0) -> bool:
        """``v`` up by ``storm_salt_jump`` over the lowest of the storm's last three samples
        of ``p`` (its course, a plume kept out of it), and by at least ``z_rise`` times the
        instrument's ``MIN_SCALE``, both bars times ``share``; the course needs
        ``storm_min_samples`` samples."""
        c = self.config
        w = st.storm.get(p)
        if w is None or len(w) < self._storm_samples(st)[0]:
            return False
        ref = min(list(w)[-3:])
        return v - ref >= share * max(c.storm_salt_jump * abs(ref), c.z_rise * MIN_SCALE.get(p, 0.0))

    def _flow_steady(self, st: _StationState, q: float) -> bool:
        """The outfall's flow ``q`` not receding: at least ``recession_flow_ratio`` of the
        highest of the storm's last three samples (none known: not steady)."""
        before = [old.get("flow") for old in st.storm_last]
        return bool(before) and None not in before and q >= self.config.recession_flow_ratio * max(before)

    def _load_up_on_storm(self, st: _StationState, p: str, v: float, q: float) -> bool:
        """The load of ``p`` (flow ``q`` × ``v``) up by ``storm_salt_jump`` over the lowest
        of the storm's last three samples' loads."""
        w, flows = st.storm.get(p), st.storm.get("flow")
        if w is None or flows is None or len(w) != len(flows) or len(w) < 3:
            return False
        ref = min(x * f for x, f in zip(list(w)[-3:], list(flows)[-3:], strict=True))
        return v * q >= (1.0 + self.config.storm_salt_jump) * ref

    def _storm_samples(self, st: _StationState) -> tuple[int, int]:
        """The storm rules' counts at this station's cadence: the samples of flowing past
        which the flush is over (``storm_min_samples``) and the storm's course
        (``storm_window``), more of each where the window would span less than
        ``storm_span_s``. At 1 min, six samples of flowing are still in the flush's climb,
        and the flush read as a jump against the storm's own course: the fourth network's
        1-min months had 52 false pollution alerts, 45 of them at its rain outfalls, against
        10 with the 5-min span. A slower cadence keeps the counts (halved at 10 min, they
        found one discharge more for eleven false alerts).

        >>> m = Monitor(Registry([]))
        >>> st = _StationState(Station(id="S", name="s", medium="water", kind="outfall", lat=0, lon=0,
        ...                            jurisdiction="jiashan", outfall_type="rain"))
        >>> for cadence in (60.0, 300.0, 600.0):
        ...     st.cadence_s = cadence
        ...     print(int(cadence), m._storm_samples(st))
        60 (30, 60)
        300 (6, 12)
        600 (6, 12)
        """
        c = self.config
        cadence = self._cadence(st)
        more = max(1.0, c.storm_span_s / (c.storm_window * cadence))
        return round(c.storm_min_samples * more), round(c.storm_window * more)

    def _storm_steps(self, st: _StationState, snap: dict[str, float]) -> dict[str, float]:
        """Each chemistry marker's jump from the storm's course, in units of how much the
        storm moves it from one sample to the next (see :meth:`_storm_rise`); turbidity's
        too, which is no marker of its own (:meth:`_storm_company`)."""
        flushed = self._storm_samples(st)[0]
        out: dict[str, float] = {}
        for p in (*CHEMISTRY, "turb"):
            v, w = snap.get(p), st.storm.get(p)
            if v is None or w is None or len(w) < flushed:
                continue
            vals = np.fromiter(w, dtype=float)
            ref = min(float(np.median(vals[-3:])), float(np.median(vals)))
            scale = max(RollingStats.MAD_TO_SIGMA * float(np.median(np.abs(np.diff(vals)))),
                        MIN_SCALE.get(p, 0.0), 0.02 * abs(ref))
            out[p] = (v - ref) / scale
        return out

    # -- noise ---------------------------------------------------------------------------------
    def _noise(self, st: _StationState, t: datetime, snap: dict[str, float]) -> list[Event]:
        s = st.station
        zone = s.zone
        assert zone is not None  # the registry refuses a noise station without a zone
        events: list[Event] = []
        if st.noise is None:
            st.noise = gb3096.NoiseDayAggregator()
        laeq = snap.get("laeq")
        if laeq is not None and laeq >= self._meter_top:
            # The meter at the top of its range (130 dB(A): saturated, or the spike of
            # :meth:`_spikes`): no measurement of the street. Kept in the hour's Leq, one
            # such minute would make it 112 dB(A).
            laeq = None
        if laeq is not None:
            for summary in st.noise.add(t, laeq):
                events += self._noise_summary(st, summary)
        lmax = snap.get("lmax")
        night = is_night(t)
        if night and laeq is not None:
            st.night_leq.append((t, laeq))
        if lmax is not None and night:
            lim = gb3096.limit(zone, night=True)
            if gb3096.is_night_burst(lmax, zone):
                st.bursts.append((t, lmax))
            window = timedelta(seconds=self.config.burst_window_s)
            # The bursts are kept in time order: the window's are the newest few.
            recent = list(takewhile(lambda b: t - b[0] <= window, reversed(st.bursts)))[::-1]
            # Construction repeats and lifts the level itself; traffic passes leave the
            # night's usual Leq where it was. Compare the last window with this station's nights.
            lifted = self._night_lift(st, t, window)
            if len(recent) >= self.config.burst_count and (lifted is None or lifted >= self.config.burst_lift_db):
                # The loudest of the bursts, not the latest reading (which may be quiet again).
                peak = max(v for _, v in recent)
                events += self.policy.observe(Condition(
                    s.id, "noise", "noise_night_burst", ("lmax",),
                    "critical" if peak - lim > 25 else "warning",
                    f"{s.name}（{s.zone}类区）夜间突发噪声：{len(recent)} 次 Lmax 超夜间限值 15 dB 以上，"
                    f"最高 {peak:.1f} dB(A)（夜间限值 {lim:.0f}）"
                    + (f"，Leq 高于本站夜间常态 {lifted:.0f} dB" if lifted is not None else ""),
                    start=recent[0][0], details={"lmax": peak, "limit": lim, "count": len(recent)}), t)
            else:
                events += self.policy.absent(s.id, "noise_night_burst", t)
        if laeq is not None and night:
            # Per half hour: 22:00 traffic, 03:00 quiet and the 05:30 ramp are different normals.
            key = _night_bin(t)
            b = st.baselines.get(key)
            if b is None:
                b = st.baselines[key] = RollingStats(self.config.noise_baseline_samples, every=15)
            if not st.bursts or t - st.bursts[-1][0] > timedelta(seconds=self.config.burst_window_s):
                b.push(laeq)
        return events

    def _night_lift(self, st: _StationState, t: datetime, window: timedelta) -> float | None:
        """dB by which the last window's night Leq exceeds this station's usual night (None
        until enough nights are known: then the GB 3096 rule alone decides)."""
        b = st.baselines.get(_night_bin(t))
        if b is None or len(b) < self.config.noise_baseline_min:
            return None
        vals = [v for (x, v) in st.night_leq if t - x <= window]
        if not vals:
            return None
        return gb3096.leq(vals) - b.median()

    def _noise_summary(self, st: _StationState, summary: Any) -> list[Event]:
        s = st.station
        zone = s.zone
        assert zone is not None  # the registry refuses a noise station without a zone
        tags = {"station": s.id, "jurisdiction": s.jurisdiction, "zone": zone}
        if isinstance(summary, gb3096.HourlyLeq):
            lim = gb3096.limit(zone, night=summary.night)
            exceed = summary.leq > lim
            self._derived.append(Derived("noise_leq", {**tags, "period": "hour"},
                                         {"leq": round(summary.leq, 2), "limit": lim, "exceed": int(exceed)},
                                         summary.start))
            t_end = summary.start + timedelta(hours=1)
            if exceed:
                return self.policy.observe(Condition(
                    s.id, "noise", "exceedance", ("laeq",), "warning",
                    f"{s.name}（{s.zone}类区）{'夜间' if summary.night else '昼间'}小时 Leq "
                    f"{summary.leq:.1f} dB(A) 超标（限值 {lim:.0f}）",
                    start=summary.start, details={"leq": round(summary.leq, 1), "limit": lim}), t_end)
            return self.policy.absent(s.id, "exceedance", t_end)
        day_start = datetime(summary.day.year, summary.day.month, summary.day.day, tzinfo=CST)
        for period, value, night in (("day", summary.ld, False), ("night", summary.ln, True)):
            if value is not None:
                lim = gb3096.limit(zone, night=night)
                self._derived.append(Derived("noise_leq", {**tags, "period": period},
                                             {"leq": round(value, 2), "limit": lim, "exceed": int(value > lim)},
                                             day_start))
        return []

    # -- hourly standards ------------------------------------------------------------------------
    def _hourly(self, st: _StationState, t: datetime, snap: dict[str, float]) -> list[Event]:
        hour = cst_hour_start(t)
        events: list[Event] = []
        if st.hour is not None and hour > st.hour:
            events += self._close_hour(st)
        if st.hour is None or hour > st.hour:
            st.hour = hour
        if st.hour == hour:
            sums = st.hour_sums
            for p, v in snap.items():
                acc = sums.get(p)
                if acc is None:
                    sums[p] = [0.0 + v, 1]  # as summed from 0.0 (an int, a -0.0)
                else:
                    acc[0] += v
                    acc[1] += 1
        return events

    def _close_hour(self, st: _StationState) -> list[Event]:
        if st.hour is None or not st.hour_sums:
            return []
        means = {p: s / n for p, (s, n) in st.hour_sums.items() if n}
        hour, st.hour_sums = st.hour, {}
        t_end = hour + timedelta(hours=1)
        s = st.station
        events: list[Event] = []
        day = cst_day_start(hour)
        if st.day is not None and day > st.day:
            events += self._close_day(st)
        st.day = day
        for p, v in means.items():
            acc = st.day_sums.setdefault(p, [0.0, 0])
            acc[0] += v
            acc[1] += 1
        if s.medium == "air":
            if "o3" in means:
                st.o3_hours[hour.hour] = means["o3"]
            st.air_hours.append((hour, {p: means[p] for p in ("pm25", "pm10", "o3") if p in means}))
        if s.medium == "water" and not s.is_outfall and s.target_class:
            try:
                wc = gb3838.section_class(means, waterbody=s.waterbody or "river")
            except ValueError:
                return events
            target = gb3838.parse_class(s.target_class)
            self._derived.append(Derived("water_class", {**self._wtags(s), "period": "hour"},
                                         {"class": wc.cls, "target": target, "meets": int(wc.cls <= target),
                                          "worst": ",".join(wc.worst)}, hour))
            if wc.cls > target:
                bad = wc.worse_than(s.target_class)
                detail = "，".join(f"{_zh(p)} {means[p]:.3g}" for p in bad)
                events += self.policy.observe(Condition(
                    s.id, "water", "exceedance", bad, "critical" if wc.cls >= 6 else "warning",
                    f"{s.name}（{s.river}）小时均值 {wc.label} 类，劣于目标 {s.target_class} 类：{detail}",
                    start=hour, details={"class": wc.label, "target": s.target_class}), t_end)
            else:
                events += self.policy.absent(s.id, "exceedance", t_end)
        elif s.medium == "air":
            vals: dict[str, float | None] = {p: means[p] for p in ("pm25", "pm10", "so2", "no2", "co", "o3")
                                             if p in means}
            edition = self._aqi_edition(hour)
            if edition == "2012":
                vals = self._hj633_2012_realtime(st, hour, vals)
            if vals:
                res = hj633.aqi_hourly(vals, edition=edition)
                if res.aqi is not None:
                    fields: dict[str, Any] = {"aqi": res.aqi, "level": res.level, "category": res.category_zh,
                                              "primary": ",".join(res.primary)}
                    for p, iaqi in res.iaqi.items():
                        if iaqi is not None:
                            fields[f"iaqi_{p}"] = float(iaqi)
                    self._derived.append(Derived("aqi", {"station": s.id, "jurisdiction": s.jurisdiction,
                                                         "period": "hour", "edition": edition},
                                                 fields, hour))
                    if res.aqi > self.config.aqi_alert_above:
                        events += self.policy.observe(Condition(
                            s.id, "air", "exceedance", res.primary or tuple(vals),
                            "critical" if res.aqi > 200 else "warning",
                            f"{s.name} 小时AQI {res.aqi}（{res.category_zh}），首要污染物 {_zh(*res.primary)}",
                            start=hour, details={"aqi": res.aqi}), t_end)
                    else:
                        events += self.policy.absent(s.id, "exceedance", t_end)
        return events

    def _close_day(self, st: _StationState) -> list[Event]:
        """Daily values of the CST day just ended (or the partial day at the end of a run).

        ``hours`` says how many hourly means made it; GB 3095 asks 20 for a valid daily value
        [M: 20 h validity rule as commonly applied], so ``valid`` marks it (a partial day is
        shown, never passed off as a full one). A station sampling less often than hourly
        (national water stations analyse every 4 h: six results a day) needs the same share
        of the samples its day can hold, five of six (a generalisation of the 20-of-24 rule,
        [M]: no water rule is in reference/standards.md). At sewage-plant outfalls a valid day's means
        are judged by GB 18918-2002, whose limits are daily means (grade ``wwtp_grade``), at
        industrial outfalls by GB 8978-1996."""
        s = st.station
        events: list[Event] = []
        means = {p: a / n for p, (a, n) in st.day_sums.items() if n}
        hours = max((n for _, n in st.day_sums.values()), default=0)
        st.day_sums = {}
        day = st.day or cst_day_start(datetime.now(CST))
        interval = self._sampling_interval(st)
        per_day = 24 if interval is None or interval <= 3600 else max(1, round(86400 / interval))
        validity = {"hours": hours, "valid": int(hours >= math.ceil(20 * per_day / 24))}
        if s.medium == "water" and not s.is_outfall and s.target_class:
            try:
                wc = gb3838.section_class(means, waterbody=s.waterbody or "river")
            except ValueError:
                return events
            target = gb3838.parse_class(s.target_class)
            self._derived.append(Derived("water_class", {**self._wtags(s), "period": "day"},
                                         {"class": wc.cls, "target": target, "meets": int(wc.cls <= target),
                                          "worst": ",".join(wc.worst), **validity}, day))
        elif s.outfall_type == "sewage_plant":
            events += self._plant_day(s, means, day, validity)
        elif s.outfall_type == "industrial":
            events += self._factory_day(s, means, day, validity)
        elif s.medium == "air":
            daily: dict[str, float | None] = {p: means[p] for p in ("pm25", "pm10", "so2", "no2", "co") if p in means}
            o3 = [st.o3_hours.get(h) for h in range(24)]
            # The daily maximum 8-h mean is the largest of the 8-h means ending 08:00 to 24:00
            # (windows inside the day: HJ 663-2013's definition, not in reference/standards.md:
            # [M]); the partial windows of the day's first hours do not count.
            o3_8h = [v for v in hj633.o3_8h_moving_average(o3)[7:] if v is not None]
            if o3_8h:
                daily["o3_8h"] = max(o3_8h)
            edition = self._aqi_edition(day)
            hours_o3 = [v for v in st.o3_hours.values() if v is not None]
            if edition == "2012" and hours_o3:
                daily["o3"] = max(hours_o3)  # 2012's daily report also scores the O3 1-h maximum
            st.o3_hours = {}
            if not daily:
                return events
            res = hj633.aqi_daily(daily, edition=edition)
            if res.aqi is None:
                return events
            fields: dict[str, Any] = {"aqi": res.aqi, "level": res.level, "category": res.category_zh,
                                      "primary": ",".join(res.primary), **validity}
            for p, v in res.iaqi.items():
                if v is not None:
                    fields[f"iaqi_{p}"] = float(v)
            self._derived.append(Derived("aqi", {"station": s.id, "jurisdiction": s.jurisdiction, "period": "day",
                                                 "edition": edition}, fields, day))
        return events

    # HJ 633-2012's real-time PM values are 24 h sliding means; a 24-h mean is valid with 20
    # hourly values (GB 3095-2012 table 4, as for the daily value above: [M]), an 8-h mean
    # with 6 (``hj633.o3_8h_moving_average``, [M]).
    PM_SLIDING_MIN_HOURS = 20
    O3_8H_MIN_HOURS = 6

    def _hj633_2012_realtime(self, st: _StationState, hour: datetime,
                             vals: dict[str, float | None]) -> dict[str, float | None]:
        """The hour's values as HJ 633-2012's real-time report takes them: PM2.5 and PM10 as
        the means of the last 24 hours (left out while fewer than 20 of them have a value),
        and O3's 8-h sliding mean beside its 1-h value. The gases stay 1-h means."""
        out = {p: v for p, v in vals.items() if p not in ("pm25", "pm10")}
        recent = [(h, m) for h, m in st.air_hours if hour - h < timedelta(hours=24)]
        for p in ("pm25", "pm10"):
            got = [m[p] for _, m in recent if p in m]
            if len(got) >= self.PM_SLIDING_MIN_HOURS:
                out[p] = math.fsum(got) / len(got)
        o3 = [m["o3"] for h, m in recent if hour - h < timedelta(hours=8) and "o3" in m]
        if len(o3) >= self.O3_8H_MIN_HOURS:
            out["o3_8h"] = math.fsum(o3) / len(o3)
        return out

    def _aqi_edition(self, at: datetime) -> str:
        e = self.config.aqi_edition
        return hj633.edition_for(at) if e == "auto" else e

    def _plant_day(self, s: Station, means: dict[str, float], day: datetime,
                   validity: dict[str, Any]) -> list[Event]:
        """A sewage plant's day judged by GB 18918-2002 (daily-mean maxima; the NH3-N limit
        in brackets applies at water temperature ≤ 12 °C, the day's mean temperature here,
        [M] in standards.md), at ``wwtp_grade``."""
        grade = self.config.wwtp_grade
        items = gb18918.parameters()
        judged = {p: v for p, v in means.items() if p in items}
        return self._outfall_day(s, means, judged, day, validity, gb18918.exceeds(means, grade),
                                 STANDARD_BY_TYPE["sewage_plant"], grade, f"{grade} 标准")

    def _factory_day(self, s: Station, means: dict[str, float], day: datetime,
                     validity: dict[str, Any]) -> list[Event]:
        """An industrial outfall's day judged by GB 8978-1996 (its maxima taken as daily
        means, as the standard's monitoring rules are commonly read: not in standards.md,
        [M]), at ``industrial_grade`` or, by default, the grade the class of its receiving
        water sets."""
        grade = str(self.config.industrial_grade).strip()
        water = ""
        if grade == "auto":
            into = self.registry.get(s.discharges_into) if s.discharges_into else None
            cls = into.target_class if into is not None else None
            grade = gb8978.grade_for_water(cls)
            water = f"（受纳水体目标 {cls} 类）" if cls else ""
        items = gb8978.parameters()
        judged = {p: v for p, v in means.items() if p in items}
        return self._outfall_day(s, means, judged, day, validity, gb8978.exceeds(means, grade),
                                 STANDARD_BY_TYPE["industrial"], grade, f"{gb8978.GRADE_NAMES[grade]}标准{water}")

    def _outfall_day(self, s: Station, means: dict[str, float], judged: dict[str, float], day: datetime,
                     validity: dict[str, Any], broken: dict[str, Limit], standard: str, grade: str,
                     label: str) -> list[Event]:
        """An outfall's day against a discharge standard (``judged``: the day's means of the
        items it limits; ``broken``: those over their limits, none when it complies) and the
        outfall's permit in force that day, if it has one (:mod:`analytics.permits`): an item
        the permit lists is judged by the permit's limit instead of the standard's. Every
        closed day is written as a ``discharge_day`` point for the dashboards (``valid`` and
        ``hours`` say whether it is a whole day, as for ``water_class``; ``permit`` names the
        permit); only a valid day is judged. Broken: an ``exceedance`` for the day, critical
        at twice a limit; it clears after the kind's ``clear_after`` compliant days in a row
        (two)."""
        permit = self.permits.in_force(s.id, day.astimezone(CST).date())
        by_permit: dict[str, Limit] = {}
        if permit is not None:
            judged = {**judged, **{p: means[p] for p in permit.limits if p in means}}
            by_permit = {p: lim for p, lim in permit.limits.items() if p in means and not lim.met_by(means[p])}
            broken = {**{p: lim for p, lim in broken.items() if p not in permit.limits}, **by_permit}
        self._derived.append(Derived(
            "discharge_day", {**self._wtags(s), "period": "day", "standard": standard},
            {"meets": int(not broken), "broken": ",".join(broken), "grade": grade,
             **({"permit": permit.number} if permit else {}),
             **{p: round(v, 3) for p, v in judged.items()}, **validity}, day))
        if not validity["valid"]:
            return []
        t_end = day + timedelta(days=1)
        if not broken:
            return self.policy.absent(s.id, "exceedance", t_end)
        worst = max((means[p] / lim.upper for p, lim in broken.items() if lim.upper), default=1.0)
        details: dict[str, Any] = {"standard": standard, "grade": grade,
                                   "daily_means": {p: round(means[p], 3) for p in broken}}
        if permit is None:
            detail = "，".join(f"{_zh(p)} {means[p]:.3g}（限值 {lim}）" for p, lim in broken.items())
            message = f"{s.name} 日均值超 {standard} {label}：{detail}"
        else:
            message = self._permit_message(s, permit, means, broken, by_permit, f"{standard} {label}")
            details["permit"] = permit.number
            if permit.basis:
                details["permit_basis"] = permit.basis
        return self.policy.observe(Condition(
            s.id, "water", "exceedance", tuple(broken), "critical" if worst >= 2 else "warning",
            message, start=day, details=details), t_end)

    @staticmethod
    def _permit_message(s: Station, permit: Permit, means: dict[str, float], broken: dict[str, Limit],
                        by_permit: dict[str, Limit], standard: str) -> str:
        """The exceedance of an outfall with a permit: the permit's number (and the standard
        its limits come from), each item with the limit it broke and whose limit that is."""
        basis = f"（依据 {permit.basis}）" if permit.basis else ""
        detail = "，".join(
            f"{_zh(p)} {means[p]:.3g}（{'许可' if p in by_permit else standard + ' '}限值 {lim}）"
            for p, lim in broken.items())
        return f"{s.name} 日均值超排污许可证 {permit.number}{basis}：{detail}"

    @staticmethod
    def _wtags(s: Station) -> dict[str, str]:
        return {"station": s.id, "jurisdiction": s.jurisdiction, "river": s.river or "", "kind": s.kind}

    # -- offline ---------------------------------------------------------------------------------
    def _check_offline(self, now: datetime, data_clock: bool = True) -> list[Event]:
        """Stations silent for ``offline_intervals`` of their sampling intervals as of ``now``:
        the data's last complete instant (replay, ``offline_clock = "data"``) or the live
        driver's clock."""
        if self._last_offline_check is not None and abs((now - self._last_offline_check).total_seconds()) < 60:
            return []
        self._last_offline_check = now
        n = self.config.offline_intervals
        if data_clock:
            # The network's clock is the median of the stations' latest times, so one node with
            # a skewed clock (or a stray live message) cannot make the others look silent.
            latest = sorted(st.snap_time for st in self._st.values() if st.snap_time is not None)
            if len(latest) >= 3:
                now = latest[len(latest) // 2]
            # ``now`` is an instant every station on time has reported: one silent since
            # ``offline_intervals`` intervals before it has missed that many samples (the
            # dropouts' count, where one fewer is a dropout). A tenth of an interval allows
            # for stamps that jitter.
            n, grace = n - 0.1, 0.0
        else:
            grace = 1.0  # the live clock: the last missed sample is overdue once its instant has passed
        events: list[Event] = []
        for st in self._st.values():
            interval = self._sampling_interval(st)
            if st.offline or st.snap_time is None or interval is None:
                continue
            last = st.snap_time if st.heard is None else max(st.snap_time, st.heard)
            silent = (now - last).total_seconds()
            need = n * interval + grace
            if interval <= 0 or silent <= need:
                continue
            if silent <= 2 * need and self._dropping_out(st, last, interval):
                # A station losing records here and there: a few more lost in a row are more
                # of its dropouts (a fault of their own), and an outage is a silence twice as
                # long. A stray lost record changes nothing.
                continue
            st.offline = True
            events += self.policy.observe(Condition(
                st.station.id, st.station.medium, "station_offline", (), "warning",
                f"{st.station.name} 已 {silent / 60:.0f} 分钟无数据（采样间隔 {interval / 60:.0f} 分钟）",
                start=st.snap_time, details={"silent_s": silent}), now)
        return events

    def _cadence(self, st: _StationState) -> float:
        """The station's sampling interval in seconds: its own once three are known, else the
        registry's nominal one."""
        return self._sampling_interval(st) or self.registry.sampling_s(st.station.id)

    @staticmethod
    def _sampling_interval(st: _StationState) -> float | None:
        """The station's sampling interval in seconds: its cadence once known (records lost
        here and there lengthen the median interval, not the cadence), else the median of
        its intervals; None before three."""
        if st.cadence_s:
            return st.cadence_s
        if len(st.intervals) < 3:
            return None
        return sorted(st.intervals)[len(st.intervals) // 2]

    def _dropping_out(self, st: _StationState, last: datetime, interval: float) -> bool:
        """Is the station losing records at the dropouts fault's rate (see ``dropout_share``)
        in the window before its last record, or is that fault open?"""
        c = self.config
        a = self.policy.alert_of(st.station.id, "sensor_fault")
        if a is not None and "dropouts" in a.details.get("patterns", ()):
            return True
        window = c.dropout_window * interval
        lost = sum(n for at, n in st.gaps if (last - at).total_seconds() < window)
        if st.last_time is not None and st.snap_time is not None:
            # and those lost just before its last record, whose snapshot is judged later
            pending = round((st.snap_time - st.last_time).total_seconds() / interval) - 1
            lost += pending if 0 < pending < c.offline_intervals else 0
        return lost > c.dropout_share * c.dropout_window


def _night_bin(t: datetime) -> str:
    local = t.astimezone(CST)
    return f"night_laeq_{local.hour}_{local.minute // 30}"

