"""The warehouse on SQLite (a temp file) and on a real PostgreSQL server on loopback: typed tables with a primary
key on the datetime column, exact round trips, window replacement in one transaction, names checked before any
SQL, and COPY as the PostgreSQL insert path."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from drift_platform.contract import conform
from drift_platform.dataset import DatasetSpec, DatasetSpecError
from drift_platform.resources import WarehouseResource

WEEK = (pd.Timestamp("2011-01-31"), pd.Timestamp("2011-02-07"))
NEXT_WEEK = (pd.Timestamp("2011-02-07"), pd.Timestamp("2011-02-14"))

# A spec with every column type, to check the mapping of each and the awkward values (NULLs, CSV metacharacters).
MIXED_SPEC = DatasetSpec.from_dict({
    "name": "mixed", "datetime_column": "ts", "target": "n", "target_nonnegative": False,
    "columns": {"ts": "datetime", "n": "int", "x": "float", "flag": "bool", "label": "str"},
    "numerical_features": ["x"], "categorical_features": ["flag", "label"],
})  # fmt: skip
MIXED_WINDOW = (pd.Timestamp("2020-01-01"), pd.Timestamp("2020-02-01"))
EXPECTED_TYPES = {"int": sa.BigInteger, "float": sa.Float, "bool": sa.SmallInteger, "str": sa.Text, "datetime": sa.DateTime}


def _mixed_frame() -> pd.DataFrame:
    raw = pd.DataFrame({
        "ts": ["2020-01-01 00:00:00", "2020-01-01 12:30:00.123456", "2020-01-02", "2020-01-03", "2020-01-04",
               "2020-01-05", "2020-01-06"],
        "n": [1, None, 3, -4, 2**40, 0, 7],
        "x": [0.1, np.nan, 1 / 3, -1e300, 5e-324, 0.0, 2.5],
        "flag": [1, 0, None, 1, 0, 1, 0],
        "label": ["a,b", 'say "hi"', "line\nbreak", "", None, "ünïcødé ✓", "\\N"],
    })  # fmt: skip
    return conform(raw, MIXED_SPEC)


def _window(frame: pd.DataFrame, window: tuple[pd.Timestamp, pd.Timestamp], column: str = "dteday") -> pd.DataFrame:
    start, end = window
    return frame[(frame[column] >= start) & (frame[column] < end)].reset_index(drop=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(backend name, SQLAlchemy URL): a SQLite file in tmp_path, or a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        return "sqlite", f"sqlite:///{tmp_path / 'warehouse.db'}"
    return "postgresql", request.getfixturevalue("pg_warehouse_url")


@pytest.fixture
def make_warehouse(backend: tuple[str, str]) -> Iterator[Callable[..., WarehouseResource]]:
    made: list[WarehouseResource] = []

    def make(url: str | None = None, **kwargs) -> WarehouseResource:
        warehouse = WarehouseResource(url=url or backend[1], **kwargs)
        made.append(warehouse)
        return warehouse

    yield make
    for warehouse in made:
        if warehouse._engine is not None:
            warehouse._engine.dispose()


@pytest.fixture
def pg_warehouse(pg_warehouse_url: str) -> Iterator[WarehouseResource]:
    warehouse = WarehouseResource(url=pg_warehouse_url)
    yield warehouse
    if warehouse._engine is not None:
        warehouse._engine.dispose()


@pytest.mark.parametrize("which", ["project", "mixed"])
def test_tables_typed_with_primary_key(make_warehouse, backend, spec: DatasetSpec, source_frame: pd.DataFrame,
                                       which: str) -> None:
    table_spec, frame, window = (
        (spec, _window(source_frame, WEEK), WEEK) if which == "project" else (MIXED_SPEC, _mixed_frame(), MIXED_WINDOW)
    )
    warehouse = make_warehouse()
    assert not warehouse.table_exists("history")
    warehouse.replace_windows("history", table_spec, [(frame, *window)])
    assert warehouse.table_exists("history")

    inspector = sa.inspect(warehouse.engine)
    assert inspector.get_pk_constraint("history")["constrained_columns"] == [table_spec.datetime_column]
    columns = {c["name"]: c for c in inspector.get_columns("history")}
    assert list(columns) == list(table_spec.columns)
    for name, typ in table_spec.columns.items():
        reflected = columns[name]["type"]
        assert isinstance(reflected, EXPECTED_TYPES[typ]), (name, typ, reflected)
        assert columns[name]["nullable"] is (name != table_spec.datetime_column)
        if typ == "float" and backend[0] == "postgresql":
            assert isinstance(reflected, sa.dialects.postgresql.DOUBLE_PRECISION), (name, reflected)


def test_round_trip_sample_frame_exact(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame) -> None:
    warehouse = make_warehouse()
    start, end = pd.Timestamp("2011-01-01"), pd.Timestamp("2013-01-01")
    assert warehouse.replace_windows("history", spec, [(source_frame, start, end)]) == [0]

    back = warehouse.read("history", spec)
    pd.testing.assert_frame_equal(back, source_frame, check_exact=True)
    assert all(type(c) is str for c in back.columns)
    pd.testing.assert_frame_equal(warehouse.read("history", spec, *WEEK), _window(source_frame, WEEK), check_exact=True)
    stats = warehouse.stats("history", spec)
    assert stats["rows"] == 731
    assert pd.Timestamp(stats["first"]) == pd.Timestamp("2011-01-01")
    assert pd.Timestamp(stats["last"]) == pd.Timestamp("2012-12-31")


def test_round_trip_awkward_values_exact(make_warehouse) -> None:
    """NULLs in every nullable type, CSV metacharacters, '' vs NULL, extreme floats, microseconds."""
    frame = _mixed_frame()
    assert list(frame.dtypes.astype(str)) == ["datetime64[ns]", "Int64", "float64", "Int64", "object"]
    warehouse = make_warehouse()
    warehouse.replace_windows("mixed", MIXED_SPEC, [(frame, *MIXED_WINDOW)])
    back = warehouse.read("mixed", MIXED_SPEC)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert back.loc[3, "label"] == "" and back.loc[4, "label"] is None


def test_replace_same_week_twice(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame) -> None:
    warehouse = make_warehouse()
    reference_window = tuple(pd.Timestamp(t) for t in spec.reference_window)
    reference, week = _window(source_frame, reference_window), _window(source_frame, WEEK)
    assert warehouse.replace_windows("history", spec, [(reference, *reference_window), (week, *WEEK)]) == [0, 0]
    assert warehouse.stats("history", spec)["rows"] == 35

    assert warehouse.replace_windows("history", spec, [(week, *WEEK)]) == [7]
    assert warehouse.stats("history", spec)["rows"] == 35
    pd.testing.assert_frame_equal(warehouse.read("history", spec), pd.concat([reference, week], ignore_index=True),
                                  check_exact=True)

    changed = week.assign(cnt=week["cnt"] + 1000)
    assert warehouse.replace_windows("history", spec, [(changed, *WEEK), (week.iloc[:0], *NEXT_WEEK)]) == [7, 0]
    assert warehouse.stats("history", spec)["rows"] == 35
    pd.testing.assert_frame_equal(warehouse.read("history", spec, *WEEK), changed, check_exact=True)
    pd.testing.assert_frame_equal(warehouse.read("history", spec, *reference_window), reference, check_exact=True)


@pytest.mark.parametrize("failing", ["only_window", "second_window"])
def test_duplicate_datetime_rolls_back(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame,
                                       failing: str) -> None:
    warehouse = make_warehouse()
    week, next_week = _window(source_frame, WEEK), _window(source_frame, NEXT_WEEK)
    warehouse.replace_windows("history", spec, [(week, *WEEK), (next_week, *NEXT_WEEK)])
    before = warehouse.read("history", spec)

    changed = week.assign(cnt=week["cnt"] + 1000)
    duplicated = next_week.assign(cnt=next_week["cnt"] + 1000)
    duplicated.loc[6, "dteday"] = duplicated.loc[0, "dteday"]  # still inside the window: only the key is wrong
    windows = [(duplicated, *NEXT_WEEK)] if failing == "only_window" else [(changed, *WEEK), (duplicated, *NEXT_WEEK)]
    with pytest.raises(sa.exc.IntegrityError):
        warehouse.replace_windows("history", spec, windows)

    # Neither the deletes nor the first window's insert survived: the table is exactly as it was.
    assert warehouse.stats("history", spec)["rows"] == 14
    pd.testing.assert_frame_equal(warehouse.read("history", spec), before, check_exact=True)
    # The pooled connection is usable again after the rollback.
    assert warehouse.replace_windows("history", spec, [(changed, *WEEK)]) == [7]
    pd.testing.assert_frame_equal(warehouse.read("history", spec, *WEEK), changed, check_exact=True)


def test_rows_outside_window_refused(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame) -> None:
    warehouse = make_warehouse()
    with pytest.raises(ValueError, match=r"1 row\(s\) fall outside the window"):
        warehouse.replace_windows("history", spec, [(_window(source_frame, (WEEK[0], NEXT_WEEK[0] + pd.Timedelta(days=1))), *WEEK)])
    assert not warehouse.table_exists("history")


BAD_NAMES = ["history; drop table x", "1abc", 'his"tory', "", "a" * 64, "public.history", "history--"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_table_name_refused_before_sql(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame,
                                               name: str) -> None:
    warehouse = make_warehouse()
    statements: list[str] = []
    sa.event.listen(warehouse.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    week = _window(source_frame, WEEK)
    calls = [
        lambda: warehouse.replace_windows(name, spec, [(week, *WEEK)]),
        lambda: warehouse.read(name, spec),
        lambda: warehouse.stats(name, spec),
        lambda: warehouse.table_exists(name),
    ]
    for call in calls:
        with pytest.raises(DatasetSpecError, match=r"table .* is not a valid identifier"):
            call()
    assert statements == []
    assert sa.inspect(warehouse.engine).get_table_names() == []


@pytest.mark.parametrize("schema", ["drift; drop schema public", "1abc", ""])
def test_invalid_schema_refused_before_sql(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame,
                                           schema: str) -> None:
    warehouse = make_warehouse(db_schema=schema)
    with pytest.raises(DatasetSpecError, match=r"schema .* is not a valid identifier"):
        warehouse.replace_windows("history", spec, [(_window(source_frame, WEEK), *WEEK)])
    with pytest.raises(DatasetSpecError, match=r"schema .* is not a valid identifier"):
        warehouse.read("history", spec)
    assert warehouse._engine is None  # refused before an engine (let alone a connection) existed


# --- PostgreSQL only ---------------------------------------------------------------------------------------------
def test_postgres_insert_uses_copy(postgres_server, pg_warehouse_url: str, spec: DatasetSpec,
                                   source_frame: pd.DataFrame) -> None:
    """The server's own statement log shows a COPY into the table and no INSERT into it."""
    dbname = sa.make_url(pg_warehouse_url).database
    postgres_server.execute(f'ALTER DATABASE "{dbname}" SET log_statement = \'all\'')
    table = f"history_{uuid.uuid4().hex[:10]}"
    warehouse = WarehouseResource(url=pg_warehouse_url, history_table=table)
    try:
        warehouse.replace_windows(table, spec, [(_window(source_frame, WEEK), *WEEK)])
        assert warehouse.stats(table, spec)["rows"] == 7
    finally:
        warehouse.engine.dispose()

    deadline = time.monotonic() + 10
    while True:
        mentions = [line for line in postgres_server.log_text().splitlines() if table in line]
        copies = [line for line in mentions if f'statement: COPY "{table}" (' in line and "FROM STDIN" in line]
        if copies or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(copies) == 1, mentions
    assert not [line for line in mentions if "INSERT" in line.upper()], mentions
    assert [line for line in mentions if "DELETE FROM" in line], mentions  # the log did capture this session


