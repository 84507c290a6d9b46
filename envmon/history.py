"""History and export for joint inspections: query building, streaming, writers, manifests.

A request names stations, a period and parameters; rows come out of InfluxDB in time chunks
(one China Standard Time day per query by default), so a year of one-minute data is
exported in constant memory. Rows are ordered by (time, station, parameter) inside a chunk
and chunks follow each other, so the same data always gives the same bytes (CSV, JSON).

Raw rows have the readings format of DESIGN.md (``time,station,parameter,value,flag``), so a
raw CSV export can be fed to ``envmon replay``. Aggregates (``1h``, ``1d``, CST windows) are
the mean of the *valid* readings (HJ 212 flag ``N`` or ``T``): readings flagged as
maintenance, calibration, fault etc. are not water quality and stay out of means, as in
HJ 915/HJ 212 practice; ``count`` says how many readings made the mean.

Every file gets a manifest beside it (``<file>.manifest.json``: the request, the time of
export, row counts, the SHA-256 and size of the file), and :func:`verify` recomputes them.

>>> from envmon.timeutil import parse_time
>>> req = HistoryRequest(stations=("TP_DONGCAI",), start=parse_time("2026-07-01T00:00:00+08:00"),
...                      end=parse_time("2026-07-03T00:00:00+08:00"), parameters=("cod",))
>>> [(a.isoformat(), b.isoformat()) for a, b in time_chunks(req.start, req.end, req.chunk)][:1]
[('2026-06-30T16:00:00+00:00', '2026-07-01T16:00:00+00:00')]
>>> print(build_query("water", ["TP_DONGCAI"], ["cod"], req.start, req.end).replace(" AND", "\\n AND"))
SELECT "cod","cod_flag" FROM "water" WHERE ("station" = 'TP_DONGCAI')
 AND time >= '2026-06-30T16:00:00Z'
 AND time < '2026-07-02T16:00:00Z' GROUP BY "station"
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from envmon import __version__
from envmon.influx import InfluxClient, _ident, quote_string
from envmon.params import load_parameters
from envmon.reading import VALID_FLAGS
from envmon.stations import Registry, Station
from envmon.timeutil import CST, TimeFormatError, format_time, parse_time, utcnow

INTERVALS: dict[str, int | None] = {"raw": None, "1h": 3600, "1d": 86400}
LAYOUTS = ("long", "wide")
FORMATS = ("csv", "xlsx", "json")
MANIFEST_FORMAT = "envmon-export-manifest/1"
# Excel's hard limit is 1,048,576 rows per sheet; a long export rolls over to a new sheet.
XLSX_MAX_ROWS = 1_048_575


class HistoryError(ValueError):
    """A request that cannot be served as asked; the message says what to change."""


class ScopeError(HistoryError):
    """A station the caller's jurisdiction may not see (the API answers 404, as for alerts)."""


class PartialResult(HistoryError):
    """InfluxDB cut a chunk's result short (row limit): use smaller chunks."""


