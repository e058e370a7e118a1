"""Reading one window of a CSV source into Arrow, typed as it streams.

`read_csv_window` returns a `SourceRead` (reads.py) of the rows with start <= datetime < end: pyarrow's streaming
reader (`pyarrow.csv.open_csv`) parses the file block by block into the spec's types (`dataset.arrow_type`; the
columns named by their source names, `spec.source_name`), and each block's rows outside the window are dropped
before the next block is read. A local path or file:// URL is mapped into memory (the OS's page cache) and
streamed from there; http(s) and s3:// are fetched whole first (`source.fetch_bytes`, with its errors). A file
without a quote character up to WHOLE_BYTES is parsed at once by pyarrow's `read_csv` on every core and cut to
the window block by block (its rows held until cut); a larger one of PARALLEL_BYTES or more is cut at newlines
into one part a core, each part streamed by its own reader at the same time (pyarrow's streaming reader uses one
core).

The rows and values are the ones the pandas path gives (`source.load_window`: strings, then the contract):
- Missing values are pandas' (`NA`, `null`, `None`, an empty field, ...), in every column.
- Datetimes, as `contract.parse_datetimes` reads them: ISO 8601 with an offset (converted to `timezone`) or
  without one (taken as local); the spec's `datetime_format`, epoch seconds or milliseconds (converted), or a
  strptime format (read by `parse_datetimes` itself, block by block). The datetime column is naive, in `timezone`.
- int and bool columns are parsed as numbers and must hold whole values below 2**53 (pyarrow's integer parser
  would also take `0x1F` as 31, which pandas refuses). Floats are read correctly rounded, as Python's float()
  reads them; pandas' `to_numeric` is not: on 15-17 significant digits it is a few units in the last place off
  (16% of 1M numpy-written values), and 29 decimals of 1e-28 it reads as 0. There the values differ, the Arrow
  one being exact; on the shipped samples (at most 6 decimals) they are identical.
- The file's row numbers ride along as the pandas index column (`INDEX_COLUMN`, with pandas metadata), so
  `table.to_pandas()` is indexed as `load_window`'s window is and the contract's messages name the same rows.

Wherever the typed read does not apply, the pandas path reads the file instead (`source.window_frame`), so every
error message is the one it gives: a value that does not parse in its type (anywhere in the file, inside the
window or not), mixed naive and offset datetimes, a non-finite number, an empty or HTML or not-UTF-8 or truncated
file, a header with repeated or empty names, a declared column absent. Its conformed frame is then returned as
the table.

pyarrow and pandas are imported inside the functions: the code location may import this module.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drift_platform.core.intake.dataset import DatasetSpec, arrow_type
from drift_platform.core.intake.reads import SourceRead, naive_time

INDEX_COLUMN = "__index_level_0__"  # pandas' name for an index stored as a column
EDGE_BYTES = 1 << 16  # the file's first and last bytes read to check its header and its end
BLOCK_BYTES = 4 << 20  # pyarrow's block: rows are typed and cut to the window this many bytes at a time
PARALLEL_BYTES = 16 << 20  # a file this large (and without quotes) is read in parts at once, one a core
# A file up to this size without quotes is parsed at once by pyarrow's read_csv on every core, then cut to the
# window block by block: its rows are held until cut (at most ~2x its size), against ~1.8x the time when streamed.
WHOLE_BYTES = 256 << 20
MAX_PARTS = 8
EXACT_INT = 1 << 53  # an int read as a float64 is exact below this
_EPOCH_FACTOR = {"epoch_seconds": 1_000_000, "epoch_milliseconds": 1_000}  # to microseconds


class _NotTyped(Exception):
    """The typed read does not apply to this file: the pandas path reads it."""


@dataclass(frozen=True)
class _Plan:
    """How the typed read reads a file: its header, where each spec column is, how each datetime is written."""

    names: list[str]  # the header
    columns: dict[str, str]  # identifier -> its name in the file (the declared columns present)
    times: dict[str, str]  # datetime identifier -> naive | aware | epoch | text
    extra: list[str]  # the file's columns the spec does not declare
    withheld: str | None  # the target, when its values are withheld


def read_csv_window(
    url: str,
    spec: DatasetSpec,
    start: Any,
    end: Any,
    *,
    timezone: str = "UTC",
    s3_client: Callable[[], Any] | None = None,
    whole_file: bool = False,
    withhold_target: bool = False,
) -> SourceRead:
    """The rows of a CSV (a path, file://, http(s) or s3:// URL) with start <= datetime < end, typed (module
    docstring). `whole_file`: every row is kept (a row outside the window is then the contract's error).
    `withhold_target` (labels that arrive late): the target may be absent; its column is left empty.
    `rows` is the rows kept, `bytes_read` the file's size."""
    from drift_platform.core.intake.source import describe_source, fetch_bytes

    start, end = naive_time(start, timezone), naive_time(end, timezone)
    origin, path = describe_source(url), local_path(url)
    data = None if path else fetch_bytes(url, s3_client)
    window = None if whole_file else (start, end)
    try:
        return typed_read(path or data, spec, window, timezone, withhold_target, origin)
    except _NotTyped:
        pass
    except Exception as exc:  # pyarrow's parse or conversion errors, an unreadable file: the pandas path says
        if not _pyarrow_or_os_error(exc):
            raise
    return pandas_read(
        data if data is not None else fetch_bytes(url, s3_client),
        spec,
        start,
        end,
        timezone=timezone,
        whole_file=whole_file,
        withhold_target=withhold_target,
        origin=origin,
    )


def local_path(url: str) -> str | None:
    """The file a path or file:// URL names; None for other schemes."""
    if "://" not in url:
        return url
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.unquote(parts.path) if parts.scheme.lower() == "file" else None


def _pyarrow_or_os_error(exc: Exception) -> bool:
    import pyarrow as pa

    return isinstance(exc, (pa.ArrowException, OSError))


def pandas_read(
    data: bytes,
    spec: DatasetSpec,
    start: Any,
    end: Any,
    *,
    timezone: str,
    whole_file: bool,
    withhold_target: bool,
    origin: str,
) -> SourceRead:
    """The pandas path (`source.parse_csv`, `source.window_frame`): its errors as they are; its frame as a table."""
    import pandas as pd

    from drift_platform.core.intake.source import parse_csv, window_frame

    frame, extra = window_frame(
        parse_csv(data, origin),
        spec,
        pd.Timestamp(start),
        pd.Timestamp(end),
        whole_file=whole_file,
        timezone=timezone,
        withhold_target=withhold_target,
    )
    return SourceRead(frame_table(frame, spec), len(frame), len(data), origin, extra, 1)


def frame_table(frame: Any, spec: DatasetSpec):
    """A conformed frame as an Arrow table of the spec's types, its index as `INDEX_COLUMN`."""
    import pyarrow as pa

    columns = []
    for column, typ in spec.columns.items():
        values = pa.array(frame[column], from_pandas=True)
        target = arrow_type(typ)
        columns.append(values.cast(target) if typ != "datetime" or _exact_cast(values, target) else values)
    columns.append(pa.array(frame.index.to_numpy()))
    return pandas_indexed(pa.table(columns, names=[*spec.columns, INDEX_COLUMN]))


def _exact_cast(values: Any, target: Any) -> bool:
    import pyarrow as pa

    try:
        values.cast(target, safe=True)
    except pa.ArrowInvalid:
        return False
    return True


def pandas_indexed(table: Any):
    """`table` whose INDEX_COLUMN (the file's row numbers) is its pandas index (the schema's pandas metadata)."""
    metadata = {
        "index_columns": [INDEX_COLUMN],
        "column_indexes": [],
        "columns": [
            {
                "name": None,
                "field_name": INDEX_COLUMN,
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            }
        ],
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(metadata).encode()})


