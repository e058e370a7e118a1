"""Reading one period of a SQL table or query into Arrow: PostgreSQL through psycopg 3's COPY, SQLite through
SQLAlchemy and its DB-API driver.

`read_sql_window(url, spec, start, end, table=... or query=...)` returns a `SourceRead` (reads.py):

- `table`: `SELECT <the spec's columns, by their source names> FROM table WHERE datetime >= :start AND
  datetime < :end ORDER BY datetime`, run in the database. `schema.table` names a schema.
- `query`: a SELECT with `:start` and `:end` placeholders (both required, no others), e.g.
  `SELECT * FROM events WHERE ts >= :start AND ts < :end`. It is wrapped as a subquery so that only the spec's
  columns travel; its rows are the query's (its own WHERE places them in the window).
- The placeholders are bound as parameters, never formatted into the text by this module. SQLite binds them in
  the driver. PostgreSQL's `COPY (query) TO STDOUT` takes no bind parameters: there they are bound client-side
  by psycopg's literal escaping (`ClientCursor.mogrify`, the escaping `sql.Literal` uses; as warehouse.py's
  `_copy_out` binds its bounds), and the column probe before it binds them server-side.
- Times: start and end are naive, in the monitor's `timezone` (as the CSV path's `contract.read_times`). On
  PostgreSQL the transaction's TimeZone is set to it: a `timestamptz` column is compared in it and read as its
  local time (CAST to timestamp), a `timestamp` column is taken as already local, a `date` as its midnight.
  On SQLite a datetime is ISO 8601 text (as SQLAlchemy writes it); text with an offset is converted to the
  timezone. The WHERE on the text is widened to whole days (so '2011-01-31' and '2011-01-31 00:00:00.000000'
  both count), the exact window is then cut on the parsed times.
- `bytes_read`: PostgreSQL, the bytes of COPY's CSV received; SQLite (no wire), the Arrow size of the values
  fetched, before the casts.
- Errors are `SourceError`s naming the table or the query and the column; `retryable=True` only for what may
  pass (a database down or refusing connections, a lock, a serialization failure). The URL is shown without
  user, password or query string, and the password is scrubbed from every message. The server's own words
  follow (PostgreSQL's message, detail and hint, without the excerpt of this module's statement).

Why CSV COPY: pyarrow parses COPY's CSV in its C++ threads while psycopg receives the next rows (a streamed file
object, no spool). Binary COPY has no Arrow parser in the lock: psycopg turns it into Python tuples, 3x slower
(1M rows x 14 columns, 223 MB of CSV, 2-core machine, 2026-12-03: COPY (query) TO STDOUT alone 1.27-1.32 s
through psycopg, 1.43 s through psql; this reader 1.34-1.51 s; binary COPY to tuples to Arrow 4.1-4.3 s; the
ADBC PostgreSQL driver, not in the lock, 0.66-0.68 s).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drift_platform.core.intake.dataset import DatasetSpec, arrow_type
from drift_platform.core.intake.reads import SourceRead, naive_time
from drift_platform.core.intake.source import SourceError

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlalchemy as sa

QUERY_ALIAS = "_drift_source"
CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_TIMEOUT_S = 30
COPY_READ_BLOCK = 2 << 20  # bytes pyarrow asks for at a time (1, 2, 4 MB measured: 2 was best)
# PostgreSQL type OIDs -> the Arrow type pyarrow reads COPY's CSV text as; any other type is read as text and
# cast to the spec's type (numeric included: its text converts exactly).
_PG_ARROW = {16: "bool", 20: "int64", 21: "int64", 23: "int64", 700: "float64", 701: "float64",
             1114: "timestamp[us]"}
_PG_TIMESTAMPTZ, _PG_DATE = 1184, 1082
# SQLSTATE classes of failures that may pass: connection exceptions, insufficient resources, operator
# intervention (shutdown, cannot connect now), serialization failures and deadlocks.
_RETRYABLE_STATES = ("08", "53", "57P", "40001", "40P01")


@dataclass(frozen=True)
class _Source:
    """A table (`parts`: [schema,] name) or a query (`query`), and how messages name it."""

    what: str
    parts: tuple[str, ...] = ()
    query: str = ""

    def relation(self) -> str:
        """The FROM clause's relation, as sa.text takes it (colons in names escaped)."""
        if self.query:
            return f"({self.query}) AS {QUERY_ALIAS}"
        return ".".join(_quoted(part) for part in self.parts)

    def lacks(self) -> str:
        return f"{self.what} returns no" if self.query else f"{self.what} has no"