# -- request -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryRequest:
    """What to fetch. Times are aware datetimes; ``end`` is exclusive.

    ``parameters`` empty means every parameter of each station's medium.

    >>> from envmon.timeutil import parse_time
    >>> r = HistoryRequest(("TZ_TOWN",), parse_time("2026-07-14T00:00:00+08:00"),
    ...                    parse_time("2026-07-15T00:00:00+08:00"), interval="1h", layout="wide")
    >>> r.to_dict()["end"], r.aggregated
    ('2026-07-14T16:00:00Z', True)
    >>> HistoryRequest(("TZ_TOWN",), r.end, r.start)
    Traceback (most recent call last):
    ...
    envmon.history.HistoryError: start (2026-07-14T16:00:00Z) must be before end (2026-07-13T16:00:00Z)
    """

    stations: tuple[str, ...]
    start: datetime
    end: datetime
    parameters: tuple[str, ...] = ()
    interval: str = "raw"
    layout: str = "long"
    chunk: timedelta = timedelta(days=1)

    def __post_init__(self) -> None:
        if not self.stations:
            raise HistoryError("no station selected")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise HistoryError("start and end need a UTC offset")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
        if self.start >= self.end:
            raise HistoryError(f"start ({format_time(self.start)}) must be before end ({format_time(self.end)})")
        if self.interval not in INTERVALS:
            raise HistoryError(f"interval: bad value {self.interval!r} (allowed: {', '.join(INTERVALS)})")
        if self.layout not in LAYOUTS:
            raise HistoryError(f"layout: bad value {self.layout!r} (allowed: {', '.join(LAYOUTS)})")
        if self.layout == "wide" and not self.aggregated:
            # A wide raw table would drop the per-value flags, and raw exports must replay.
            raise HistoryError("layout 'wide' needs an aggregate interval (1h or 1d); raw data is long")
        if self.chunk < timedelta(minutes=1):
            raise HistoryError(f"chunk must be at least one minute, got {self.chunk}")

    @property
    def aggregated(self) -> bool:
        return INTERVALS[self.interval] is not None

    def to_dict(self) -> dict[str, Any]:
        return {"stations": list(self.stations), "start": format_time(self.start), "end": format_time(self.end),
                "parameters": list(self.parameters), "interval": self.interval, "layout": self.layout,
                "chunk_seconds": int(self.chunk.total_seconds())}


def parse_when(text: str, *, end: bool = False) -> datetime:
    """A period bound: ISO 8601 with offset, or a CST date (``end=True``: the day is included).

    >>> parse_when("2026-07-14").isoformat(), parse_when("2026-07-14", end=True).isoformat()
    ('2026-07-13T16:00:00+00:00', '2026-07-14T16:00:00+00:00')
    >>> parse_when("2026-07-14T02:00:00+08:00").isoformat()
    '2026-07-13T18:00:00+00:00'
    """
    try:
        d = date.fromisoformat(text)
    except ValueError:
        try:
            return parse_time(text)
        except TimeFormatError as err:
            raise HistoryError(f"not a date (2026-07-14) or ISO time with offset: {text!r}") from err
    t = datetime(d.year, d.month, d.day, tzinfo=CST)
    return (t + timedelta(days=1) if end else t).astimezone(UTC)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of a CST calendar month ``YYYY-MM``, in UTC.

    >>> [t.isoformat() for t in month_bounds("2026-12")]
    ['2026-11-30T16:00:00+00:00', '2026-12-31T16:00:00+00:00']
    """
    try:
        y, m = (int(x) for x in month.split("-"))
        start = datetime(y, m, 1, tzinfo=CST)
    except ValueError as err:
        raise HistoryError(f"month: expected YYYY-MM, got {month!r}") from err
    nxt = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=CST)
    return start.astimezone(UTC), nxt.astimezone(UTC)


def resolve_stations(registry: Registry, stations: Sequence[str] = (), river: str | None = None,
                     jurisdictions: Sequence[str] | None = None) -> list[Station]:
    """The stations a request may read: named ones (an invisible one is a :class:`ScopeError`,
    worded like an unknown one) and those of ``river`` that the jurisdictions may see.

    >>> from envmon.stations import load_registry
    >>> reg = load_registry()
    >>> [s.id for s in resolve_stations(reg, river="太浦河", jurisdictions=["qingpu"])]
    ['TP_DONGCAI', 'TP_JINZE']
    >>> resolve_stations(reg, ["TZ_TOWN"], jurisdictions=["qingpu"])
    Traceback (most recent call last):
    ...
    envmon.history.ScopeError: no station 'TZ_TOWN'
    """
    def visible(st: Station) -> bool:
        return jurisdictions is None or any(st.visible_to(j) for j in jurisdictions)

    out: dict[str, Station] = {}
    for sid in stations:
        st = registry.get(sid)
        if st is None:
            raise HistoryError(f"no station {sid!r}")
        if not visible(st):
            # Same words as for an unknown id: a Qingpu user must not learn that it exists.
            raise ScopeError(f"no station {sid!r}")
        out[st.id] = st
    if river is not None:
        found = [st for st in registry.values() if st.river == river and not st.is_outfall]
        if not found:
            raise HistoryError(f"no station on river {river!r}")
        out.update((st.id, st) for st in found if visible(st))
    if not out:
        if not stations and river is None:
            raise HistoryError("no station selected: name stations or a river")
        raise ScopeError(f"no station on river {river!r} visible to {', '.join(jurisdictions or ())}")
    return list(out.values())


def parameters_for(medium: str, requested: Sequence[str] = ()) -> list[str]:
    """Parameters of a medium in the table's order, limited to ``requested`` when given.

    >>> parameters_for("water", ["tp", "cod", "laeq"])
    ['cod', 'tp']
    """
    table = load_parameters()
    unknown = [p for p in requested if p not in table]
    if unknown:
        raise HistoryError(f"unknown parameter(s) {', '.join(unknown)} (known: {', '.join(table)})")
    names = [p.name for p in table.for_medium(medium)]
    return [p for p in names if p in requested] if requested else names


# -- query building (pure) -----------------------------------------------------------------
def _rfc3339(t: datetime) -> str:
    return format_time(t)


def build_query(measurement: str, stations: Sequence[str], parameters: Sequence[str],
                start: datetime, end: datetime) -> str:
    """InfluxQL for one chunk: each parameter with its flag field, grouped by station."""
    fields = ",".join(f'"{_ident(p)}","{_ident(p)}_flag"' for p in parameters)
    where = " OR ".join(f'"station" = {quote_string(s)}' for s in stations)
    return (f'SELECT {fields} FROM "{_ident(measurement)}" WHERE ({where}) '
            f"AND time >= '{_rfc3339(start)}' AND time < '{_rfc3339(end)}' GROUP BY \"station\"")


def time_chunks(start: datetime, end: datetime, chunk: timedelta) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut at CST midnight + k·chunk, so a day's query is one calendar day."""
    anchor = start.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    out = []
    a = start
    k = 1
    while a < end:
        b = anchor + k * chunk
        k += 1
        if b <= a:
            continue
        out.append((a, min(b, end)))
        a = min(b, end)
    return out