# --- the typed read -------------------------------------------------------------------------------------------


def typed_read(
    source: str | bytes,
    spec: DatasetSpec,
    window: tuple[Any, Any] | None,
    timezone: str,
    withhold_target: bool,
    origin: str,
) -> SourceRead:
    """The typed, streamed read (module docstring); raises _NotTyped, or pyarrow's error, where it does not
    apply. `window` None keeps every row. A large file without quotes is read in row-aligned parts at once,
    one a core, each streamed by its own reader (a newline outside quotes always ends a row)."""
    from concurrent.futures import ThreadPoolExecutor

    data = source if isinstance(source, bytes) else mapped(source)
    plan = read_plan(data[:EDGE_BYTES], data[-EDGE_BYTES:], len(data), spec, withhold_target)
    whole = len(data) <= WHOLE_BYTES and data.find(b'"') < 0
    parts = [(0, len(data))] if whole else row_parts(data)

    def read(bounds: tuple[int, int]):
        return read_part(data, bounds, plan, spec, window, timezone, whole)

    if len(parts) == 1:
        done = [read(parts[0])]
    else:
        with ThreadPoolExecutor(len(parts)) as pool:
            done = list(pool.map(read, parts))
    table = numbered(done)
    return SourceRead(table, table.num_rows, len(data), origin, plan.extra, 1)


