"""The SQL reader (core/intake/sql_source.py) against a SQLite file and the real PostgreSQL server on loopback:
the bike sample as a table gives the CSV path's rows for several weeks, a query binds :start and :end, times
come in the monitor's timezone, and each bad input is a SourceError naming the table or the column, with no
password in any message."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from drift_platform.core.intake.contract import conform
from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.intake.source import SourceError, load_window
from drift_platform.core.intake.sql_source import read_sql_window
from drift_platform_tests.conftest import BIKE_SOURCE
from loopback import free_port, unique_name

PASSWORD = "Pa55-w0rd/s3cret"  # trust auth ignores it; it must never show in a message
WEEKS = [pd.Timestamp("2011-01-31"), pd.Timestamp("2011-07-04"), pd.Timestamp("2012-02-27"),
         pd.Timestamp("2012-12-24")]
# The bike table on PostgreSQL: integers of several widths, a date, double precision, numeric (atemp) and an
# undeclared column.
PG_TABLE = """CREATE TABLE bike_days (instant integer, dteday date, season smallint, yr integer, mnth integer,
    holiday integer, weekday integer, workingday integer, weathersit integer, temp double precision,
    atemp numeric(10, 6), hum double precision, windspeed double precision, casual bigint, registered bigint,
    cnt bigint, note text)"""
EVENTS_SPEC = DatasetSpec.from_dict({
    "name": "events", "datetime_column": "ts", "target": "y", "columns": {"ts": "datetime", "y": "float", "x": "float"},
    "numerical_features": ["x"], "reference_window": {"start": "2011-01-01", "end": "2011-01-28"},
    "first_period": "2011-01-31",
})  # fmt: skip


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The sample CSV as SQLite's `bike_days` (dteday as the CSV's text, '2011-01-01'; a `note` column more)."""
    path = tmp_path_factory.mktemp("sql_source") / "source.db"
    frame = pd.read_csv(BIKE_SOURCE).assign(note="n")
    with sqlite3.connect(path) as conn:
        frame.to_sql("bike_days", conn, index=False)
        conn.execute("CREATE TABLE events (ts TEXT, y REAL, x REAL)")
        conn.executemany("INSERT INTO events VALUES (?, 1.0, 2.0)", [
            ("2011-01-30T23:30:00+00:00",), ("2011-01-31 00:10:00",), ("2011-02-06T23:30:00Z",)])
    conn.close()
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def pg_url(postgres_server) -> Iterator[str]:
    """A database on the PostgreSQL server holding `bike_days` (PG_TABLE) and `events` (timestamptz); its URL
    carries PASSWORD."""
    import psycopg
    import sqlalchemy as sa

    name = unique_name("sql_source_")
    url = sa.make_url(postgres_server.create_database(name)).set(drivername="postgresql", password=PASSWORD)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=name) as conn:
        conn.execute(PG_TABLE)
        conn.execute("CREATE TABLE events (ts timestamptz, y double precision, x double precision)")
        conn.execute("INSERT INTO events VALUES ('2011-01-30 23:30:00+00', 1, 2), ('2011-01-31 00:10:00+01', 1, 2), "
                     "('2011-02-06 23:30:00+00', 1, 2)")
        header = BIKE_SOURCE.read_text().split("\n", 1)[0]
        with conn.cursor().copy(f"COPY bike_days ({header}) FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            copy.write(BIKE_SOURCE.read_bytes())
        conn.execute("UPDATE bike_days SET note = 'n'")
    yield url.render_as_string(hide_password=False)
    if postgres_server.running:
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def _csv_week(spec: DatasetSpec, start: pd.Timestamp) -> pd.DataFrame:
    return load_window(str(BIKE_SOURCE), spec, start, start + pd.Timedelta(days=7))[0]


def _raises(match: str, *args, retryable: bool = False, **kwargs) -> SourceError:
    with pytest.raises(SourceError, match=match) as caught:
        read_sql_window(*args, **kwargs)
    assert caught.value.retryable is retryable
    assert PASSWORD not in str(caught.value) and "s3cret" not in str(caught.value)
    return caught.value


def test_table_gives_the_csv_rows_week_by_week(url: str, spec: DatasetSpec) -> None:
    """Every week: the CSV path's rows and values (after conform), only that week's rows fetched."""
    for start in WEEKS:
        end = start + pd.Timedelta(days=7)
        read = read_sql_window(url, spec, start, end, table="bike_days")
        assert read.rows == 7 and read.table.num_rows == 7
        assert read.table.column_names == list(spec.columns)
        assert str(read.table.schema.field("dteday").type) == "timestamp[us]"
        assert read.extra_columns == ["note"]
        assert 0 < read.bytes_read < 3_000, read.bytes_read  # a week's rows, not the table's 731
        assert PASSWORD not in read.origin and "bike_days" in read.origin
        pd.testing.assert_frame_equal(conform(read.to_pandas(), spec, window=(start, end)), _csv_week(spec, start))


def test_query_binds_start_and_end(url: str, spec: DatasetSpec) -> None:
    """A query with :start and :end (a literal % and source names) gives the CSV path's week; the bounds are
    parameters (a bound that is not a time would fail to bind, not change the SQL)."""
    renamed = DatasetSpec.from_dict({**spec.model_dump(), "source_names": {"dteday": "Day:Date", "cnt": "Total %"}})
    day = "date({})" if url.startswith("sqlite") else "CAST({} AS date)"
    query = (f'SELECT b.*, dteday AS "Day:Date", cnt AS "Total %", \'100%\' AS pct FROM bike_days AS b WHERE '
             f"dteday >= {day.format(':start')} AND dteday < {day.format(':end')} AND note LIKE '%' ORDER BY dteday;")
    start = WEEKS[1]
    read = read_sql_window(url, renamed, start, start + pd.Timedelta(days=7), query=query)
    assert read.rows == 7
    assert read.extra_columns == ["note", "pct"]
    frame = conform(read.to_pandas(), renamed)
    pd.testing.assert_frame_equal(frame, _csv_week(spec, start))


@pytest.mark.parametrize("mode", ["table", "query"])
def test_times_in_the_monitor_timezone(url: str, mode: str) -> None:
    """Offsets (SQLite text) and timestamptz (PostgreSQL) come as naive local times of the monitor's timezone,
    and the window is that timezone's: 23:30 UTC on Sunday is 00:30 on Monday in Paris."""
    start, end = pd.Timestamp("2011-01-31"), pd.Timestamp("2011-02-07")
    source = {"table": "events"} if mode == "table" else {"query": "SELECT * FROM events WHERE :start < :end"}
    read = read_sql_window(url, EVENTS_SPEC, start, end, timezone="Europe/Paris", **source)
    times = read.to_pandas()["ts"].astype("datetime64[ns]").sort_values().tolist()
    expected = [pd.Timestamp("2011-01-31 00:10"), pd.Timestamp("2011-01-31 00:30")]
    assert times == (expected if mode == "table" else [*expected, pd.Timestamp("2011-02-07 00:30")])


def test_bad_sources_are_named(url: str, spec: DatasetSpec) -> None:
    """A missing table, a missing column, a query without the datetime column, a bad query, a value that does
    not convert exactly: each a SourceError naming it, not retryable, without the password."""
    week = (WEEKS[0], WEEKS[0] + pd.Timedelta(days=7))
    _raises(r"table 'no_such_table' does not exist", url, spec, *week, table="no_such_table")
    more = DatasetSpec.from_dict({**spec.model_dump(), "columns": {**spec.columns, "pressure": "float"},
                                  "ignored": [*spec.ignored, "pressure"], "source_names": {"pressure": "Air P"}})
    _raises(r"table 'bike_days' has no column\(s\) \['pressure' \(source 'Air P'\)\]", url, more, *week,
            table="bike_days")
    assert read_sql_window(url, more, *week, table="bike_days", optional=["pressure"]).rows == 7
    _raises(r"the query returns no datetime column 'dteday'", url, spec, *week,
            query="SELECT instant FROM bike_days WHERE dteday >= :start AND dteday < :end")
    _raises(r"the query: .*no_such_column", url, spec, *week,
            query="SELECT no_such_column FROM bike_days WHERE dteday >= :start AND dteday < :end")
    as_int = DatasetSpec.from_dict({**spec.model_dump(), "columns": {**spec.columns, "hum": "int"}})
    _raises(r"column 'hum' holds double values that do not convert exactly to the spec's int", url, as_int,
            *week, table="bike_days")


def test_query_placeholders_and_source_checked_before_connecting(spec: DatasetSpec, tmp_path: Path) -> None:
    week = (WEEKS[0], WEEKS[0] + pd.Timedelta(days=7))
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    _raises(r"lacks :end", url, spec, *week, query="SELECT * FROM t WHERE dteday >= :start")
    _raises(r"unknown placeholder\(s\) :other", url, spec, *week, query="SELECT * WHERE :start < :end AND :other")
    _raises(r"either `table` or `query`.*both", url, spec, *week, table="t", query="SELECT :start, :end")
    _raises(r"SQLite database file .*absent.db does not exist", url, spec, *week, table="t")
    assert not (tmp_path / "absent.db").exists()
    _raises(r"backend 'mysql' is not supported", f"mysql://me:{PASSWORD}@db/x", spec, *week, table="t")


def test_database_down_is_retryable_without_the_password(spec: DatasetSpec) -> None:
    """Nothing listens on the port: retryable, the host named, neither user nor password shown."""
    url = f"postgresql://reader:{PASSWORD.replace('/', '%2F')}@127.0.0.1:{free_port()}/warehouse?sslmode=disable"
    error = _raises(r"database postgresql\+psycopg://127\.0\.0\.1:\d+/warehouse is unreachable", url, spec,
                    WEEKS[0], WEEKS[0] + pd.Timedelta(days=7), table="bike_days", retryable=True)
    assert "reader" not in str(error) and "%2F" not in str(error)


def test_postgresql_errors_while_rows_stream_lose_nothing_silently(pg_url: str, spec: DatasetSpec) -> None:
    """An error the server sends after some rows (division by zero at row 100, then at the first row) is the
    query's error, never a partial or empty table; a value pyarrow cannot read as its column's type is named."""
    year = (pd.Timestamp("2011-01-01"), pd.Timestamp("2013-01-01"))
    for row in (100, 1):
        _raises(r"the query: division by zero", pg_url, spec, *year,
                query=f"SELECT * FROM bike_days WHERE dteday >= :start AND dteday < :end AND 1 / (instant - {row}) <> 0")
    _raises(r"the query returns column\(s\) \['dteday'\] more than once", pg_url, spec, *year,
            query="SELECT b.*, dteday FROM bike_days AS b WHERE :start < :end")
    _raises(r"the query: a value does not read as its column's type: .*infinity", pg_url, EVENTS_SPEC, *year,
            query="SELECT CAST('infinity' AS timestamp) AS ts, 1.5 AS y, 2.5 AS x WHERE :start < :end")