# -- rows ------------------------------------------------------------------------------------
class RawRow(NamedTuple):
    """One reading as stored: the readings-file columns of DESIGN.md."""

    time: datetime
    station: str
    parameter: str
    value: float
    flag: str


class AggRow(NamedTuple):
    """A CST window's mean of valid readings; ``time`` is the window start."""

    time: datetime
    station: str
    parameter: str
    value: float
    readings: int  # valid readings in the mean (the ``count`` column)
    min: float
    max: float


def _from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=(ns % 1_000_000_000) // 1000)


def cst_iso(t: datetime) -> str:
    """A time as written in exports: CST with offset, as precise as it is stored.

    >>> cst_iso(datetime(2026, 7, 13, 18, 13, tzinfo=UTC))
    '2026-07-14T02:13:00+08:00'
    """
    local = t.astimezone(CST)
    spec = "seconds" if not t.microsecond else ("milliseconds" if t.microsecond % 1000 == 0 else "microseconds")
    return local.isoformat(timespec=spec)


def fetch_chunk(influx: InfluxClient, by_medium: dict[str, list[str]], parameters: dict[str, list[str]],
                start: datetime, end: datetime) -> list[RawRow]:
    """Every reading of one chunk, sorted by (time, station, parameter order)."""
    rows: list[RawRow] = []
    order: dict[str, int] = {}
    for params in parameters.values():
        for name in params:
            order.setdefault(name, len(order))
    for medium, sids in by_medium.items():
        params = parameters[medium]
        if not params:
            continue
        q = build_query(medium, sids, params, start, end)
        for series in influx.query(q, epoch="ns"):
            if series.get("partial"):
                raise PartialResult(f"InfluxDB returned a partial result for {start}..{end}; use smaller chunks")
            sid = series.get("tags", {}).get("station", "")
            cols = series["columns"]
            idx = [(p, cols.index(p), cols.index(f"{p}_flag") if f"{p}_flag" in cols else None)
                   for p in params if p in cols]
            for values in series.get("values", []):
                t = _from_ns(int(values[0]))
                for p, iv, ifl in idx:
                    v = values[iv]
                    if v is None or isinstance(v, str):
                        continue
                    flag = (values[ifl] if ifl is not None else None) or "N"
                    rows.append(RawRow(t, sid, p, float(v), str(flag)))
    rows.sort(key=lambda r: (r.time, r.station, order.get(r.parameter, 0)))
    return rows