def test_postgres_schema_qualified_table(postgres_server, pg_warehouse_url: str, spec: DatasetSpec,
                                         source_frame: pd.DataFrame) -> None:
    postgres_server.execute("CREATE SCHEMA drift", dbname=sa.make_url(pg_warehouse_url).database)
    warehouse = WarehouseResource(url=pg_warehouse_url, db_schema="drift")
    try:
        week = _window(source_frame, WEEK)
        assert warehouse.replace_windows("history", spec, [(week, *WEEK)]) == [0]
        inspector = sa.inspect(warehouse.engine)
        assert inspector.has_table("history", schema="drift") and not inspector.has_table("history")
        pd.testing.assert_frame_equal(warehouse.read("history", spec), week, check_exact=True)
    finally:
        warehouse.engine.dispose()


def test_postgres_loads_100k_rows(pg_warehouse: WarehouseResource, spec: DatasetSpec) -> None:
    rows = 100_000
    rng = np.random.default_rng(42)
    frame = pd.DataFrame({"dteday": pd.date_range("2000-01-01", periods=rows, freq="h").astype("datetime64[ns]")})
    for col, typ in spec.columns.items():
        if col == "dteday":
            continue
        frame[col] = rng.random(rows) if typ == "float" else rng.integers(0, 10_000, rows, dtype="int64")
    frame = frame[list(spec.columns)]
    start, end = frame["dteday"].iloc[0], frame["dteday"].iloc[-1] + pd.Timedelta(hours=1)

    began = time.perf_counter()
    assert pg_warehouse.replace_windows("history", spec, [(frame, start, end)]) == [0]
    seconds = time.perf_counter() - began
    print(f"\nPostgreSQL COPY: {rows} rows x {len(spec.columns)} columns in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")

    assert pg_warehouse.stats("history", spec)["rows"] == rows
    pd.testing.assert_frame_equal(pg_warehouse.read("history", spec), frame, check_exact=True)