def read_sql_window(
    url: str, spec: DatasetSpec, start: Any, end: Any, *, table: str | None = None, query: str | None = None,
    timezone: str = "UTC", optional: Collection[str] = (),
) -> SourceRead:
    """The rows of the table (or query) with start <= datetime < end, as a `SourceRead`: the spec's columns under
    their identifiers, cast to the spec's Arrow types where the cast is exact. Every declared column must be
    present (a source name or the identifier), bar those in `optional` (e.g. a target whose labels arrive
    late); the source's other columns are left in the database and listed in `extra_columns`."""

    source = _source(table, query)
    address = _url(url)
    origin = f"{_redacted(address)} {source.what}"
    bounds = {"start": naive_time(start, timezone), "end": naive_time(end, timezone)}
    engine = _engine(address)
    try:
        with engine.connect() as conn:
            read = _read_postgresql if conn.dialect.name == "postgresql" else _read_sqlite
            columns, received, extras = read(conn, source, spec, bounds, timezone, optional)
    except _driver_errors(address) as exc:
        raise _database_error(getattr(exc, "orig", None) or exc, source, address) from None
    finally:
        engine.dispose()
    typed = _typed(columns, spec, source)
    return SourceRead(table=typed, rows=typed.num_rows, bytes_read=received, origin=origin, extra_columns=extras)


def _source(table: str | None, query: str | None) -> _Source:
    """Exactly one of `table` and `query`; a query uses both placeholders and no other."""
    import sqlalchemy as sa

    if (table is None) == (query is None):
        raise SourceError("a SQL source names either `table` or `query` (with :start and :end placeholders), "
                          f"got {'both' if table is not None else 'neither'}")
    if table is not None:
        parts = tuple(table.split(".", 1))
        if not all(part.strip() for part in parts):
            raise SourceError(f"SQL source table {table!r} is not a table name (name or schema.name)")
        return _Source(what=f"table {table!r}", parts=parts)
    body = query.strip().rstrip(";").rstrip()
    placeholders = set(sa.text(body).compile().params)
    missing = [f":{name}" for name in ("start", "end") if name not in placeholders]
    unknown = sorted(f":{name}" for name in placeholders - {"start", "end"})
    if missing or unknown:
        problem = f"lacks {' and '.join(missing)}" if missing else f"has unknown placeholder(s) {', '.join(unknown)}"
        raise SourceError(f"the SQL source query {problem}: it must select the period with :start and :end "
                          "(bound as parameters), e.g. WHERE ts >= :start AND ts < :end")
    return _Source(what="the query", query=body)


def _url(url: str) -> sa.URL:
    """The URL parsed by SQLAlchemy; PostgreSQL through psycopg 3 whatever driver it names (as warehouse.py)."""
    import sqlalchemy as sa

    try:
        address = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise SourceError(f"SQL source URL {_redacted_text(url)!r} is not a SQLAlchemy URL (e.g. "
                          "sqlite:///path/to.db or postgresql://host/db)") from None
    backend = address.get_backend_name()
    if backend == "postgresql":
        return address.set(drivername="postgresql+psycopg")
    if backend != "sqlite":
        raise SourceError(f"SQL source {_redacted(address)}: backend {backend!r} is not supported; use "
                          "postgresql:// or sqlite:///")
    if address.database and address.database != ":memory:" and not address.database.startswith("file:"):
        from pathlib import Path

        if not Path(address.database).is_file():
            raise SourceError(f"SQL source {_redacted(address)}: SQLite database file {address.database} does not "
                              "exist")
    return address


def _engine(address: sa.URL) -> sa.Engine:
    import sqlalchemy as sa

    if address.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S}
    else:
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    return sa.create_engine(address, poolclass=sa.pool.NullPool, connect_args=connect_args)


def _driver_errors(address: sa.URL) -> tuple[type[BaseException], ...]:
    """SQLAlchemy's wrapped DB-API errors, and psycopg's own (raised by the raw cursor's COPY)."""
    import sqlalchemy as sa

    if address.get_backend_name() != "postgresql":
        return (sa.exc.DBAPIError,)
    import psycopg

    return (sa.exc.DBAPIError, psycopg.Error)


def _redacted(address: sa.URL) -> str:
    """The URL without user, password and query string (which may carry credentials)."""
    import sqlalchemy as sa

    plain = sa.URL.create(address.drivername, host=address.host, port=address.port, database=address.database)
    return plain.render_as_string(hide_password=True)