class Aggregator:
    """Streaming CST-window means of valid readings; :meth:`flush` emits closed windows only.

    >>> agg = Aggregator(3600)
    >>> t = datetime(2026, 7, 14, 1, 10, tzinfo=UTC)
    >>> for m, (v, f) in enumerate([(1.0, "N"), (3.0, "T"), (99.0, "D")]):
    ...     agg.add(RawRow(t + timedelta(minutes=m), "S", "cod", v, f))
    >>> [(cst_iso(r.time), r.value, r.readings) for r in agg.flush(t + timedelta(hours=1))]
    [('2026-07-14T09:00:00+08:00', 2.0, 2)]
    """

    def __init__(self, seconds: int):
        self.seconds = seconds
        # (window start epoch, station, parameter) -> [sum, n, min, max]
        self._open: dict[tuple[int, str, str], list[float]] = {}
        self._order: dict[str, int] = {}

    def _window(self, t: datetime) -> int:
        local = int(t.timestamp()) + 8 * 3600  # CST has no daylight saving
        return local - local % self.seconds - 8 * 3600

    def add(self, row: RawRow) -> None:
        self._order.setdefault(row.parameter, len(self._order))
        if row.flag not in VALID_FLAGS:
            return
        key = (self._window(row.time), row.station, row.parameter)
        acc = self._open.get(key)
        if acc is None:
            self._open[key] = [row.value, 1, row.value, row.value]
        else:
            acc[0] += row.value
            acc[1] += 1
            acc[2] = min(acc[2], row.value)
            acc[3] = max(acc[3], row.value)

    def flush(self, until: datetime | None = None) -> list[AggRow]:
        """Windows that end at or before ``until`` (all when None), in output order."""
        limit = None if until is None else until.timestamp()
        done = sorted((k for k in self._open if limit is None or k[0] + self.seconds <= limit),
                      key=lambda k: (k[0], k[1], self._order.get(k[2], 0)))
        out = []
        for k in done:
            s, n, lo, hi = self._open.pop(k)
            out.append(AggRow(datetime.fromtimestamp(k[0], UTC), k[1], k[2], s / n, int(n), lo, hi))
        return out


@dataclass
class Plan:
    """A request resolved against the registry: stations per medium and their parameters."""

    request: HistoryRequest
    stations: dict[str, Station]
    by_medium: dict[str, list[str]]
    parameters: dict[str, list[str]]

    @property
    def all_parameters(self) -> list[str]:
        out: list[str] = []
        for ps in self.parameters.values():
            out += [p for p in ps if p not in out]
        return out

    @property
    def chunks(self) -> list[tuple[datetime, datetime]]:
        return time_chunks(self.request.start, self.request.end, self.request.chunk)


def plan(registry: Registry, request: HistoryRequest) -> Plan:
    stations = {sid: registry[sid] for sid in sorted(request.stations)}
    by_medium: dict[str, list[str]] = {}
    for st in stations.values():
        by_medium.setdefault(st.medium, []).append(st.id)
    params = {m: parameters_for(m, request.parameters) for m in by_medium}
    if not any(params.values()):
        raise HistoryError(f"none of the parameters {', '.join(request.parameters)} is measured at "
                           f"{', '.join(stations)}")
    return Plan(request, stations, by_medium, params)