def mapped(path: str):
    """A local file's bytes, mapped (the pages are the OS's cache, not this process's memory)."""
    import mmap

    with open(path, "rb") as file:
        try:
            return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            raise _NotTyped("an empty file") from None


def row_parts(data: Any) -> list[tuple[int, int]]:
    """Byte ranges of whole rows that split `data` into one part a core, each starting after a newline; the
    whole when the file is smaller than PARALLEL_BYTES or holds a quote (a quoted field may span lines)."""
    size, parts = len(data), min(os.cpu_count() or 1, MAX_PARTS)
    if size < PARALLEL_BYTES or parts < 2 or data.find(b'"') >= 0:
        return [(0, size)]
    cuts = [0]
    for part in range(1, parts):
        cut = data.find(b"\n", max(cuts[-1], size * part // parts)) + 1
        if cut <= cuts[-1] or cut >= size:
            break
        cuts.append(cut)
    return list(zip(cuts, [*cuts[1:], size], strict=True))


def read_part(
    data: Any,
    bounds: tuple[int, int],
    plan: _Plan,
    spec: DatasetSpec,
    window: tuple[Any, Any] | None,
    timezone: str,
    whole: bool = False,
) -> tuple[Any, int]:
    """One part's rows in the window (their row numbers counted from the part's first row), and its row count.
    `whole`: the part is parsed at once (WHOLE_BYTES), then cut block by block as a stream would be."""
    import numpy as np
    import pyarrow as pa

    start, end = bounds
    reader = open_reader(pa.py_buffer(data).slice(start, end - start), plan, spec, header=start == 0, whole=whole)
    if reader.schema.names != plan.names:
        raise _NotTyped("the header reads otherwise")
    pieces, offset = [], 0
    for batch in reader.to_batches() if whole else reader:
        rows = pa.array(np.arange(offset, offset + batch.num_rows, dtype=np.int64))
        offset += batch.num_rows
        pieces.append(window_piece(batch, rows, plan, spec, window, timezone))
    if not pieces:  # no row: the columns as a block would have them
        empty = pa.RecordBatch.from_pylist([], schema=reader.schema)
        pieces.append(window_piece(empty, pa.array([], pa.int64()), plan, spec, window, timezone))
    return finish_types(pa.Table.from_batches(pieces), plan, spec), offset


def numbered(done: list[tuple[Any, int]]):
    """The parts' rows as one table, each numbered by its row in the file (the table's pandas index)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tables, offset = [], 0
    for table, rows in done:
        if offset:
            index = table.schema.get_field_index(INDEX_COLUMN)
            table = table.set_column(index, INDEX_COLUMN, pc.add(table.column(INDEX_COLUMN), offset))
        tables.append(table)
        offset += rows
    return pandas_indexed(tables[0] if len(tables) == 1 else pa.concat_tables(tables))


def read_plan(head: bytes, tail: bytes, size: int, spec: DatasetSpec, withhold_target: bool) -> _Plan:
    """The header and first rows read from the file's first bytes, checked as `source.parse_csv` would (a doubt:
    _NotTyped); each datetime column's kind from its first value there."""
    import pandas as pd

    from drift_platform.core.intake.contract import extra_columns

    check_edges(head, tail, size)
    whole_lines = head if len(head) == size else head[: head.rfind(b"\n") + 1]
    try:
        names, *rows = csv.reader(io.StringIO(whole_lines.decode(), newline=""))
    except (UnicodeDecodeError, csv.Error, ValueError):
        raise _NotTyped("no header within the bytes read, or not CSV") from None
    if len(set(names)) != len(names) or not all(names):
        raise _NotTyped("repeated or empty column names")
    withheld = spec.target if withhold_target else None
    columns = {}
    for column in spec.columns:
        found = [name for name in dict.fromkeys([spec.source_name(column), column]) if name in names]
        if len(found) != 1 and not (not found and column == withheld):
            raise _NotTyped(f"column {column!r} absent or present twice")
        if found:
            columns[column] = found[0]
    times = {
        column: time_kind(spec, first_value(rows, names.index(name)))
        for column, name in columns.items()
        if spec.columns[column] == "datetime" and column != withheld
    }
    return _Plan(names, columns, times, extra_columns(pd.DataFrame(columns=names), spec), withheld)


def first_value(rows: list[list[str]], position: int) -> str | None:
    """The first value of a column that is not missing (pandas' missing values), in the rows given."""
    from pandas._libs.parsers import STR_NA_VALUES

    return next(
        (row[position] for row in rows if len(row) > position and row[position] not in STR_NA_VALUES), None
    )


def check_edges(head: bytes, tail: bytes, size: int) -> None:
    """What `source.parse_csv` refuses (an empty file, an HTML page, a truncated last line) or reads otherwise
    than pyarrow (a byte-order mark) leaves the typed read."""
    if head.startswith(codecs.BOM_UTF8) or not head.strip():
        raise _NotTyped("empty, or a byte-order mark")
    if head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        raise _NotTyped("an HTML page")
    if not tail.endswith(b"\n"):
        last, header = tail.rsplit(b"\n", 1)[-1], head.split(b"\n", 1)[0]
        if (b"\n" not in tail and len(tail) < size) or last.count(b",") != header.count(b","):
            raise _NotTyped("the last line may be truncated")


def time_kind(spec: DatasetSpec, first: str | None) -> str:
    """How a datetime column is read: `aware` (ISO 8601 with offsets, as its first value is written), `naive`,
    `epoch` (numbers) or `text` (a strptime format, read by contract.parse_datetimes)."""
    from drift_platform.core.intake.contract import _OFFSET, EPOCH_UNITS

    if spec.datetime_format in EPOCH_UNITS:
        return "epoch"
    if spec.datetime_format:
        return "text"
    return "aware" if first and re.search(_OFFSET, first[10:]) else "naive"  # after the date's own dashes


def open_reader(source: Any, plan: _Plan, spec: DatasetSpec, header: bool = True, whole: bool = False):
    """pyarrow's streaming reader (`whole`: the table `read_csv` parses on every core, from a file without
    quotes): the declared columns typed (ints as float64, checked whole later), the others and a withheld target
    as text (UTF-8 checked, as pandas decodes the whole file); pandas' missing values."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    from pandas._libs.parsers import STR_NA_VALUES

    read_as = {"int": pa.float64(), "bool": pa.float64(), "float": pa.float64(), "str": pa.string()}
    time_as = {
        "aware": pa.timestamp("us", tz="UTC"),
        "naive": pa.timestamp("us"),
        "epoch": pa.float64(),
        "text": pa.string(),
    }
    types = dict.fromkeys(plan.names, pa.string())
    for column, name in plan.columns.items():
        typ = spec.columns[column]
        if column != plan.withheld:
            types[name] = time_as[plan.times[column]] if typ == "datetime" else read_as[typ]
    convert = pa_csv.ConvertOptions(
        column_types=types,
        null_values=sorted(STR_NA_VALUES),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    names = None if header else plan.names  # a part after the first starts with a row, not the header
    return (pa_csv.read_csv if whole else pa_csv.open_csv)(
        pa.BufferReader(source),
        read_options=pa_csv.ReadOptions(block_size=BLOCK_BYTES, column_names=names),
        parse_options=pa_csv.ParseOptions(newlines_in_values=not whole),  # whole: no quote, so no newline in a value
        convert_options=convert,
    )


def window_piece(
    batch: Any, rows: Any, plan: _Plan, spec: DatasetSpec, window: tuple[Any, Any] | None, timezone: str
):
    """One block's declared columns under their identifiers (datetimes naive in `timezone`) and its row numbers,
    cut to the window (a block wholly inside it is kept as it is)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = [
        local_times(batch.column(name), plan.times[column], spec, timezone)
        if column in plan.times
        else batch.column(name)
        for column, name in plan.columns.items()
    ]
    piece = pa.RecordBatch.from_arrays([*arrays, rows], names=[*plan.columns, INDEX_COLUMN])
    if window is None:
        return piece
    when = piece.column(spec.datetime_column)
    low, high = (pa.scalar(bound, type=when.type) for bound in window)
    bounds = pc.min_max(when)
    if (
        when.null_count == 0
        and pc.greater_equal(bounds["min"], low).as_py()
        and pc.less(bounds["max"], high).as_py()
    ):
        return piece
    return piece.filter(pc.and_(pc.greater_equal(when, low), pc.less(when, high)))


def local_times(values: Any, kind: str, spec: DatasetSpec, timezone: str):
    """A block's datetimes as `contract.parse_datetimes` reads them: naive timestamp[us] in `timezone`, within
    the range pandas holds (datetime64[ns]), else _NotTyped."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from drift_platform.core.intake.parquet import naive_local

    if kind == "epoch":
        whole = exact_ints(values)
        values = pc.multiply_checked(whole, _EPOCH_FACTOR[spec.datetime_format]).cast(
            pa.timestamp("us", tz="UTC")
        )
    elif kind == "text":
        values = parsed_text(values, spec, timezone)
    if values.type.tz is not None:  # UTC's wall clock is the instant itself: a cast, not a conversion
        values = values.cast(pa.timestamp("us")) if timezone == "UTC" else naive_local(values, timezone)
    bounds = pc.min_max(values)
    low, high = bounds["min"], bounds["max"]
    if low.is_valid and (low.value < _PANDAS_RANGE[0] or high.value > _PANDAS_RANGE[1]):
        raise _NotTyped("a datetime outside pandas' range")
    return values


_PANDAS_RANGE = (-9_223_372_036_854_775, 9_223_372_036_854_775)  # datetime64[ns]'s range, in microseconds


def parsed_text(values: Any, spec: DatasetSpec, timezone: str):
    """Datetimes in a strptime format, read by `contract.parse_datetimes` (an unreadable one: _NotTyped)."""
    import pandas as pd
    import pyarrow as pa

    from drift_platform.core.intake.contract import parse_datetimes

    text = pd.Series(values.to_pandas(), dtype=object)
    parsed = parse_datetimes(text, spec.datetime_format, timezone)
    if (parsed.isna() & text.notna()).any():
        raise _NotTyped("an unparseable datetime")
    try:
        return pa.array(parsed, type=pa.timestamp("ns")).cast(pa.timestamp("us"))
    except pa.ArrowInvalid:
        raise _NotTyped("a datetime finer than microseconds") from None


def exact_ints(values: Any):
    """Numbers read as float64 as int64: whole (a safe cast refuses fractions, NaN and infinities) and below 2**53
    (where every float64 is exact), else _NotTyped."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        whole = values.cast(pa.int64(), safe=True)
    except pa.ArrowInvalid:
        raise _NotTyped("a fractional or non-finite value in an int column") from None
    bounds = pc.min_max(whole)
    if bounds["min"].is_valid and not -EXACT_INT < bounds["min"].as_py() <= bounds["max"].as_py() < EXACT_INT:
        raise _NotTyped("an int beyond 2**53")
    return whole


def finish_types(table: Any, plan: _Plan, spec: DatasetSpec):
    """A part's columns in the spec's types and order, and its row numbers: ints from their float64 (whole,
    exact); floats finite (pyarrow reads `NAN` and `1e400`, which pandas refuses, as NaN and inf: the pandas path
    decides); a withheld target empty."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns, names = [], []
    for column, typ in spec.columns.items():
        target = arrow_type(typ)
        if column == plan.withheld:
            values = pa.nulls(table.num_rows, target)
        elif column not in plan.columns:
            continue
        else:
            values = table.column(column)
        if column != plan.withheld and typ in ("int", "bool"):
            values = exact_ints(values)
        elif column != plan.withheld and typ == "float" and pc.all(pc.is_finite(values)).as_py() is False:
            raise _NotTyped("a number that is not finite")
        columns.append(values)
        names.append(column)
    return pa.table([*columns, table.column(INDEX_COLUMN)], names=[*names, INDEX_COLUMN])
