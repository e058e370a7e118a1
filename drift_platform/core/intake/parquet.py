"""Reading one window of a Parquet source: a `.parquet` file, or a folder of them, local or on S3.

Only the window's rows are read, in two steps:
- Partition pruning, before any file is opened: hive-style `key=value` folders whose value is a day
  (`date=2024-01-01/`), a month (`month=2024-01/`) or a year (`year=2024/`) bound the time of their files' rows;
  a file whose folders lie wholly outside the window is never opened. The values are taken as naive times in the
  monitor's timezone or in UTC (the window is widened to cover both, so a UTC-dated folder is not cut off).
  A day or month of the window that has no folder is an error (a missing partition folder), not an empty week.
- Row-group pruning: pyarrow's dataset scanner filters on the datetime column, skipping the row groups whose
  statistics lie outside the window.

Partition keys are the folders' layout: they are neither extra columns nor table columns, unless the spec declares
a column of that name (then its value comes from the folder, cast to the spec's type).

`bytes_read` is what the read fetches by the files' own metadata: each opened file's footer and, of each row group
read, the column chunks of the spec's columns (their compressed sizes, dictionary pages included); `files` counts
the files opened. (pyarrow reads a footer with one speculative read of up to 64 KiB, so a file smaller than that
is fetched whole once, then its chunks: a tiny partition may show ~1.7x its size.) Files are read through pyarrow's
own filesystems: a filesystem implemented in Python, which could count each read, makes pyarrow's I/O threads call
into Python and the process may abort at exit (terminate called without an active exception: apache/arrow#34314).

Each file's schema is checked against the spec before rows are read: a spec column missing from a file, or held
with another type, is a SourceError naming the file, the column and both types; so is an unreadable footer.
Columns are cast to the spec's Arrow types (`dataset.arrow_type`) by the scanner with safe casts (an int32 file
column becomes int64; a value that does not fit is an error naming the file and the column). A tz-aware datetime
column is converted to the monitor's timezone and made naive, as the CSV path does (`contract.read_times`).

pyarrow is imported inside the functions: the code location may import this module.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from drift_platform.core.intake.dataset import DatasetSpec, arrow_type
from drift_platform.core.intake.reads import SourceRead, naive_time

S3_OPTIONS = ("endpoint_override", "access_key", "secret_key", "region", "scheme")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^\d{4}$")


def _error(message: str, retryable: bool = False) -> Exception:
    from drift_platform.core.intake.source import SourceError

    return SourceError(message, retryable=retryable)


def _origin(url: str) -> str:
    from drift_platform.core.intake.source import describe_source

    return describe_source(url)


def base_filesystem(url: str, s3: dict[str, Any] | None = None) -> tuple[Any, str]:
    """The pyarrow FileSystem and the path in it of a Parquet source: a local path, file:// or s3://.

    `s3` holds S3FileSystem options for S3-compatible servers (endpoint_override, access_key, secret_key,
    region, scheme); without them pyarrow takes credentials from the environment (AWS_ACCESS_KEY_ID, ...)."""
    import pyarrow.fs as pafs

    scheme = urllib.parse.urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme == "s3":
        parts = urllib.parse.urlsplit(url)
        unknown = sorted(set(s3 or {}) - set(S3_OPTIONS))
        if unknown:
            raise _error(f"source {_origin(url)}: unknown S3 option(s) {unknown}; known: {list(S3_OPTIONS)}")
        if not parts.netloc:
            raise _error(f"source {_origin(url)!r} must name a bucket: s3://bucket/folder")
        options = {k: v for k, v in (s3 or {}).items() if v is not None}
        return pafs.S3FileSystem(**options), (parts.netloc + parts.path).rstrip("/")
    if scheme == "file":
        return pafs.LocalFileSystem(), urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    if scheme:
        raise _error(f"source {_origin(url)!r}: scheme {scheme!r} is not supported for Parquet; use s3, file or a path")
    import os

    return pafs.LocalFileSystem(), os.path.abspath(url)


# --- which files: listing and partition pruning ---------------------------------------------------------------

@dataclass(frozen=True)
class PartFile:
    """One Parquet file, its hive partition values (key -> text) and the time range they bound, if any."""

    path: str
    partitions: dict[str, str]
    span: tuple[dt.datetime, dt.datetime] | None
    time_key: str | None = None  # the partition key that gave the span (the last one, e.g. `month`)


def partition_span(key: str, value: str) -> tuple[dt.datetime, dt.datetime] | None:
    """The half-open time range a partition value stands for: a day, a month or (key `year`) a year."""
    found = _DAY.match(value)
    if found:
        start = dt.datetime(*map(int, found.groups()))
        return start, start + dt.timedelta(days=1)
    found = _MONTH.match(value)
    if found:
        year, month = map(int, found.groups())
        return dt.datetime(year, month, 1), dt.datetime(year + month // 12, month % 12 + 1, 1)
    if key.lower() == "year" and _YEAR.match(value):
        return dt.datetime(int(value), 1, 1), dt.datetime(int(value) + 1, 1, 1)
    return None


def part_file(root: str, path: str) -> PartFile:
    folders = path[len(root):].strip("/").split("/")[:-1]
    partitions = dict(folder.split("=", 1) for folder in folders if "=" in folder)
    span, time_key = None, None
    for key, value in partitions.items():
        try:
            bounds = partition_span(key, urllib.parse.unquote(value))
        except ValueError:  # 2024-13: not a date after all
            bounds = None
        if bounds is not None:
            span = bounds if span is None else (max(span[0], bounds[0]), min(span[1], bounds[1]))
            time_key = key
    return PartFile(path, partitions, span, time_key)


def list_files(fs: Any, root: str, origin: str) -> list[PartFile]:
    """The `.parquet` files at `root` (a file, or a folder searched recursively; names starting with `.` or `_`
    are skipped, as pyarrow does)."""
    import pyarrow.fs as pafs

    try:
        info = fs.get_file_info(root)
        if info.type == pafs.FileType.NotFound:
            raise _error(f"source {origin}: no such file or folder")
        if info.type == pafs.FileType.File:
            return [PartFile(root, {}, None)]
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    except OSError as exc:
        raise _error(f"source {origin} cannot be listed: {_first_line(exc)}", retryable=True) from None
    paths = sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(".parquet")
                   and not any(part.startswith((".", "_")) for part in i.path[len(root):].split("/")))
    if not paths:
        raise _error(f"source {origin}: the folder holds no .parquet files")
    return [part_file(root, path) for path in paths]


def prune(files: list[PartFile], start: dt.datetime, end: dt.datetime, utc_offset: dt.timedelta,
          origin: str) -> list[PartFile]:
    """The files whose partitions may hold rows in [start, end); a day or month of the window without a folder
    (when the source is partitioned by time) is an error naming the folder."""
    if not any(f.span for f in files):
        return files
    low, high = min(start, start - utc_offset), max(end, end - utc_offset)
    kept = [f for f in files if f.span is None or (f.span[0] < high and f.span[1] > low)]
    missing = _uncovered([f.span for f in files if f.span], start, end)
    if missing:
        key = next(f.time_key for f in files if f.time_key)
        folders = ", ".join(f"{key}={value}/" for value in missing)
        raise _error(f"source {origin}: missing partition folder(s) {folders}: the window "
                     f"[{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) needs them")
    return kept


def _uncovered(spans: Iterable[tuple[dt.datetime, dt.datetime]], start: dt.datetime, end: dt.datetime) -> list[str]:
    """The parts of [start, end) no span covers, as the folder values that would cover them (the finest of
    days, months and years the spans use)."""
    spans = list(spans)
    shortest = min(s[1] - s[0] for s in spans)
    style, key = ("%Y-%m-%d", "") if shortest <= dt.timedelta(days=1) else (
        ("%Y-%m", "") if shortest <= dt.timedelta(days=31) else ("%Y", "year"))
    spans = sorted(s for s in spans if s[0] < end and s[1] > start)
    missing, cursor = [], start
    for low, high in [*spans, (end, end)]:
        while cursor < min(low, end):
            missing.append(f"{cursor:{style}}")
            cursor = partition_span(key, missing[-1])[1]
        cursor = max(cursor, high)
    return sorted(set(missing))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _retryable(exc: BaseException) -> bool:
    """An S3 error that may pass on a second try: a connection refused or reset, a timeout, a 5xx."""
    text = str(exc)
    return any(mark in text for mark in ("NETWORK_CONNECTION", "curlCode", "SlowDown", "ServiceUnavailable",
                                         "InternalError", "Timeout", "timed out"))


# --- each file's schema against the spec ----------------------------------------------------------------------

def compatible(typ: str, arrow: Any) -> bool:
    """Whether a file's Arrow type can hold a spec type's values (and be cast to it without guessing)."""
    import pyarrow.types as t

    if t.is_null(arrow):  # a column written with no value at all
        return True
    if t.is_dictionary(arrow):
        arrow = arrow.value_type
    if typ == "datetime":
        return t.is_timestamp(arrow) or t.is_date(arrow)
    if typ == "str":
        return t.is_string(arrow) or t.is_large_string(arrow) or t.is_string_view(arrow)
    if typ == "float":
        return t.is_floating(arrow) or t.is_integer(arrow) or t.is_decimal(arrow)
    return t.is_integer(arrow) or (typ == "bool" and t.is_boolean(arrow))


@dataclass(frozen=True)
class OpenedFile:
    """A file whose footer was read: its fragment (metadata cached for the scan) and physical schema."""

    part: PartFile
    shown: str  # the file as messages name it (s3://bucket/key or the local path)
    fragment: Any
    schema: Any


def open_files(files: list[PartFile], fs: Any, shown: str, origin: str) -> list[OpenedFile]:
    """Each file's footer read once, up to 8 at a time (on S3 each costs round trips); the scan reuses the
    cached metadata. An unreadable footer names the file (the first in path order)."""
    from concurrent.futures import ThreadPoolExecutor

    if len(files) < 2:
        return [open_file(part, fs, shown, origin) for part in files]
    with ThreadPoolExecutor(max_workers=min(8, len(files))) as pool:
        futures = [pool.submit(open_file, part, fs, shown, origin) for part in files]
        return [future.result() for future in futures]


def open_file(part: PartFile, fs: Any, shown: str, origin: str) -> OpenedFile:
    import pyarrow as pa
    import pyarrow.dataset as ds

    name = shown + part.path
    try:
        fragment = ds.ParquetFileFormat().make_fragment(part.path, filesystem=fs)
        schema = fragment.physical_schema
    except (pa.ArrowException, OSError) as exc:
        if _retryable(exc):
            raise _error(f"source {origin}: file {name} cannot be read: {_first_line(exc)}", True) from None
        raise _error(f"source {origin}: file {name} has an unreadable Parquet footer: {_first_line(exc)}") from None
    return OpenedFile(part, name, fragment, schema)


def check_schema(spec: DatasetSpec, file: OpenedFile, optional: set[str], origin: str) -> list[str]:
    """The file holds every spec column (but `optional`, or a partition key) in a type that fits; returns its
    columns the spec does not declare."""
    for column, typ in spec.columns.items():
        name = spec.source_name(column)
        if name in file.part.partitions:
            continue
        index = file.schema.get_field_index(name)
        if index < 0:
            if column in optional:
                continue
            raise _error(f"source {origin}: file {file.shown} lacks column {spec.described(column)}, declared "
                         f"{typ} in the dataset spec {spec.name!r}")
        found = file.schema.field(index).type
        if not compatible(typ, found):
            raise _error(f"source {origin}: file {file.shown}: column {spec.described(column)} has type {found}; "
                         f"the dataset spec {spec.name!r} declares {typ} ({arrow_type(typ)})")
    known = {spec.source_name(c) for c in spec.columns}
    return [name for name in file.schema.names if name not in known]


def dataset_schema(spec: DatasetSpec, files: list[OpenedFile], origin: str):
    """The scan's schema: each spec column present in the files under its source name, as the spec's Arrow
    type (the scanner casts), but datetimes, kept as stored (their filter must match the statistics) and
    required to be stored alike in every file (a date, or a timestamp of the same timezone)."""
    import pyarrow as pa

    fields = []
    for column, typ in spec.columns.items():
        name = spec.source_name(column)
        stored = [(f, f.schema.field(name).type) for f in files if name in f.schema.names]
        if not stored:
            if any(name in f.part.partitions for f in files):
                fields.append(pa.field(name, arrow_type(typ)))
            continue
        if typ != "datetime":
            fields.append(pa.field(name, arrow_type(typ)))
            continue
        first = stored[0][1]
        for file, found in stored[1:]:
            if _time_kind(found) != _time_kind(first):
                raise _error(f"source {origin}: file {file.shown}: column {spec.described(column)} has type "
                             f"{found}; file {stored[0][0].shown} has {first}")
        fields.append(pa.field(name, first))
    return pa.schema(fields)


def _time_kind(arrow: Any) -> tuple:
    import pyarrow.types as t

    return ("date",) if t.is_date(arrow) else ("timestamp", arrow.tz)


def partition_expression(spec: DatasetSpec, file: OpenedFile, schema: Any, origin: str):
    """The values of the spec columns that a file's folders hold (`region=eu/`), for the scanner to fill in."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    expression = None
    for key, value in file.part.partitions.items():
        if key not in schema.names or key in file.schema.names:
            continue
        try:
            scalar = pa.scalar(urllib.parse.unquote(value)).cast(schema.field(key).type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise _error(f"source {origin}: file {file.shown}: partition folder {key}={value} is not a "
                         f"{schema.field(key).type}") from None
        term = ds.field(key) == scalar
        expression = term if expression is None else expression & term
    return expression


# --- the window's rows ----------------------------------------------------------------------------------------

def window_bounds(stored: Any, start: dt.datetime, end: dt.datetime, timezone: str) -> tuple[Any, Any]:
    """The window's bounds as scalars of the datetime column's stored type (so row-group statistics compare)."""
    from zoneinfo import ZoneInfo

    import pyarrow as pa
    import pyarrow.types as t

    if t.is_date(stored):  # a date is its midnight: the first whole day at or after each bound
        low, high = (b.date() + dt.timedelta(days=b.time() != dt.time()) for b in (start, end))
    elif stored.tz is not None:
        zone = ZoneInfo(timezone)
        low, high = start.replace(tzinfo=zone), end.replace(tzinfo=zone)
    else:
        low, high = start, end
    return pa.scalar(low, type=stored), pa.scalar(high, type=stored)


def row_groups(file: OpenedFile, name: str, bounds: tuple[Any, Any]) -> list[tuple[int, int, bool]]:
    """The file's row groups that may hold rows in the window, from the datetime column's statistics (in the
    footer already read): (row group, its rows, whether its rows need the filter: False when all lie inside)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    metadata, (low, high) = file.fragment.metadata, bounds
    column = next((j for j in range(metadata.num_columns) if metadata.schema.column(j).path == name), None)
    kept = []
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        stats = group.column(column).statistics if column is not None else None
        if stats is None or not stats.has_min_max or stats.null_count:
            kept.append((index, group.num_rows, True))
            continue
        first, last = pa.scalar(stats.min, type=low.type), pa.scalar(stats.max, type=low.type)
        if pc.less(last, low).as_py() or pc.greater_equal(first, high).as_py():
            continue
        inside = pc.greater_equal(first, low).as_py() and pc.less(last, high).as_py()
        kept.append((index, group.num_rows, not inside))
    return kept


def naive_local(values: Any, timezone: str):
    """A datetime column as the platform holds it: naive, in `timezone`, timestamp[us] where that is exact."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as t

    if t.is_date(values.type):
        values = values.cast(pa.timestamp("us"))
    elif values.type.tz is not None:
        values = pc.local_timestamp(values.cast(pa.timestamp(values.type.unit, tz=timezone)))
    try:
        return values.cast(arrow_type("datetime"))
    except pa.ArrowInvalid:  # sub-microsecond values: kept as stored (ns)
        return values


def to_spec_table(table: Any, spec: DatasetSpec, timezone: str):
    """The scanned columns under their identifiers, in the spec's order; datetimes naive in `timezone`."""
    import pyarrow as pa

    columns, names = [], []
    for column, typ in spec.columns.items():
        name = spec.source_name(column)
        if name in table.column_names:
            values = table.column(name)
            columns.append(naive_local(values, timezone) if typ == "datetime" else values)
            names.append(column)
    return pa.table(columns, names=names)


def scan(fragments: list[tuple[Any, int, bool]], schema: Any, fs: Any, column: str, bounds: tuple[Any, Any],
         origin: str):
    """The window's rows: the kept row groups read in order (one fragment each), the filter applied only to
    those that straddle a bound (a group wholly inside needs none)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    dataset = ds.FileSystemDataset([f for f, _, _ in fragments], schema, ds.ParquetFileFormat(), fs)
    try:
        table = dataset.to_table(use_threads=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a value that does not fit its type: `locate_failure` names the file and the column
    except OSError as exc:
        raise _error(f"source {origin} cannot be read: {_first_line(exc)}", retryable=_retryable(exc)) from None
    if all(not partial for _, _, partial in fragments):
        return table
    pieces, offset = [], 0
    for _, rows, partial in fragments:
        piece = table.slice(offset, rows)
        if partial:
            times = piece.column(column)
            piece = piece.filter(pc.and_(pc.greater_equal(times, bounds[0]), pc.less(times, bounds[1])))
        pieces.append(piece)
        offset += rows
    return pa.concat_tables(pieces)


def locate_failure(files: list[OpenedFile], schema: Any, spec: DatasetSpec, origin: str) -> Exception:
    """The error naming the file and the column whose values do not fit the spec's type."""
    import pyarrow as pa

    by_source = {spec.source_name(c): c for c in spec.columns}
    for file in files:
        for name in schema.names:
            try:
                file.fragment.to_table(schema=schema, columns=[name])
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                return _error(f"source {origin}: file {file.shown}: column {spec.described(by_source[name])} "
                              f"does not fit {schema.field(name).type}: {_first_line(exc)}")
    return _error(f"source {origin} cannot be read as the dataset spec {spec.name!r} says")


def read_parquet_window(
    url: str, spec: DatasetSpec, start: Any, end: Any, *, timezone: str = "UTC",
    s3: dict[str, Any] | None = None, withhold_target: bool = False,
) -> SourceRead:
    """The rows of a Parquet file or folder (local, file:// or s3://) with start <= datetime < end.

    Partitions outside the window are never opened, row groups outside it never read (module docstring).
    `withhold_target` (labels that arrive late): the target may be absent from the files."""
    from zoneinfo import ZoneInfo

    origin = _origin(url)
    try:
        fs, root = base_filesystem(url, s3)
        start, end = naive_time(start, timezone), naive_time(end, timezone)
        offset = ZoneInfo(timezone).utcoffset(start) or dt.timedelta(0)
        files = open_files(prune(list_files(fs, root, origin), start, end, offset, origin), fs,
                           "s3://" if url.lower().startswith("s3://") else "", origin)
        optional = {spec.target} if withhold_target else set()
        extra = sorted({name for f in files for name in check_schema(spec, f, optional, origin)})
        schema = dataset_schema(spec, files, origin)
        column = spec.source_name(spec.datetime_column)
        bounds = window_bounds(schema.field(column).type, start, end, timezone)
        fragments = window_fragments(files, fs, spec, schema, bounds, origin)
        scanned = scan([f[:3] for f in fragments], schema, fs, column, bounds, origin)
        if scanned is None:
            raise locate_failure(files, schema, spec, origin)
        table = to_spec_table(scanned, spec, timezone)
    except Exception as exc:
        raise _scrubbed(exc, s3) from None
    fetched = sum(footer_bytes(f) for f in files) + sum(f[3] for f in fragments)
    return SourceRead(table, table.num_rows, fetched, origin, extra, len(files))


def window_fragments(files: list[OpenedFile], fs: Any, spec: DatasetSpec, schema: Any, bounds: tuple[Any, Any],
                     origin: str) -> list[tuple[Any, int, bool, int]]:
    """One fragment per row group that may hold the window's rows, in file order: (fragment, rows, partial,
    the bytes of its column chunks that the scan reads)."""
    column, kept = spec.source_name(spec.datetime_column), []
    for file in files:
        fragment = _with_partitions(file, fs, partition_expression(spec, file, schema, origin))
        for index, rows, partial in row_groups(file, column, bounds):
            kept.append((fragment.subset(row_group_ids=[index]), rows, partial,
                         chunk_bytes(file, index, set(schema.names))))
    return kept


def footer_bytes(file: OpenedFile) -> int:
    """The bytes of a file's footer: its metadata, its length and the closing magic number."""
    return file.fragment.metadata.serialized_size + 8


def chunk_bytes(file: OpenedFile, index: int, names: set[str]) -> int:
    """The compressed bytes of row group `index`'s column chunks of the columns `names` (dictionary pages
    included): what the scan fetches of it."""
    metadata = file.fragment.metadata
    group = metadata.row_group(index)
    return sum(group.column(j).total_compressed_size for j in range(metadata.num_columns)
               if metadata.schema.column(j).path in names)


def _with_partitions(file: OpenedFile, fs: Any, expression: Any):
    """The file's fragment; made again with its partition values when a spec column comes from its folders
    (rare: that reads the footer a second time)."""
    import pyarrow.dataset as ds

    if expression is None:
        return file.fragment
    return ds.ParquetFileFormat().make_fragment(file.part.path, filesystem=fs, partition_expression=expression)


def _scrubbed(exc: Exception, s3: dict[str, Any] | None) -> Exception:
    """The error with any credential of `s3` replaced by ***, whatever wrote the message."""
    from drift_platform.core.intake.source import SourceError

    secrets = [str(s3[k]) for k in ("access_key", "secret_key") if s3 and s3.get(k)]
    message = str(exc)
    if not secrets or not any(s in message for s in secrets):
        return exc
    for secret in secrets:
        message = message.replace(secret, "***")
    return SourceError(message, retryable=getattr(exc, "retryable", False))