Progress = Callable[[int], None]


def iter_rows(influx: InfluxClient, p: Plan, progress: Progress | None = None) -> Iterator[RawRow | AggRow]:
    """Rows of the whole request, one chunk query (per medium) at a time."""
    seconds = INTERVALS[p.request.interval]
    agg = Aggregator(seconds) if seconds else None
    for a, b in p.chunks:
        rows = fetch_chunk(influx, p.by_medium, p.parameters, a, b)
        if agg is None:
            yield from rows
        else:
            for r in rows:
                agg.add(r)
            yield from agg.flush(b)
        if progress:
            progress(1)
    if agg is not None:
        yield from agg.flush(None)


# -- tables: columns and records -----------------------------------------------------------
@dataclass(frozen=True)
class Column:
    key: str
    header_zh: str


RAW_COLUMNS = (Column("time", "时间（北京时间）"), Column("station", "站点编号"), Column("parameter", "参数"),
               Column("value", "数值"), Column("flag", "数据标记"))
AGG_LONG_COLUMNS = (*RAW_COLUMNS, Column("count", "有效读数个数"), Column("min", "最小值"), Column("max", "最大值"))


def columns(p: Plan) -> list[Column]:
    """The machine columns of a table, with their Chinese headers (xlsx)."""
    if p.request.layout == "long":
        return list(AGG_LONG_COLUMNS if p.request.aggregated else RAW_COLUMNS)
    table = load_parameters()
    cols = [Column("time", "时间（北京时间）"), Column("station", "站点编号"), Column("station_name", "站点名称")]
    for name in p.all_parameters:
        par = table[name]
        cols.append(Column(name, f"{par.label_zh} {name}" + (f" ({par.unit})" if par.unit else "")))
    return cols


def records(rows: Iterable[RawRow | AggRow], p: Plan) -> Iterator[list[Any]]:
    """Rows as lists of Python values in :func:`columns` order (times stay datetimes)."""
    if p.request.layout == "long":
        for r in rows:
            if isinstance(r, AggRow):
                yield [r.time, r.station, r.parameter, r.value, "N", r.readings, r.min, r.max]
            else:
                yield [r.time, r.station, r.parameter, r.value, r.flag]
        return
    params = p.all_parameters
    pos = {name: 3 + i for i, name in enumerate(params)}
    current: list[Any] | None = None
    for r in rows:
        if current is None or current[0] != r.time or current[1] != r.station:
            if current is not None:
                yield current
            current = [r.time, r.station, p.stations[r.station].name] + [None] * len(params)
        current[pos[r.parameter]] = r.value
    if current is not None:
        yield current


# -- writers -----------------------------------------------------------------------------------
class TableWriter(Protocol):
    """Writes one table to a file, row by row; nothing is held back but a buffer."""

    def header(self, cols: Sequence[Column]) -> None: ...

    def row(self, values: Sequence[Any]) -> None: ...

    def close(self) -> None: ...


def cell_text(v: Any) -> str:
    """A value as text in CSV: CST times, shortest round-trip floats, empty for missing."""
    if v is None:
        return ""
    if isinstance(v, datetime):
        return cst_iso(v)
    if isinstance(v, float):
        return repr(v)  # shortest round-trip form: re-reading gives the stored float exactly
    return str(v)


class CsvTableWriter:
    """UTF-8 CSV without BOM (``envmon replay`` and other tools read the header by name)."""

    def __init__(self, fh: io.TextIOBase):
        self._w = csv.writer(fh, lineterminator="\n")

    def header(self, cols: Sequence[Column]) -> None:
        self._w.writerow([c.key for c in cols])

    def row(self, values: Sequence[Any]) -> None:
        self._w.writerow([cell_text(v) for v in values])

    def close(self) -> None:
        pass


