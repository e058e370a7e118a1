"""Issue 23's source benchmarks: one period read from Parquet, PostgreSQL and CSV, each beside the machine's floor
and what a user would write instead; and a 20M-row week from Parquet read and decided within a memory bound.

    python -m benchmarks.sources NAME '{"param": ...}'      # one case in a fresh process (run.py starts them)

Group "i." of `python -m benchmarks` (run.py `Bench.sources` calls `run_group`):
- Parquet: one week out of a `--source-weeks`-week dataset of `--source-rows` events a week, hive-partitioned by day
  (`date=YYYY-MM-DD/part-0.parquet`), through `read_parquet_window`; beside `pyarrow.parquet.read_table` of that
  week's 7 files alone (the floor) and `pyarrow.dataset` with a filter on the datetime column (what a user writes).
- SQL: one week of `--source-rows` rows (the table holds that week and the one before, indexed on `ts`) through
  `read_sql_window`; beside `COPY (the same SELECT) TO STDOUT` received by psycopg and dropped (the floor) and
  `pandas.read_sql` through SQLAlchemy and psycopg2 (what users do).
- Contract: `--source-rows` events from a CSV file (benchmarks/data.py `event_week`, the case of group f.) through
  `source.load_window` (pandas), through the Arrow path (`csv_arrow.read_csv_window` + `arrow_contract.conform_table`,
  what `window.read_window` runs for a CSV), and `pyarrow.csv.read_csv` with the spec's types (the floor).
- Memory: a `--source-memory-rows` week from Parquet read and conformed (`window.read_window`) and decided
  (`compute_drift` from cached reference statistics, as group a.'s warm week), its peak RSS beside the floor's:
  `read_table` of the week's files, whose Arrow size is the least any reader holds.

Data (seeded, `event_table`): 12 columns of events, rows in time order, each day its own file; values follow a
daily cycle and a slow weekly trend, so rows close in time are alike. Generated once per size into `.bench/sources/`
(git-ignored; the smoke run uses its temporary home instead), with the time and bytes it took in `_meta.json`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from drift_platform.core.intake.dataset import DatasetSpec

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".bench" / "sources"
VERSION = 1  # of the generator: a change makes new cache folders
START = dt.datetime(2021, 1, 4)  # a Monday: week w is [START + 7w days, START + 7(w+1) days)
GROUP = "i. sources (issue 23): one period from Parquet, PostgreSQL, CSV"
NUMERICAL = ["latency_ms", "payload_kb", "cpu_ms", "retries", "items", "score"]
CATEGORICAL = ["device", "channel", "region"]
SPEC = DatasetSpec.from_dict({
    "name": "source_events", "datetime_column": "ts", "target": "amount", "key_columns": ["event_id"],
    "reference_window": {"start": "2021-01-04", "end": "2021-01-31"}, "first_period": "2021-02-01",
    "columns": {"event_id": "int", "ts": "datetime", **dict.fromkeys(CATEGORICAL, "str"),
                **{c: "int" if c in ("retries", "items") else "float" for c in NUMERICAL}, "amount": "float"},
    "numerical_features": NUMERICAL, "categorical_features": CATEGORICAL, "max_rows": 50_000_000,
})  # fmt: skip
_LEVELS = {"device": [f"device_{i:03d}" for i in range(400)], "channel": ["web", "ios", "android", "api"],
           "region": ["eu-west", "eu-north", "us-east", "us-west", "ap-south", "ap-east", "sa-east", "af-south"]}
TARGETS = {"parquet_time": 1.5, "parquet_bytes": 2.0, "sql_time": 1.5, "contract_time": 1.5, "memory_mb": 4096.0}
TARGET_ROWS, TARGET_MEMORY_ROWS = 1_000_000, 20_000_000  # the targets are for these sizes


# --- data ---------------------------------------------------------------------------------------------------------
def event_table(rows: int, start: dt.datetime, days: int, seed: int, first_id: int = 0, trend: float = 0.0):
    """`rows` events in [start, start + days) in time order (microseconds), as a pyarrow Table of SPEC's 12
    columns (the spec's Arrow types). A daily cycle moves latency and the channel mix; `trend` shifts latency."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.integers(0, days * 86_400_000_000, rows))
    cycle = 1.0 + 0.3 * np.sin(2 * np.pi * (offsets / 3.6e9) / 24)  # by the hour of day
    latency = rng.gamma(2.0 + trend, 40.0, rows) * cycle

    def text(name: str, tilt: np.ndarray | None = None):
        levels = _LEVELS[name]
        p = np.linspace(1.0, 2.0, len(levels))
        codes = rng.choice(len(levels), rows, p=p / p.sum())
        if tilt is not None:  # in busy hours one level takes more of the rows
            codes = np.where(rng.random(rows) < 0.2 * (tilt - 0.7), len(levels) - 1, codes)
        return pa.DictionaryArray.from_arrays(codes.astype(np.int32), pa.array(levels)).cast(pa.string())

    columns = {
        "event_id": np.arange(first_id, first_id + rows, dtype=np.int64),
        "ts": (np.datetime64(start, "us") + offsets.astype("timedelta64[us]")),
        "device": text("device"), "channel": text("channel", cycle), "region": text("region"),
        "latency_ms": np.round(latency, 1), "payload_kb": np.round(rng.lognormal(2.0, 0.5, rows), 2),
        "cpu_ms": np.round(latency * rng.uniform(0.1, 0.4, rows), 2), "retries": rng.poisson(0.2, rows),
        "items": rng.poisson(3.0, rows) + 1, "score": rng.beta(2.0, 5.0, rows),
        "amount": np.round(rng.gamma(2.0, 15.0, rows), 2),
    }  # fmt: skip
    return pa.table(columns)


def week_start(week: int) -> dt.datetime:
    return START + dt.timedelta(days=7 * week)


def dataset(cache: Path, weeks: int, rows: int) -> Path:
    """The hive-partitioned folder of `weeks` weeks of `rows` events a week (one file a day), made once: written
    into a temporary folder, renamed when whole. Its `_meta.json` (pyarrow skips `_` names) says what it took."""
    import pyarrow.parquet as pq

    root = cache / f"events-v{VERSION}-{weeks}w-{rows}"
    if (root / "_meta.json").exists():
        return root
    building = root.with_name(root.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    began = time.perf_counter()
    per_day = [rows // 7 + (day < rows % 7) for day in range(7)]
    for week in range(weeks):
        first = week * rows
        for day, count in enumerate(per_day):
            when = week_start(week) + dt.timedelta(days=day)
            table = event_table(count, when, 1, seed=VERSION * 1_000_003 + week * 7 + day, first_id=first,
                                trend=0.01 * week)
            folder = building / f"date={when:%Y-%m-%d}"
            folder.mkdir(parents=True)
            pq.write_table(table, folder / "part-0.parquet")
            first += count
    files = sorted(building.rglob("*.parquet"))
    meta = {"weeks": weeks, "rows_per_week": rows, "files": len(files), "seconds": time.perf_counter() - began,
            "bytes": sum(f.stat().st_size for f in files)}
    (building / "_meta.json").write_text(json.dumps(meta))
    shutil.rmtree(root, ignore_errors=True)
    building.rename(root)
    return root


def week_files(root: Path, week: int) -> list[Path]:
    days = [week_start(week) + dt.timedelta(days=d) for d in range(7)]
    return [root / f"date={day:%Y-%m-%d}" / "part-0.parquet" for day in days]


def reference_stats(cache: Path, rows: int) -> Path:
    """The reference statistics (4 weeks before the first period, `rows` events) of SPEC, built once."""
    from drift_platform.core.stats.drift import column_kinds
    from drift_platform.core.stats.reference_stats import build_reference_stats

    path = cache / f"stats-v{VERSION}-{rows}.npz"
    if not path.exists():
        reference = event_table(rows, START, 28, seed=7).to_pandas()
        stats = build_reference_stats(reference, column_kinds(SPEC))
        path.with_suffix(".tmp").write_bytes(stats.to_bytes())
        path.with_suffix(".tmp").rename(path)
    return path


def contract_csv(cache: Path, rows: int) -> Path:
    """The event week of group f.'s contract case as the CSV file it reads (ISO times with Z), written once."""
    from benchmarks.data import event_week

    path = cache / f"events-contract-{rows}.csv"
    if not path.exists():
        week = event_week(rows, seed=2, drift=True)
        week.assign(ts=week["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(path.with_suffix(".tmp"), index=False)
        path.with_suffix(".tmp").rename(path)
    return path


def prepare(cache: str, weeks: int, rows: int, memory_rows: int) -> dict[str, Any]:
    """Everything the cases read, made once (not measured): the Parquet datasets, the statistics, the CSV."""
    folder = Path(cache)
    folder.mkdir(parents=True, exist_ok=True)
    metas = {}
    for name, (count, size) in {"parquet": (weeks, rows), "memory": (1, memory_rows)}.items():
        root = dataset(folder, count, size)
        metas[name] = json.loads((root / "_meta.json").read_text()) | {"path": str(root)}
    reference_stats(folder, min(memory_rows, TARGET_ROWS))
    contract_csv(folder, rows)
    return {"timings": {}, "datasets": metas}


# --- the cases ----------------------------------------------------------------------------------------------------
def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = fn()
    return time.perf_counter() - began, value


def _peak_kb() -> int:
    """This process's peak resident set so far (VmHWM)."""
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1])


def parquet(root: str, week: int, variant: str) -> dict[str, Any]:
    """One week of the dataset at `root`: "platform" = read_parquet_window; "floor" = pyarrow.parquet.read_table
    of the week's 7 files alone; "dataset" = pyarrow.dataset over the folder with a filter on ts. Bytes: counted
    the platform's as it reports them (the files' metadata: footers and the chunks read); the dataset's by a counting
filesystem (`counting_filesystem`, in a second, untimed pass); the floor's, its files' sizes."""
    import pandas as pd  # noqa: F401 - the platform's process holds them anyway (source.py imports pandas):
    import pyarrow.compute  # noqa: F401 - imported before the timer on every side
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    import drift_platform.core.intake.source  # noqa: F401
    from drift_platform.core.intake.parquet import read_parquet_window

    start, end = week_start(week), week_start(week + 1)
    files = [str(f) for f in week_files(Path(root), week)]
    week_bytes = sum(os.path.getsize(f) for f in files)
    out: dict[str, Any] = {"week_bytes": week_bytes}
    if variant == "platform":
        seconds, read = _timed(lambda: read_parquet_window(root, SPEC, start, end, timezone="UTC"))
        rows, out["bytes_read"], out["files"] = read.rows, read.bytes_read, read.files
    elif variant == "floor":
        seconds, table = _timed(lambda: pq.read_table(files, partitioning=None))
        rows, out["bytes_read"], out["files"] = table.num_rows, week_bytes, len(files)
    elif variant == "dataset":
        def scan(filesystem):
            where = (ds.field("ts") >= start) & (ds.field("ts") < end)
            return ds.dataset(root, format="parquet", partitioning="hive", filesystem=filesystem).to_table(
                filter=where)

        seconds, table = _timed(lambda: scan(pafs.LocalFileSystem()))
        counter = ReadCounter()
        scan(counting_filesystem(pafs.LocalFileSystem(), counter))
        rows, out["bytes_read"], out["files"] = table.num_rows, counter.bytes, len(counter.opened)
    else:
        raise ValueError(f"unknown parquet variant {variant!r}")
    return {"timings": {"read": seconds}, "rows": rows, **out}



# --- counting the bytes a pyarrow.dataset scan reads (what users write instead) -----------------------------------------------------------------

@dataclass
class ReadCounter:
    """Bytes returned by reads, and the paths opened, across the scanner's threads."""

    bytes: int = 0
    opened: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, count: int) -> None:
        with self.lock:
            self.bytes += count


class _CountingFile:
    """A readable file that counts the bytes it returns (wrapped in pyarrow.PythonFile)."""

    def __init__(self, native: Any, counter: ReadCounter) -> None:
        self._native, self._counter = native, counter
        self.closed = False

    def read(self, nbytes: int = -1) -> bytes:
        data = self._native.read() if nbytes is None or nbytes < 0 else self._native.read(nbytes)
        self._counter.add(len(data))
        return data

    def read_buffer(self, nbytes: int = -1):
        data = self._native.read_buffer() if nbytes is None or nbytes < 0 else self._native.read_buffer(nbytes)
        self._counter.add(data.size)
        return data

    def seek(self, position: int, whence: int = 0) -> int:
        return self._native.seek(position, whence)

    def tell(self) -> int:
        return self._native.tell()

    def size(self) -> int:
        return self._native.size()

    def close(self) -> None:
        self.closed = True
        self._native.close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False


def counting_filesystem(base: Any, counter: ReadCounter):
    """`base` (a pyarrow FileSystem) read-only, counting the bytes read and the files opened into `counter`."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    class Handler(pafs.FileSystemHandler):
        def get_type_name(self):
            return "counting+" + base.type_name

        def normalize_path(self, path):
            return base.normalize_path(path)

        def get_file_info(self, paths):
            return base.get_file_info(paths)

        def get_file_info_selector(self, selector):
            return base.get_file_info(selector)

        def open_input_file(self, path):
            counter.opened.add(path)
            return pa.PythonFile(_CountingFile(base.open_input_file(path), counter), mode="r")

        def open_input_stream(self, path):
            return self.open_input_file(path)

        def _read_only(self, *args, **kwargs):
            raise NotImplementedError("the Parquet source is read-only")

        create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
        delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only

        def equals(self, other):
            return self is other

    return pafs.PyFileSystem(Handler())


SQL_TABLE = "events"


def sql_load(host: str, port: int, dbname: str, rows: int) -> dict[str, Any]:
    """The table: the week before the period and the period, `rows` events each (COPY of pyarrow's CSV), a
    primary key on event_id and an index on ts, analyzed."""
    import psycopg
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    kinds = {"int": "bigint", "float": "double precision", "str": "text", "datetime": "timestamp"}
    columns = ", ".join(f"{c} {kinds[t]}" for c, t in SPEC.columns.items())
    table = pa.concat_tables([event_table(rows, week_start(w), 7, seed=20 + w, first_id=w * rows) for w in (4, 5)])
    with psycopg.connect(host=host, port=port, user="postgres", dbname=dbname, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {SQL_TABLE} ({columns}, PRIMARY KEY (event_id))")
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False))
        with conn.cursor().copy(f"COPY {SQL_TABLE} ({', '.join(SPEC.columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(sink.getvalue().to_pybytes())
        conn.execute(f"CREATE INDEX ON {SQL_TABLE} (ts)")
        conn.execute(f"ANALYZE {SQL_TABLE}")
        count = conn.execute(f"SELECT count(*) FROM {SQL_TABLE}").fetchone()[0]
    return {"timings": {}, "rows_in_table": count}


def sql(host: str, port: int, dbname: str, variant: str) -> dict[str, Any]:
    """The period (week 5) of the table: "platform" = read_sql_window; "copy" = psycopg's COPY of the same SELECT
    to STDOUT as CSV, received and dropped (the floor); "pandas" = pandas.read_sql (SQLAlchemy + psycopg2)."""
    import pandas as pd  # noqa: F401 - imported before the timer on every side
    import psycopg
    import pyarrow.csv  # noqa: F401
    import sqlalchemy as sa

    from drift_platform.core.intake.sql_source import read_sql_window

    start, end = week_start(5), week_start(6)
    select = (f"SELECT {', '.join(SPEC.columns)} FROM {SQL_TABLE} WHERE ts >= :start AND ts < :end ORDER BY ts")
    out: dict[str, Any] = {}
    if variant == "platform":
        url = f"postgresql://postgres@{host}:{port}/{dbname}"
        seconds, read = _timed(lambda: read_sql_window(url, SPEC, start, end, table=SQL_TABLE, timezone="UTC"))
        rows, out["bytes_read"] = read.rows, read.bytes_read
    elif variant == "copy":
        with psycopg.connect(host=host, port=port, user="postgres", dbname=dbname) as conn:
            bound = select.replace(":start", f"'{start:%Y-%m-%d %H:%M:%S}'").replace(":end", f"'{end:%Y-%m-%d %H:%M:%S}'")

            def copy() -> tuple[int, int]:
                received = lines = 0
                with conn.cursor().copy(f"COPY ({bound}) TO STDOUT WITH (FORMAT csv)") as stream:
                    for block in stream:
                        received += len(block)
                        lines += 1
                return received, lines

            seconds, (out["bytes_read"], rows) = _timed(copy)
    elif variant == "pandas":
        engine = sa.create_engine(f"postgresql+psycopg2://postgres@{host}:{port}/{dbname}")
        engine.connect().close()
        seconds, frame = _timed(lambda: pd.read_sql(sa.text(select), engine, params={"start": start, "end": end}))
        rows = len(frame)
        engine.dispose()
    else:
        raise ValueError(f"unknown sql variant {variant!r}")
    return {"timings": {"read": seconds}, "rows": rows, **out}


def contract(path: str, variant: str) -> dict[str, Any]:
    """The event week's CSV: "today" = source.load_window (pandas strings, then the contract); "arrow" =
    csv_arrow.read_csv_window + arrow_contract.conform_table (`available: False` until they exist); "floor" =
    pyarrow.csv.read_csv with the spec's types; "check" = the two paths' frames compared (`_against`)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute  # noqa: F401 - imported before the timer on every side (a run's process has it
    import pyarrow.csv as pa_csv  # after its first period; imports are group c's)

    from benchmarks.data import EVENT_SPEC, EVENT_WEEK
    from drift_platform.core.intake.dataset import arrow_type
    from drift_platform.core.intake.source import load_window

    start, end = EVENT_WEEK, EVENT_WEEK + pd.Timedelta(days=7)
    if variant == "today":
        seconds, (frame, _) = _timed(lambda: load_window(path, EVENT_SPEC, start, end))
    elif variant in ("arrow", "check"):
        try:
            from drift_platform.core.intake.arrow_contract import conform_table
            from drift_platform.core.intake.csv_arrow import read_csv_window
        except ImportError as exc:
            return {"timings": {}, "available": False, "why": str(exc)}

        from drift_platform.core.intake.arrow_contract import to_frame

        def checked():  # the typed read and the contract's rules, on Arrow
            read = read_csv_window(path, EVENT_SPEC, start, end, timezone="UTC")
            return conform_table(read.table, EVENT_SPEC, window=(start, end), timezone="UTC", as_arrow=True)

        if variant == "check":  # both paths' frames compared, in a process not measured
            frame = to_frame([checked()], EVENT_SPEC)
            return {"timings": {}, "against_today": _against(load_window(path, EVENT_SPEC, start, end)[0], frame)}
        contract_s, table = _timed(checked)
        pandas_s, frame = _timed(lambda: to_frame([table], EVENT_SPEC))  # what current_batch hands on: pandas
        return {"timings": {"read": contract_s + pandas_s, "read_and_rules": contract_s, "to_pandas": pandas_s},
                "rows": len(frame), "available": True}
    elif variant == "floor":
        types = {c: arrow_type(t) for c, t in EVENT_SPEC.columns.items()} | {"ts": pa.timestamp("s", tz="UTC")}
        options = pa_csv.ConvertOptions(column_types=types)
        seconds, table = _timed(lambda: pa_csv.read_csv(path, convert_options=options))
        return {"timings": {"read": seconds}, "rows": table.num_rows, "available": True}
    else:
        raise ValueError(f"unknown contract variant {variant!r}")
    return {"timings": {"read": seconds}, "rows": len(frame), "available": True}


def _against(today: Any, frame: Any) -> dict[str, Any]:
    """How the Arrow path's frame differs from load_window's: the same columns, dtypes, index and values but
    floats; and the float values that differ, by how many units in the last place at most."""
    same = list(today.columns) == list(frame.columns) and today.dtypes.equals(frame.dtypes) and today.index.equals(
        frame.index)
    floats = [c for c in today.columns if today[c].dtype.kind == "f"]
    same = same and today.drop(columns=floats).equals(frame.drop(columns=floats))
    differing, ulps = 0, 0.0
    for column in floats if same else ():
        a, b = today[column].to_numpy(), frame[column].to_numpy()
        apart = (a != b) & ~(np.isnan(a) & np.isnan(b))
        differing += int(apart.sum())
        if apart.any():
            ulps = max(ulps, float(np.max(np.abs(a[apart] - b[apart]) / np.spacing(np.abs(a[apart])))))
    return {"same_but_floats": bool(same), "floats_differing": differing, "max_ulps": ulps,
            "float_values": len(today) * len(floats)}


def memory(root: str, stats: str, variant: str) -> dict[str, Any]:
    """The one week at `root`: "platform" = window.read_window (read_parquet_window, then the contract) and
    compute_drift's decisions from the cached statistics (with_report=False); "floor" = read_table of the week's
    files (its Arrow size: the least a reader holds). Peak RSS: VmHWM after each step (run.py takes wait4's)."""
    import pandas as pd  # noqa: F401
    import pyarrow.parquet as pq

    from drift_platform.core.stats.drift import compute_drift
    from drift_platform.core.stats.reference_stats import ReferenceStats

    start, end, steps = week_start(0), week_start(1), {}
    if variant == "floor":
        seconds, table = _timed(lambda: pq.read_table([str(f) for f in week_files(Path(root), 0)], partitioning=None))
        return {"timings": {"read": seconds}, "rows": table.num_rows, "arrow_bytes": table.nbytes,
                "peak_kb": {"read": _peak_kb()}}
    if variant != "platform":
        raise ValueError(f"unknown memory variant {variant!r}")
    reference = ReferenceStats.from_file(stats)
    began = time.perf_counter()
    try:
        from drift_platform.core.intake.window import read_window

        frame = read_window(root, SPEC, start, end, timezone="UTC").frame
    except ImportError:  # before window.py: the reader and the CSV path's contract
        from drift_platform.core.intake.contract import conform
        from drift_platform.core.intake.parquet import read_parquet_window

        frame = conform(read_parquet_window(root, SPEC, start, end).to_pandas(), SPEC, window=(start, end))
    steps["read_and_contract"], after_read = time.perf_counter() - began, _peak_kb()
    seconds, result = _timed(lambda: compute_drift(reference, frame, SPEC, with_report=False))
    steps["decide"] = seconds
    return {"timings": {**steps, "total": sum(steps.values())}, "rows": len(frame),
            "drifted": result.drifted_count, "peak_kb": {"read_and_contract": after_read, "decide": _peak_kb()}}


# --- the group in run.py: labels, runs, targets ------------------------------------------------------------------
MODULE = "benchmarks.sources"
_PREFIXES = {"parquet": "Parquet, 1 week of {weeks} ({rows:,} rows): ", "sql": "PostgreSQL, 1 week ({rows:,} rows): ",
             "contract": "CSV contract, {rows:,} events: ",
             "memory": "memory, a {memory_rows:,}-row x 12 week from Parquet: "}
_SIDES = {
    ("parquet", "platform"): "read_parquet_window",
    ("parquet", "floor"): "floor, pyarrow.parquet.read_table of the week's 7 files alone",
    ("parquet", "dataset"): "pyarrow.dataset(folder).to_table(filter on ts), what a user writes",
    ("sql", "platform"): "read_sql_window (COPY as CSV, parsed by pyarrow)",
    ("sql", "copy"): "floor, COPY (the same SELECT) TO STDOUT received by psycopg",
    ("sql", "pandas"): "pandas.read_sql (SQLAlchemy + psycopg2), what users do",
    ("contract", "today"): "source.load_window (pandas: strings, then types; the path before Arrow)",
    ("contract", "arrow"): "csv_arrow.read_csv_window + arrow_contract.conform_table (window.read_window's CSV path)",
    ("contract", "floor"): "floor, pyarrow.csv.read_csv with the spec's types",
    ("memory", "platform"): "window.read_window + compute_drift decisions (statistics cached)",
    ("memory", "floor"): "floor, read_table of its files",
}
LABELS = {key: _PREFIXES[key[0]] + side for key, side in _SIDES.items()}


def label(case: str, variant: str, args: Any) -> str:
    return LABELS[case, variant].format(weeks=args.source_weeks, rows=args.source_rows,
                                        memory_rows=args.source_memory_rows)


def run_group(bench: Any) -> None:
    """Group i. of run.py: the data made once (unmeasured), then each comparison's sides alternately, each run a
    fresh process (`bench.case`)."""
    from loopback.postgres import PostgresServer

    args = bench.args
    cache = Path(bench.env["DAGSTER_HOME"]) / "sources" if args.smoke else CACHE
    made, _ = bench.case("prepare", module=MODULE, cache=str(cache), weeks=args.source_weeks,
                         rows=args.source_rows, memory_rows=args.source_memory_rows)
    sets = made["datasets"]
    _compare(bench, "parquet", ("platform", "floor", "dataset"), args.parquet_repeat, root=sets["parquet"]["path"],
             week=args.source_weeks // 2)
    with PostgresServer() as server:
        dbname = "bench_sources"
        server.create_database(dbname)
        where = {"host": server.host, "port": server.port, "dbname": dbname}
        bench.case("sql_load", module=MODULE, rows=args.source_rows, **where)
        _compare(bench, "sql", ("platform", "copy", "pandas"), args.repeat, **where)
    csv = str(cache / f"events-contract-{args.source_rows}.csv")
    _compare(bench, "contract", ("today", "arrow", "floor"), args.repeat, path=csv)
    bench.payloads[GROUP, "contract check"] = [bench.case("contract", module=MODULE, variant="check", path=csv)[0]]
    _compare(bench, "memory", ("platform", "floor"), 1, root=sets["memory"]["path"],
             stats=str(cache / f"stats-v{VERSION}-{min(args.source_memory_rows, TARGET_ROWS)}.npz"))
    bench.payloads[GROUP, "datasets"] = [sets]


ABORT_RETRIES = 3  # pyarrow's threads may abort a process at exit (docs/benchmarks.md, "Sources (issue 23)")


def _compare(bench: Any, case: str, variants: tuple[str, ...], runs: int, **params: Any) -> None:
    def one(variant: str) -> None:
        for attempt in range(ABORT_RETRIES + 1):
            try:
                payload, rss = bench.case(case, module=MODULE, variant=variant, **params)
                break
            except RuntimeError as exc:  # killed by SIGABRT at exit: run again, and say so in the targets
                if "exited with -6" not in str(exc) or attempt == ABORT_RETRIES:
                    raise
                bench.payloads.setdefault((GROUP, "aborted"), []).append(
                    f"{case} {variant}: {' '.join(str(exc)[-50:].split())}")
        if payload.get("available", True):
            seconds = payload["timings"].get("total", payload["timings"].get("read"))
            bench.record(GROUP, label(case, variant, bench.args), seconds, rss, _note(case, payload), payload)
        else:
            bench.payloads.setdefault((GROUP, label(case, variant, bench.args)), []).append(payload)

    bench.alternate([(runs, lambda v=variant: one(v)) for variant in variants])


def _note(case: str, payload: dict[str, Any]) -> str:
    mb = 1024 * 1024
    if "bytes_read" in payload and "week_bytes" in payload:
        return (f"{payload['rows']:,} rows; {payload['bytes_read'] / mb:.1f} MB read in {payload['files']} files "
                f"({payload['bytes_read'] / payload['week_bytes']:.2f}x the week's files)")
    if "bytes_read" in payload:
        return f"{payload['rows']:,} rows; {payload['bytes_read'] / mb:.1f} MB received"
    if case == "memory" and "arrow_bytes" in payload:
        return f"{payload['rows']:,} rows; the Arrow table: {payload['arrow_bytes'] / mb:.0f} MB (nbytes)"
    if case == "memory":
        t, peak = payload["timings"], payload["peak_kb"]
        return (f"{payload['rows']:,} rows, {payload['drifted']} columns drifted; read + contract "
                f"{t['read_and_contract']:.1f} s (VmHWM {peak['read_and_contract'] / 1024:.0f} MB), decisions "
                f"{t['decide']:.1f} s")
    if "read_and_rules" in payload["timings"]:
        t = payload["timings"]
        return (f"{payload['rows']:,} rows; read + the contract's rules on Arrow {t['read_and_rules']:.3f} s, "
                f"then to pandas {t['to_pandas']:.3f} s")
    return f"{payload['rows']:,} rows"


def targets(bench: Any) -> list[dict[str, Any]]:
    """The issue's four targets for this group, each with the floor beside it."""
    args = bench.args
    if "sources" not in args.only:
        return []
    rows = {lab: row.stats() for (g, lab), row in bench.rows.items() if g == GROUP}
    got = {key: rows.get(label(*key, args)) for key in LABELS}
    first = {key: (bench.payloads.get((GROUP, label(*key, args))) or [None])[0] for key in LABELS}
    applies, out = args.source_rows >= TARGET_ROWS, []

    def ratio(what: str, ours: tuple[str, str], floor: tuple[str, str], limit: float, extra: str = "") -> None:
        a, b = got[ours], got[floor]
        if a and b:
            r = a["median_s"] / b["median_s"]
            out.append({"target": f"{what} <= {limit:g}x the floor ({label(*floor, args).split(': ', 1)[1]})",
                        "measured": f"{r:.2f}x ({a['median_s']:.3f} s vs {b['median_s']:.3f} s; fastest runs "
                                    f"{a['min_s'] / b['min_s']:.2f}x){extra}",
                        "holds": r <= limit if applies else None})

    dataset = got["parquet", "dataset"]
    ratio(f"Parquet: 1 week of {args.source_weeks} ({args.source_rows:,} rows) time", ("parquet", "platform"),
          ("parquet", "floor"), TARGETS["parquet_time"],
          f"; pyarrow.dataset with a filter: {dataset['median_s']:.3f} s" if dataset else "")
    read = first["parquet", "platform"]
    if read:
        r = read["bytes_read"] / read["week_bytes"]
        out.append({"target": f"Parquet: bytes read <= {TARGETS['parquet_bytes']:g}x the week's files",
                    "measured": f"{r:.2f}x ({read['bytes_read'] / 2**20:.1f} MB vs {read['week_bytes'] / 2**20:.1f} MB)",
                    "holds": r <= TARGETS["parquet_bytes"] if applies else None})
    pandas = got["sql", "pandas"]
    ratio(f"PostgreSQL: 1 week ({args.source_rows:,} rows)", ("sql", "platform"), ("sql", "copy"),
          TARGETS["sql_time"], f"; pandas.read_sql: {pandas['median_s']:.2f} s" if pandas else "")
    today = got["contract", "today"]
    runs = bench.payloads.get((GROUP, label("contract", "arrow", args))) or []
    if runs and got["contract", "floor"]:
        import statistics

        rules = statistics.median(run["timings"]["read_and_rules"] for run in runs)
        r = rules / got["contract", "floor"]["median_s"]
        out.append({"target": f"CSV contract on {args.source_rows:,} events on Arrow (the typed read and the rules, "
                              f"before pandas) <= {TARGETS['contract_time']:g}x the floor",
                    "measured": f"{r:.2f}x ({rules:.3f} s vs {got['contract', 'floor']['median_s']:.3f} s)",
                    "holds": r <= TARGETS["contract_time"] if applies else None})
    if got["contract", "arrow"]:
        ratio(f"CSV contract on {args.source_rows:,} events (the Arrow path)", ("contract", "arrow"),
              ("contract", "floor"), TARGETS["contract_time"], (f"; load_window (pandas): {today['median_s']:.2f} s"
              if today else "") + "; " + _sameness(bench.payloads[GROUP, "contract check"]))
    else:
        ratio(f"CSV contract on {args.source_rows:,} events (load_window; the Arrow path: not yet in main)",
              ("contract", "today"), ("contract", "floor"), TARGETS["contract_time"])
    out += _memory_target(got, first, args)
    aborted = bench.payloads.get((GROUP, "aborted"), [])
    if aborted:
        out.append({"target": "every case process exits cleanly", "holds": False,
                    "measured": f"{len(aborted)} aborted (SIGABRT), each run once more: " + "; ".join(aborted)})
    return out


def _sameness(payloads: list[dict[str, Any]]) -> str:
    """What the Arrow path's frame was against load_window's."""
    seen = [p["against_today"] for p in payloads if "against_today" in p]
    if not seen:
        return "not compared"
    if not all(s["same_but_floats"] for s in seen):
        return "its frame is NOT load_window's (columns, dtypes, index or non-float values differ)"
    worst = max(seen, key=lambda s: s["floats_differing"])
    if not worst["floats_differing"]:
        return "the same frame as load_window's"
    return (f"load_window's frame but {worst['floats_differing']:,} of {worst['float_values']:,} float values, "
            f"at most {worst['max_ulps']:.0f} ulp apart")


def _memory_target(got: dict, first: dict, args: Any) -> list[dict[str, Any]]:
    ours, floor = got["memory", "platform"], first["memory", "floor"]
    if not ours:
        return []
    beside = f"; floor: the Arrow table {floor['arrow_bytes'] / 2**20:.0f} MB" if floor else ""
    return [{"target": f"a {args.source_memory_rows:,}-row x 12 week from Parquet read and decided within "
                       f"{TARGETS['memory_mb'] / 1024:g} GB peak RSS",
             "measured": f"{ours['peak_rss_mb']:.0f} MB in {ours['median_s']:.1f} s{beside}",
             "holds": ours["peak_rss_mb"] <= TARGETS["memory_mb"] if args.source_memory_rows >= TARGET_MEMORY_ROWS
             else None}]


CASES: dict[str, Callable[..., dict[str, Any]]] = {
    "prepare": prepare, "parquet": parquet, "sql_load": sql_load, "sql": sql, "contract": contract, "memory": memory,
}  # fmt: skip


if __name__ == "__main__":  # one case, as benchmarks/cases.py runs its own: its BENCH_RESULT line on stdout
    from benchmarks import cases

    cases.CASES.update(CASES)
    raise SystemExit(cases.main(sys.argv[1:]))