def _redacted_text(url: str) -> str:
    """A URL SQLAlchemy could not parse, shown up to its scheme and host at most."""
    scheme, _, rest = url.partition("://")
    if not rest:
        return "<not a URL>"
    host = rest.rsplit("@", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    return f"{scheme}://{host}/..."


def _quoted(name: str) -> str:
    """A name double-quoted (SQL's quoting, PostgreSQL's and SQLite's), as sa.text takes it: a colon escaped (it
    would start a placeholder); a % left alone (sa.text doubles it for psycopg, which undoes it)."""
    quoted = '"' + name.replace('"', '""') + '"'
    return quoted.replace(":", "\\:")


def _database_error(exc: BaseException, source: _Source, address: sa.URL) -> SourceError:
    """A driver's error as a SourceError naming the table or query, retryable when it may pass; no credential."""
    text = _driver_text(exc)
    state = getattr(exc, "sqlstate", None) or ""
    psycopg = type(exc).__module__.startswith("psycopg")
    if psycopg and not state and type(exc).__name__ == "OperationalError":  # no server answered
        message, retryable = f"database {_redacted(address)} is unreachable: {text}", True
    elif state.startswith(_RETRYABLE_STATES) or any(w in text for w in ("database is locked", "database is busy")):
        message, retryable = f"database {_redacted(address)} is unavailable for {source.what}: {text}", True
    elif state == "42P01" or text.startswith("no such table"):
        message, retryable = f"{source.what} does not exist in {_redacted(address)}: {text}", False
    else:
        message, retryable = f"{_redacted(address)} {source.what}: {text}", False
    return SourceError(_scrubbed(message, address), retryable=retryable)


def _driver_text(exc: BaseException) -> str:
    """The driver's message on one line. PostgreSQL's without the excerpt of the statement and the caret it
    adds (`LINE 1: SELECT * FROM ... LIMIT 0`: this module's statement, not the user's), its detail and hint kept."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        notes = [f"{label}: {note}" for label, note in (("detail", diag.message_detail), ("hint", diag.message_hint))
                 if note]
        return "; ".join([primary, *notes])
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def _scrubbed(message: str, address: sa.URL) -> str:
    """The message with the URL's password (as written and URL-encoded) replaced by ***."""
    import urllib.parse

    password = address.password
    if password:
        for form in {str(password), urllib.parse.quote_plus(str(password)), urllib.parse.quote(str(password))}:
            message = message.replace(form, "***")
    return message


def _probe(conn: sa.Connection, source: _Source, params: dict[str, Any]) -> list[tuple[str, Any]]:
    """The source's columns (name, driver type code) from a query that returns no rows."""
    import sqlalchemy as sa

    statement = sa.text(f"SELECT * FROM {source.relation()} LIMIT 0")
    result = conn.execute(statement, params if source.query else {})
    described = [(str(d[0]), d[1]) for d in result.cursor.description]
    result.close()
    return described


def _columns(spec: DatasetSpec, names: list[str], source: _Source,
             optional: Collection[str]) -> tuple[dict[str, str], list[str]]:
    """identifier -> name in the source of the spec's columns present, and the undeclared columns; a missing
    datetime column, a missing required column or a repeated name is an error."""
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SourceError(f"{source.what} returns column(s) {repeated} more than once")
    present = {}
    for column in spec.columns:
        for name in (spec.source_name(column), column):
            if name in names:
                present[column] = name
                break
    if spec.datetime_column not in present:
        raise SourceError(f"{source.lacks()} datetime column {spec.described(spec.datetime_column)} (the dataset "
                          f"spec {spec.name!r} places rows in time by it); its columns: {names}")
    missing = [spec.described(c) for c in spec.columns if c not in present and c not in optional]
    if missing:
        raise SourceError(f"{source.lacks()} column(s) [{', '.join(missing)}]; the dataset spec {spec.name!r} "
                          "declares them")
    known = {spec.source_name(c) for c in spec.columns} | set(spec.columns)
    return present, [name for name in names if name not in known]


def _select(source: _Source, spec: DatasetSpec, present: dict[str, str], exprs: list[str]) -> str:
    """The SELECT of the spec's columns (sa.text with :start and :end); a table's filtered and ordered by time."""
    statement = f"SELECT {', '.join(exprs)} FROM {source.relation()}"
    if source.parts:
        when = _quoted(present[spec.datetime_column])
        statement += f" WHERE {when} >= :start AND {when} < :end ORDER BY {when}"
    return statement


def _read_postgresql(conn: sa.Connection, source: _Source, spec: DatasetSpec, bounds: dict[str, dt.datetime],
                     timezone: str, optional: Collection[str]) -> tuple[dict[str, Any], int, list[str]]:
    """The window through `COPY (SELECT ...) TO STDOUT` as CSV, parsed by pyarrow with the columns' types."""
    import sqlalchemy as sa

    # In this transaction only: times in the monitor's timezone, exact floats, ISO dates.
    conn.execute(sa.text("SELECT set_config('TimeZone', :tz, true), set_config('extra_float_digits', '3', true), "
                         "set_config('DateStyle', 'ISO, YMD', true)"), {"tz": timezone})
    probed = _probe(conn, source, bounds)
    present, extras = _columns(spec, [name for name, _ in probed], source, optional)
    described = dict(probed)
    exprs, types = [], []
    for column, name in present.items():
        oid, expr = described[name], _quoted(name)
        if spec.columns[column] == "datetime" and oid in (_PG_TIMESTAMPTZ, _PG_DATE):
            oid, expr = 1114, f"CAST({expr} AS timestamp)"  # local time in the transaction's TimeZone
        exprs.append(expr)
        types.append(_PG_ARROW.get(oid, "string"))
    statement = _bound_copy(conn, _select(source, spec, present, exprs), bounds)
    table, received = _copy_to_arrow(conn, statement, list(present), types, source)
    return {column: table.column(column) for column in present}, received, extras


def _bound_copy(conn: sa.Connection, select: str, bounds: dict[str, dt.datetime]) -> str:
    """COPY (select) TO STDOUT as CSV, :start and :end bound client-side by psycopg's literal escaping (COPY takes
    no bind parameters): SQLAlchemy compiles the placeholders to %(start)s (doubling any literal %), psycopg's
    ClientCursor.mogrify merges the escaped values."""
    import psycopg
    import sqlalchemy as sa

    compiled = str(sa.text(select).compile(dialect=conn.dialect))
    with psycopg.ClientCursor(conn.connection.driver_connection) as cursor:
        bound = cursor.mogrify(compiled, bounds)
    return f"COPY ({bound}) TO STDOUT WITH (FORMAT csv)"


class _CopyStream:
    """COPY's data as a file pyarrow reads (and parses in its threads) while the next rows arrive. psycopg yields
    one row per message, in a buffer it reuses: `read(n)` copies rows into one block of up to n bytes. Counts the
    bytes, and keeps a driver error to re-raise it as it is once pyarrow has stopped reading."""

    closed = False

    def __init__(self, copy: Any) -> None:
        self._rows = iter(copy)
        self._held = bytearray()
        self.received = 0
        self.error: BaseException | None = None

    def empty(self) -> bool:
        """Whether the COPY sent nothing (pyarrow refuses an empty CSV); the first rows stay for `read`."""
        self._fill(COPY_READ_BLOCK)
        return not self._held and self.error is None

    def _fill(self, size: int) -> None:
        held = self._held
        while size < 0 or len(held) < size:
            try:
                row = next(self._rows, None)
            except Exception as exc:  # the driver's error: pyarrow would wrap it
                self.error, row = exc, None
            if row is None:
                return
            held += row
            self.received += len(row)

    def read(self, size: int = -1) -> bytes:
        self._fill(size)
        if 0 <= size < len(self._held):
            data = bytes(self._held[:size])
            del self._held[:size]
        else:
            data, self._held = bytes(self._held), bytearray()
        return data


def _copy_to_arrow(conn: sa.Connection, statement: str, names: list[str], types: list[str],
                   source: _Source) -> tuple[pa.Table, int]:
    """The COPY's CSV parsed by pyarrow as it arrives: NULL is an unquoted empty field, '' a quoted one."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    schema = pa.schema([(name, pa.type_for_alias(typ)) for name, typ in zip(names, types, strict=True)])
    read_options = pa_csv.ReadOptions(column_names=names, block_size=COPY_READ_BLOCK)
    convert_options = pa_csv.ConvertOptions(column_types=schema, null_values=[""], strings_can_be_null=True,
                                            quoted_strings_can_be_null=False, true_values=["t"], false_values=["f"])
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        stream = _CopyStream(copy)
        if stream.empty():
            return schema.empty_table(), stream.received
        try:
            table = pa_csv.read_csv(stream, read_options=read_options, convert_options=convert_options,
                                    parse_options=pa_csv.ParseOptions(newlines_in_values=True))
        except pa.ArrowInvalid as exc:
            if stream.error is None:
                raise SourceError(f"{source.what}: a value does not read as its column's type: {exc} (columns in "
                                  f"order: {names})") from None
        if stream.error is not None:
            raise stream.error
    return table, stream.received


def _read_sqlite(conn: sa.Connection, source: _Source, spec: DatasetSpec, bounds: dict[str, dt.datetime],
                 timezone: str, optional: Collection[str]) -> tuple[dict[str, Any], int, list[str]]:
    """The window through SQLAlchemy's DB-API cursor: a query's rows, or a table's rows of the days around the
    window (a WHERE on ISO text) cut to the exact window once the times are read."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import sqlalchemy as sa

    params = {key: value.isoformat(sep=" ") for key, value in bounds.items()}
    present, extras = _columns(spec, [name for name, _ in _probe(conn, source, params)], source, optional)
    if source.parts:  # whole days, a day wider each side: any ISO spelling and offset of a time in the window
        days = {"start": bounds["start"] - dt.timedelta(days=1), "end": bounds["end"] + dt.timedelta(days=2)}
        params = {key: value.date().isoformat() for key, value in days.items()}
    statement = _select(source, spec, present, [_quoted(n) for n in present.values()])
    rows = conn.execute(sa.text(statement), params).fetchall()
    values = list(zip(*rows, strict=True)) if rows else [()] * len(present)
    columns = {column: _sqlite_array(column, vals, spec, source) for column, vals in zip(present, values, strict=True)}
    received = sum(array.nbytes for array in columns.values())
    for column in present:
        if spec.columns[column] == "datetime":
            columns[column] = _sqlite_times(columns[column], column, spec, source, timezone)
    if source.parts:
        when = columns[spec.datetime_column]
        inside = pc.and_(pc.greater_equal(when, pa.scalar(bounds["start"], when.type)),
                         pc.less(when, pa.scalar(bounds["end"], when.type)))
        columns = {column: array.filter(inside) for column, array in columns.items()}
    return columns, received, extras


def _sqlite_array(column: str, values: tuple, spec: DatasetSpec, source: _Source) -> pa.Array:
    """A column's fetched values as Arrow, its type inferred (SQLite's types are the values')."""
    import pyarrow as pa

    try:
        return pa.array(values) if values else pa.array([], type=pa.null())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        kinds = sorted({type(v).__name__ for v in values if v is not None})
        raise SourceError(f"{source.what}: column {spec.described(column)} mixes values of types {kinds}; the spec "
                          f"declares it {spec.columns[column]}") from None


def _sqlite_times(array: pa.Array, column: str, spec: DatasetSpec, source: _Source, timezone: str) -> pa.Array:
    """ISO 8601 text as naive timestamps in `timezone`: pyarrow's parser, or the CSV path's (`parse_datetimes`)
    when some values carry an offset."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_null(array.type):
        return array.cast(pa.timestamp("us"))
    if not pa.types.is_string(array.type):
        raise SourceError(f"{source.what}: datetime column {spec.described(column)} holds {array.type} values; "
                          "SQLite datetimes are read as ISO 8601 text")
    try:
        return pc.cast(array, pa.timestamp("us"))
    except pa.ArrowInvalid:
        pass
    import pandas as pd

    from drift_platform.core.intake.contract import parse_datetimes

    text = pd.Series(array.to_pandas(), dtype=object)
    parsed = parse_datetimes(text, None, timezone)
    bad = text[parsed.isna() & text.notna()]
    if len(bad):
        raise SourceError(f"{source.what}: datetime column {spec.described(column)} has {len(bad)} value(s) that "
                          f"are not ISO 8601, e.g. {bad.head(3).tolist()}")
    return pa.array(parsed, type=pa.timestamp("us"))


def _typed(columns: dict[str, Any], spec: DatasetSpec, source: _Source) -> pa.Table:
    """The columns cast to the spec's Arrow types, refusing a cast that would change a value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = {}
    for column, array in columns.items():
        target = arrow_type(spec.columns[column])
        try:
            arrays[column] = array if array.type == target else pc.cast(array, target, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SourceError(f"{source.what}: column {spec.described(column)} holds {array.type} values that do not "
                              f"convert exactly to the spec's {spec.columns[column]} ({target}): {exc}") from None
    return pa.table(arrays)