class JsonTableWriter:
    """One JSON document ``{"format", "columns", "rows": [{...}, ...]}`` written incrementally."""

    def __init__(self, fh: io.TextIOBase, meta: dict[str, Any]):
        self._fh = fh
        self._meta = meta
        self._keys: list[str] = []
        self._first = True

    def header(self, cols: Sequence[Column]) -> None:
        self._keys = [c.key for c in cols]
        head = {"format": "envmon-history/1", **self._meta,
                "columns": [{"key": c.key, "label_zh": c.header_zh} for c in cols]}
        self._fh.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "rows": [\n')

    def row(self, values: Sequence[Any]) -> None:
        obj = {k: (cst_iso(v) if isinstance(v, datetime) else v) for k, v in zip(self._keys, values, strict=True)}
        self._fh.write(("" if self._first else ",\n") + json.dumps(obj, ensure_ascii=False))
        self._first = False

    def close(self) -> None:
        self._fh.write("\n]}\n")


class XlsxTableWriter:
    """openpyxl write-only workbook (rows go to a temporary file, not to memory); Chinese
    headers; times as CST wall-clock datetimes so Excel can sort and filter them."""

    def __init__(self, path: Path, sheet_title: str = "数据"):
        from openpyxl import Workbook

        self._path = path
        self._wb = Workbook(write_only=True)
        self._title = sheet_title
        self._cols: list[Column] = []
        self._ws: Any = None
        self._rows = 0
        self._sheets = 0

    def _new_sheet(self) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        self._sheets += 1
        self._ws = self._wb.create_sheet(self._title if self._sheets == 1 else f"{self._title}{self._sheets}")
        self._ws.freeze_panes = "A2"
        cells = []
        for c in self._cols:
            cell = WriteOnlyCell(self._ws, value=c.header_zh)
            cell.font = Font(bold=True)
            cells.append(cell)
        self._ws.append(cells)
        self._rows = 0

    def header(self, cols: Sequence[Column]) -> None:
        self._cols = list(cols)
        self._new_sheet()

    def row(self, values: Sequence[Any]) -> None:
        if self._rows >= XLSX_MAX_ROWS:
            self._new_sheet()
        self._ws.append([v.astimezone(CST).replace(tzinfo=None) if isinstance(v, datetime) else v for v in values])
        self._rows += 1

    def close(self) -> None:
        self._wb.save(self._path)


# -- export, manifest, verify ------------------------------------------------------------------
def sha256_file(path: str | Path) -> tuple[str, int]:
    """Hex SHA-256 and size of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def manifest_path(path: str | Path) -> Path:
    return Path(str(path) + ".manifest.json")


@dataclass
class ExportResult:
    """What :func:`export` wrote: the data file, its manifest and the manifest's content."""

    path: Path
    manifest_path: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])


def format_of(path: str | Path, fmt: str | None = None) -> str:
    """The export format from ``fmt`` or the file extension.

    >>> format_of("a.XLSX"), format_of("a.txt", "csv")
    ('xlsx', 'csv')
    """
    f = (fmt or Path(path).suffix.lstrip(".")).lower()
    if f not in FORMATS:
        raise HistoryError(f"format: bad value {f!r} (allowed: {', '.join(FORMATS)}; or use a .csv/.xlsx/.json name)")
    return f


