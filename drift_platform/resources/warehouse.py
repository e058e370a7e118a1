"""The warehouse: every monitor's tables (`<monitor>_reference`, `<monitor>_history`, `<monitor>_predictions`, and
for labels that arrive late the ledger `<monitor>_labels`), reached through one SQLAlchemy URL.

SQLite file by default, PostgreSQL in production (`postgresql://...`, through psycopg 3 whatever driver the URL
names). Tables are typed from a `TableLayout` (a dataset spec's columns and types,
drift_platform/core/intake/dataset.py) with a primary key on the time column, so a duplicate row is impossible,
not just unlikely.
Replacing a window (delete + insert) is one transaction; so is landing labels (append to the ledger, update the
target by key in the history and the predictions: `append_and_update`). On PostgreSQL rows go in with psycopg 3's
`cursor.copy()` (`COPY ... FROM STDIN`), as CSV made by pyarrow a slice of rows at a time while the server parses
the previous ones, and come back with `COPY (SELECT ...) TO STDOUT` parsed by pyarrow (1M rows: ~2 s instead of
~9 s with `read_sql`).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field, PrivateAttr

from drift_platform.core.intake.dataset import (
    TableLayout,
    arrow_type,
    pandas_dtype,
    sql_type,
    validate_identifier,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import pandas as pd
    import sqlalchemy as sa

    Window = tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]


class WarehouseResource(dg.ConfigurableResource):
    """A SQL warehouse holding every monitor's tables."""

    url: str = Field(description="SQLAlchemy URL, e.g. sqlite:////path/warehouse.db or postgresql+psycopg2://...")
    db_schema: str | None = Field(default=None, description="Schema of the tables (PostgreSQL); None = default")

    _engine: sa.Engine | None = PrivateAttr(default=None)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            import sqlalchemy as sa

            if self.db_schema is not None:
                validate_identifier(self.db_schema, "schema")
            url = sa.make_url(self.url)
            if url.get_backend_name() == "postgresql":
                # psycopg 3 whatever driver the URL names (postgresql://, +psycopg2, +psycopg): its cursor.copy()
                # streams COPY without a thread of ours. URLs written for psycopg2 keep working.
                url = url.set(drivername="postgresql+psycopg")
            if url.get_backend_name() == "sqlite" and url.database:
                from pathlib import Path

                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            # SQLite: a second writer waits for the first (up to 60 s) instead of failing at once; pooled
            # connections may be closed from another thread than the one that opened them.
            connect_args = {"timeout": 60, "check_same_thread": False} if url.get_backend_name() == "sqlite" else {}
            self._engine = sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
        return self._engine

    def describe(self) -> str:
        """The URL without its password, for metadata and logs."""
        return self.engine.url.render_as_string(hide_password=True)

    def _table(self, name: str, layout: TableLayout) -> sa.Table:
        import sqlalchemy as sa

        validate_identifier(name, "table")
        key = layout.key
        columns = [
            sa.Column(col, sql_type(typ), primary_key=(col in key), nullable=(col not in key))
            for col, typ in layout.columns.items()
        ]
        return sa.Table(name, sa.MetaData(schema=self.db_schema), *columns)

    def table_exists(self, name: str) -> bool:
        import sqlalchemy as sa

        validate_identifier(name, "table")
        return sa.inspect(self.engine).has_table(name, schema=self.db_schema)

    def read(
        self, name: str, layout: TableLayout, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
    ) -> pd.DataFrame:
        """Rows of a table, optionally in [start, end), ordered by time, with the layout's types."""
        import sqlalchemy as sa

        table = self._table(name, layout)
        when = table.c[layout.time_column]
        query = sa.select(table).order_by(*(table.c[c] for c in _order(layout)))
        if start is not None:
            query = query.where(when >= _py(start))
        if end is not None:
            query = query.where(when < _py(end))
        import pandas as pd

        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                frame = _copy_out(conn, table, layout, start, end)
            else:
                frame = pd.read_sql_query(query, conn)
        return _typed(frame, layout)

    def stats(self, name: str, layout: TableLayout) -> dict[str, object]:
        import sqlalchemy as sa

        table = self._table(name, layout)
        when = table.c[layout.time_column]
        with self.engine.connect() as conn:
            rows, first, last = conn.execute(sa.select(sa.func.count(), sa.func.min(when), sa.func.max(when))).one()
        return {"rows": int(rows), "first": first, "last": last}

    def fingerprint(self, name: str, layout: TableLayout, columns: Sequence[str]) -> dict[str, object]:
        """A summary of a table's content computed inside the database, one scan and no rows transferred: the row
        count, the time column's bounds and, per column, its non-null count, minimum, maximum and sum (of the
        values for numbers, of the lengths for text). Cached derivatives of a table (its drift statistics) are
        keyed by it: any write that adds, drops or changes rows changes it, bar a change that keeps every count,
        bound and sum (floats compared to 12 significant digits, since a parallel sum's last bits vary)."""
        import sqlalchemy as sa

        table = self._table(name, layout)
        when = table.c[layout.time_column]
        selected = [sa.func.count(), sa.func.min(when), sa.func.max(when)]
        for column in columns:
            c = table.c[column]
            summed = c if layout.columns[column] in ("int", "float", "bool") else sa.func.length(c)
            selected += [sa.func.count(c), sa.func.min(c), sa.func.max(c), sa.func.sum(summed)]
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*selected)).one()
        values = [_fingerprint_value(v) for v in row]
        summary: dict[str, object] = {"rows": values[0], "first": values[1], "last": values[2]}
        for i, column in enumerate(columns):
            summary[column] = values[3 + 4 * i: 7 + 4 * i]
        return summary

    def replace_windows(self, name: str, layout: TableLayout, windows: Sequence[Window]) -> list[int]:
        """For each (frame, start, end): delete the table's rows in [start, end) and insert the frame. All of
        it in one transaction, so a reader sees the old rows or the new ones, never half. Returns the rows
        deleted per window."""
        import sqlalchemy as sa

        when_col = layout.time_column
        table = self._table(name, layout)
        when = table.c[when_col]
        for frame, start, end in windows:
            outside = (frame[when_col] < start) | (frame[when_col] >= end)
            if outside.any():
                raise ValueError(f"{int(outside.sum())} row(s) fall outside the window [{start}, {end}) being replaced")
        deleted = []
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Writers of the same table take turns: a second run of the same week waits, then replaces the
                # first one's rows, instead of failing on the primary key. Released at commit or rollback.
                key = f"{self.db_schema or ''}.{name}"
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
            if self.db_schema is not None:
                conn.execute(sa.schema.CreateSchema(self.db_schema, if_not_exists=True))
            table.create(conn, checkfirst=True)
            for frame, start, end in windows:
                result = conn.execute(sa.delete(table).where(when >= _py(start), when < _py(end)))
                deleted.append(int(result.rowcount or 0))
                columns = list(layout.columns)
                self._insert(conn, table, frame if list(frame.columns) == columns else frame[columns])
        return deleted

    def append_and_update(self, name: str, layout: TableLayout, appended: pd.DataFrame,
                          updates: Sequence[str], values: pd.DataFrame, column: str) -> list[int]:
        """Append `appended` to the table `name` (created when missing) and set `column` by key in each existing
        table of `updates` to `values`' (its key columns and `column`; every table's key is `values`' other
        columns), all in one transaction: a reader sees the labels landed everywhere or nowhere. Returns the rows
        updated per table of `updates` (0 for a table that does not exist)."""
        import sqlalchemy as sa

        table = self._table(name, layout)
        key = [c for c in values.columns if c != column]
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # The writers of these tables take turns (replace_windows takes the same locks), in one order.
                for locked in sorted({name, *updates}):
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                 {"key": f"{self.db_schema or ''}.{locked}"})
            if self.db_schema is not None:
                conn.execute(sa.schema.CreateSchema(self.db_schema, if_not_exists=True))
            table.create(conn, checkfirst=True)
            self._insert(conn, table, appended[list(layout.columns)])
            existing = [t for t in updates if sa.inspect(conn).has_table(t, schema=self.db_schema)]
            counts = dict.fromkeys(updates, 0)
            if existing and not values.empty:
                counts.update(self._update_by_key(conn, existing, values, key, column, layout))
        return [counts[t] for t in updates]

    def _update_by_key(self, conn: sa.Connection, names: Sequence[str], values: pd.DataFrame, key: list[str],
                       column: str, layout: TableLayout) -> dict[str, int]:
        """UPDATE each table SET column FROM a temporary table of `values` (COPY on PostgreSQL) WHERE the key
        matches, inside the caller's transaction; the rows updated per table."""
        import sqlalchemy as sa

        staged = sa.Table("_staged_values", sa.MetaData(), *(sa.Column(c, sql_type(layout.columns[c]))
                                                             for c in [*key, column]), prefixes=["TEMPORARY"])
        staged.drop(conn, checkfirst=True)  # SQLite keeps a temporary table a failed transaction made
        staged.create(conn)
        self._insert(conn, staged, values[[*key, column]])
        counts = {}
        for name in names:
            target = sa.Table(name, sa.MetaData(schema=self.db_schema),
                              *(sa.Column(c) for c in [*key, column]))
            statement = sa.update(target).values({column: staged.c[column]}).where(
                *(target.c[c] == staged.c[c] for c in key))
            counts[name] = int(conn.execute(statement).rowcount or 0)
        staged.drop(conn)
        return counts

    def _insert(self, conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        if conn.dialect.name == "postgresql":
            _copy_into(conn, table, frame)
        else:
            import pandas as pd

            records = frame.astype(object).where(frame.notna(), None).to_dict("records")
            for record in records:
                for key, value in record.items():
                    if isinstance(value, pd.Timestamp):
                        record[key] = value.to_pydatetime()
            conn.execute(table.insert(), records)


COPY_ROWS_PER_SLICE = 10_000  # CSV is made (and held) one slice of rows at a time; small slices start COPY sooner


def csv_slices(frame: pd.DataFrame, rows: int = COPY_ROWS_PER_SLICE) -> Iterator[memoryview]:
    """The frame as header-less CSV made by pyarrow (pandas' to_csv is 8x slower), one slice of rows at a time:
    the whole CSV never exists at once."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    for first in range(0, len(frame), rows):
        batch = _coarsest_timestamps(pa.RecordBatch.from_pandas(frame.iloc[first : first + rows], preserve_index=False))
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(batch, sink, write_options=options)
        yield memoryview(sink.getvalue())


def _coarsest_timestamps(batch):
    """Nanosecond timestamps cast to seconds (or microseconds) where that loses nothing: a third less CSV text
    to make and to parse ("2011-01-01 00:00:00" instead of "2011-01-01 00:00:00.000000000")."""
    import pyarrow as pa

    for i, typ in enumerate(batch.schema.types):
        if pa.types.is_timestamp(typ) and typ.unit == "ns":
            for unit in ("s", "us"):
                try:
                    batch = batch.set_column(i, batch.schema.field(i).name, batch.column(i).cast(pa.timestamp(unit, typ.tz)))
                    break
                except pa.ArrowInvalid:  # would truncate: keep the finer unit
                    continue
    return batch


def _copy_into(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """COPY FROM STDIN inside the caller's transaction, each CSV slice written as soon as it is made: while
    pyarrow makes slice n+1 the server parses slice n (psycopg's writer hands the data to libpq and waits only
    for the socket, every 1 MB), so no thread of ours is needed (1M rows x 14 columns: 3.26 s, as fast as the
    thread-fed psycopg2 COPY it replaced and psql's own \\copy; docs/benchmarks.md).

    An error while making the CSV ends the COPY (psycopg sends CopyFail) and the transaction rolls back; a
    server error (a duplicate key) is re-raised as SQLAlchemy's IntegrityError, as the INSERT path raises it on
    SQLite."""
    from psycopg import sql

    target = sql.Identifier(table.schema, table.name) if table.schema else sql.Identifier(table.name)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        target, sql.SQL(", ").join(sql.Identifier(str(c)) for c in frame.columns)
    )
    raw = conn.connection.driver_connection
    with _dbapi_errors(conn, statement.as_string(raw)), raw.cursor() as cursor, cursor.copy(statement) as copy:
        for block in csv_slices(frame):
            copy.write(block)


def _copy_out(
    conn: sa.Connection, table: sa.Table, layout: TableLayout, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> pd.DataFrame:
    """The rows of [start, end) ordered by time, via COPY (SELECT ...) TO STDOUT, parsed by pyarrow with the
    layout's types. Exact: floats come out in PostgreSQL's shortest round-trip form (extra_float_digits > 0),
    NULL is an unquoted empty field and the empty string a quoted one. The CSV is spooled (on disk above 64 MB).

    COPY takes no bind parameters, so the bounds go in as client-side literals, escaped by psycopg."""
    import tempfile

    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    from psycopg import sql

    names = list(layout.columns)
    when = sql.Identifier(layout.time_column)
    target = sql.Identifier(table.schema, table.name) if table.schema else sql.Identifier(table.name)
    conditions = [sql.SQL("{} {} {}").format(when, sql.SQL(op), sql.Literal(_py(bound)))
                  for op, bound in ((">=", start), ("<", end)) if bound is not None]
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    statement = sql.SQL("COPY (SELECT {} FROM {}{} ORDER BY {}) TO STDOUT WITH (FORMAT csv)").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in names), target, where,
        sql.SQL(", ").join(sql.Identifier(c) for c in _order(layout)),
    )
    schema = pa.schema([(c, arrow_type(layout.columns[c])) for c in names])
    raw = conn.connection.driver_connection
    with _dbapi_errors(conn, statement.as_string(raw)), raw.cursor() as cursor, \
            tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool:
        # Exact floats and ISO timestamps whatever the server's or the role's defaults are.
        cursor.execute("SET LOCAL extra_float_digits = 3")
        cursor.execute("SET LOCAL datestyle = 'ISO, YMD'")
        with cursor.copy(statement) as copy:
            for block in copy:  # read to the end, or the connection stays busy
                spool.write(block)
        empty = spool.tell() == 0
        spool.seek(0)
        arrow = schema.empty_table() if empty else pa_csv.read_csv(
            spool,
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=schema, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False
            ),
        )
    # Integers through pandas' nullable Int64, so a NULL never turns them into floats (and 2**53 + 1 survives).
    return arrow.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


@contextlib.contextmanager
def _dbapi_errors(conn: sa.Connection, statement: str) -> Iterator[None]:
    """Re-raise psycopg's errors from a raw cursor as SQLAlchemy's, the types the SQLAlchemy paths raise
    (psycopg.errors.UniqueViolation -> sqlalchemy.exc.IntegrityError, with .orig the psycopg error)."""
    import psycopg
    import sqlalchemy as sa

    try:
        yield
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error, dialect=conn.dialect) from exc


def _order(layout: TableLayout) -> list[str]:
    """Rows in time order, then by the rest of the key: the same order from SQLite and PostgreSQL."""
    return [layout.time_column, *(c for c in layout.key if c != layout.time_column)]


def _fingerprint_value(value):
    import decimal
    import math

    if isinstance(value, (float, decimal.Decimal)):
        value = float(value)
        return repr(value) if not math.isfinite(value) else float(f"{value:.12g}")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _py(value):
    """A plain datetime for SQL parameters (pandas Timestamps are not understood by every driver)."""
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value


def _typed(frame: pd.DataFrame, layout: TableLayout) -> pd.DataFrame:
    import pandas as pd

    # SQLAlchemy names columns with `quoted_name`, a str subclass that scikit-learn does not take as a feature name.
    frame.columns = [str(c) for c in frame.columns]
    for col, typ in layout.columns.items():
        if col not in frame.columns or typ == "str":
            continue
        values = pd.to_datetime(frame[col]) if typ == "datetime" else frame[col]
        frame[col] = values.astype(pandas_dtype(typ, bool(values.isna().any())))
    return frame