def export(influx: InfluxClient, registry: Registry, request: HistoryRequest, path: str | Path,
           fmt: str | None = None, *, scope: Sequence[str] | None = None, progress: bool | None = None,
           exported_by: str | None = None) -> ExportResult:
    """Stream the request into ``path`` (written as ``.part``, renamed when complete) and write
    the manifest beside it. ``scope`` (jurisdictions) is re-checked against the registry here
    so that no caller can export a station it may not see. ``progress`` None: a bar on a TTY."""
    from tqdm import tqdm

    out = Path(path)
    f = format_of(out, fmt)
    resolve_stations(registry, request.stations, jurisdictions=scope)
    p = plan(registry, request)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    per_station: dict[str, int] = {}
    per_parameter: dict[str, int] = {}
    n = 0
    cols = columns(p)
    meta = {"request": request.to_dict()}
    chunks = p.chunks
    bar = tqdm(total=len(chunks), unit="day" if request.chunk == timedelta(days=1) else "chunk",
               desc=f"export {out.name}", disable=(None if progress is None else not progress), leave=False)
    fh: Any = None
    try:
        writer: TableWriter
        if f == "xlsx":
            writer = XlsxTableWriter(tmp)
        else:
            fh = open(tmp, "w", encoding="utf-8", newline="")
            writer = CsvTableWriter(fh) if f == "csv" else JsonTableWriter(fh, meta)
        writer.header(cols)
        for rec in records(_counting(iter_rows(influx, p, bar.update), per_station, per_parameter), p):
            writer.row(rec)
            n += 1
        writer.close()
    except BaseException:
        if fh is not None:
            fh.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
    if fh is not None:
        fh.close()
    os.replace(tmp, out)
    digest, size = sha256_file(out)
    manifest = {
        "format": MANIFEST_FORMAT,
        "file": out.name,
        "file_format": f,
        "sha256": digest,
        "bytes": size,
        "rows": n,
        "values": sum(per_station.values()),
        "rows_per_station": dict(sorted(per_station.items())),
        "rows_per_parameter": dict(sorted(per_parameter.items())),
        "request": request.to_dict(),
        "stations": {sid: {"name": st.name, "jurisdiction": st.jurisdiction, "river": st.river}
                     for sid, st in p.stations.items()},
        "columns": [{"key": c.key, "label_zh": c.header_zh} for c in cols],
        "time_zone": "Asia/Shanghai (+08:00); windows of aggregates are CST hours/days",
        "aggregation": "mean of readings flagged N or T" if request.aggregated else None,
        "scope": list(scope) if scope is not None else None,
        "queries": len(chunks) * len(p.by_medium),
        "query_example": build_query(next(iter(p.by_medium)), p.by_medium[next(iter(p.by_medium))],
                                     p.parameters[next(iter(p.by_medium))], *chunks[0]),
        "source": {"url": influx.config.url, "database": influx.config.database},
        "exported_at": format_time(utcnow()),
        "exported_by": exported_by,
        "envmon_version": __version__,
    }
    mpath = manifest_path(out)
    mpath.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return ExportResult(out, mpath, manifest)


def _counting(rows: Iterable[RawRow | AggRow], per_station: dict[str, int],
              per_parameter: dict[str, int]) -> Iterator[RawRow | AggRow]:
    for r in rows:
        per_station[r.station] = per_station.get(r.station, 0) + 1
        per_parameter[r.parameter] = per_parameter.get(r.parameter, 0) + 1
        yield r


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify`; ``ok`` only when hash and size both match."""

    path: Path
    manifest_path: Path
    expected_sha256: str
    actual_sha256: str
    expected_bytes: int
    actual_bytes: int

    @property
    def ok(self) -> bool:
        return self.expected_sha256 == self.actual_sha256 and self.expected_bytes == self.actual_bytes


def verify(path: str | Path) -> Verification:
    """Recompute the SHA-256 of an export; ``path`` is the data file or its manifest."""
    p = Path(path)
    if p.name.endswith(".manifest.json"):
        mpath, data = p, p.with_name(p.name.removesuffix(".manifest.json"))
    else:
        mpath, data = manifest_path(p), p
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise HistoryError(f"no manifest beside the file: {mpath}") from err
    except json.JSONDecodeError as err:
        raise HistoryError(f"{mpath}: not JSON: {err}") from err
    if manifest.get("format") != MANIFEST_FORMAT:
        raise HistoryError(f"{mpath}: not an envmon export manifest (format {manifest.get('format')!r})")
    if not data.exists():
        raise HistoryError(f"data file not found: {data}")
    digest, size = sha256_file(data)
    return Verification(data, mpath, str(manifest["sha256"]), digest, int(manifest["bytes"]), size)
