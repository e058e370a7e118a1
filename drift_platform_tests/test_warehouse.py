"""The warehouse on SQLite (a temp file) and on a real PostgreSQL server on loopback: tables named by the caller
(a monitor's `<monitor>_history`, ...) and typed from a `TableLayout` with a primary key on the time column,
exact round trips, window replacement in one transaction, names checked before any SQL, two monitors' tables
side by side, and COPY as the PostgreSQL insert path."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from drift_platform.core.intake.contract import conform
from drift_platform.core.intake.dataset import COLUMN_TYPES, DatasetSpec, DatasetSpecError, TableLayout
from drift_platform.resources import WarehouseResource

HISTORY = "bike_sharing_history"  # as the bike-sharing monitor names its table (monitor.table("history"))
MIXED = "mixed_history"
WEEK = (pd.Timestamp("2011-01-31"), pd.Timestamp("2011-02-07"))
NEXT_WEEK = (pd.Timestamp("2011-02-07"), pd.Timestamp("2011-02-14"))

# A spec with every column type, to check the mapping of each and the awkward values (NULLs, CSV metacharacters).
MIXED_SPEC = DatasetSpec.from_dict({
    "name": "mixed", "datetime_column": "ts", "target": "n", "reference_window": {"start": "2020-01-01", "end": "2020-01-28"}, "first_period": "2020-02-03", "target_nonnegative": False,
    "columns": {"ts": "datetime", "n": "int", "x": "float", "flag": "bool", "label": "str"},
    "numerical_features": ["x"], "categorical_features": ["flag", "label"],
})  # fmt: skip
MIXED_WINDOW = (pd.Timestamp("2020-01-01"), pd.Timestamp("2020-02-01"))
EXPECTED_TYPES = {"int": sa.BigInteger, "float": sa.Float, "bool": sa.SmallInteger, "str": sa.Text, "datetime": sa.DateTime}
assert set(EXPECTED_TYPES) == set(COLUMN_TYPES)  # every spec type is checked below


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
    layout = table_spec.layout
    assert layout == TableLayout(columns=dict(table_spec.columns), time_column=table_spec.datetime_column)
    warehouse = make_warehouse()
    assert not warehouse.table_exists(HISTORY)
    warehouse.replace_windows(HISTORY, layout, [(frame, *window)])
    assert warehouse.table_exists(HISTORY)

    inspector = sa.inspect(warehouse.engine)
    assert inspector.get_table_names() == [HISTORY]  # the caller's name, nothing else
    assert inspector.get_pk_constraint(HISTORY)["constrained_columns"] == [layout.time_column]
    columns = {c["name"]: c for c in inspector.get_columns(HISTORY)}
    assert list(columns) == list(layout.columns)
    for name, typ in layout.columns.items():
        reflected = columns[name]["type"]
        assert isinstance(reflected, EXPECTED_TYPES[typ]), (name, typ, reflected)
        assert columns[name]["nullable"] is (name != layout.time_column)
        if typ == "float" and backend[0] == "postgresql":
            assert isinstance(reflected, sa.dialects.postgresql.DOUBLE_PRECISION), (name, reflected)


def test_round_trip_sample_frame_exact(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame) -> None:
    warehouse = make_warehouse()
    start, end = pd.Timestamp("2011-01-01"), pd.Timestamp("2013-01-01")
    assert warehouse.replace_windows(HISTORY, spec.layout, [(source_frame, start, end)]) == [0]

    back = warehouse.read(HISTORY, spec.layout)
    pd.testing.assert_frame_equal(back, source_frame, check_exact=True)
    assert all(type(c) is str for c in back.columns)
    pd.testing.assert_frame_equal(warehouse.read(HISTORY, spec.layout, *WEEK), _window(source_frame, WEEK), check_exact=True)
    stats = warehouse.stats(HISTORY, spec.layout)
    assert stats["rows"] == 731
    assert pd.Timestamp(stats["first"]) == pd.Timestamp("2011-01-01")
    assert pd.Timestamp(stats["last"]) == pd.Timestamp("2012-12-31")


def test_round_trip_awkward_values_exact(make_warehouse) -> None:
    """NULLs in every nullable type, CSV metacharacters, '' vs NULL, extreme floats, microseconds."""
    frame = _mixed_frame()
    assert list(frame.dtypes.astype(str)) == ["datetime64[ns]", "Int64", "float64", "Int64", "object"]
    warehouse = make_warehouse()
    warehouse.replace_windows(MIXED, MIXED_SPEC.layout, [(frame, *MIXED_WINDOW)])
    back = warehouse.read(MIXED, MIXED_SPEC.layout)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert back.loc[3, "label"] == "" and back.loc[4, "label"] is None


def test_replace_same_week_twice(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame) -> None:
    warehouse = make_warehouse()
    reference_window = tuple(pd.Timestamp(t) for t in spec.reference_window)
    reference, week = _window(source_frame, reference_window), _window(source_frame, WEEK)
    assert warehouse.replace_windows(HISTORY, spec.layout, [(reference, *reference_window), (week, *WEEK)]) == [0, 0]
    assert warehouse.stats(HISTORY, spec.layout)["rows"] == 35

    assert warehouse.replace_windows(HISTORY, spec.layout, [(week, *WEEK)]) == [7]
    assert warehouse.stats(HISTORY, spec.layout)["rows"] == 35
    pd.testing.assert_frame_equal(warehouse.read(HISTORY, spec.layout), pd.concat([reference, week], ignore_index=True),
                                  check_exact=True)

    changed = week.assign(cnt=week["cnt"] + 1000)
    assert warehouse.replace_windows(HISTORY, spec.layout, [(changed, *WEEK), (week.iloc[:0], *NEXT_WEEK)]) == [7, 0]
    assert warehouse.stats(HISTORY, spec.layout)["rows"] == 35
    pd.testing.assert_frame_equal(warehouse.read(HISTORY, spec.layout, *WEEK), changed, check_exact=True)
    pd.testing.assert_frame_equal(warehouse.read(HISTORY, spec.layout, *reference_window), reference, check_exact=True)


@pytest.mark.parametrize("failing", ["only_window", "second_window"])
def test_duplicate_datetime_rolls_back(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame,
                                       failing: str) -> None:
    warehouse = make_warehouse()
    week, next_week = _window(source_frame, WEEK), _window(source_frame, NEXT_WEEK)
    warehouse.replace_windows(HISTORY, spec.layout, [(week, *WEEK), (next_week, *NEXT_WEEK)])
    before = warehouse.read(HISTORY, spec.layout)

    changed = week.assign(cnt=week["cnt"] + 1000)
    duplicated = next_week.assign(cnt=next_week["cnt"] + 1000)
    duplicated.loc[6, "dteday"] = duplicated.loc[0, "dteday"]  # still inside the window: only the key is wrong
    windows = [(duplicated, *NEXT_WEEK)] if failing == "only_window" else [(changed, *WEEK), (duplicated, *NEXT_WEEK)]
    with pytest.raises(sa.exc.IntegrityError):
        warehouse.replace_windows(HISTORY, spec.layout, windows)

    # Neither the deletes nor the first window's insert survived: the table is exactly as it was.
    assert warehouse.stats(HISTORY, spec.layout)["rows"] == 14
    pd.testing.assert_frame_equal(warehouse.read(HISTORY, spec.layout), before, check_exact=True)
    # The pooled connection is usable again after the rollback.
    assert warehouse.replace_windows(HISTORY, spec.layout, [(changed, *WEEK)]) == [7]
    pd.testing.assert_frame_equal(warehouse.read(HISTORY, spec.layout, *WEEK), changed, check_exact=True)


def test_two_monitors_tables_side_by_side(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame) -> None:
    """Each monitor's table has its own name and layout: replacing one's window leaves the other's rows alone,
    even where the windows overlap in time."""
    from drift_platform.core.intake.source import load_window
    from drift_platform_tests.conftest import GRID_SOURCE, GRID_SPEC, bike_monitor, grid_monitor

    bike, grid = bike_monitor(), grid_monitor()
    assert (bike.table("history"), grid.table("history")) == (HISTORY, "grid_load_history")
    grid_spec = DatasetSpec.from_yaml(GRID_SPEC)
    day = (pd.Timestamp("2011-01-31"), pd.Timestamp("2011-02-01"))  # inside the bike week
    hours, _ = load_window(str(GRID_SOURCE), grid_spec, *day)
    assert len(hours) == 24

    warehouse = make_warehouse()
    week = _window(source_frame, WEEK)
    warehouse.replace_windows(bike.table("history"), bike.spec.layout, [(week, *WEEK)])
    warehouse.replace_windows(grid.table("history"), grid.spec.layout, [(hours, *day)])
    assert sorted(sa.inspect(warehouse.engine).get_table_names()) == ["bike_sharing_history", "grid_load_history"]
    columns = [c["name"] for c in sa.inspect(warehouse.engine).get_columns("grid_load_history")]
    assert columns == list(grid_spec.columns)
    assert sa.inspect(warehouse.engine).get_pk_constraint("grid_load_history")["constrained_columns"] == ["timestamp"]

    # Replacing the bike week (which contains the grid day) with nothing touches only the bike table.
    assert warehouse.replace_windows(bike.table("history"), bike.spec.layout, [(week.iloc[:0], *WEEK)]) == [7]
    assert warehouse.stats(bike.table("history"), bike.spec.layout)["rows"] == 0
    pd.testing.assert_frame_equal(warehouse.read(grid.table("history"), grid.spec.layout), hours, check_exact=True)
    assert warehouse.replace_windows(grid.table("history"), grid.spec.layout, [(hours, *day)]) == [24]
    assert warehouse.stats(grid.table("history"), grid.spec.layout)["rows"] == 24


def test_rows_outside_window_refused(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame) -> None:
    warehouse = make_warehouse()
    with pytest.raises(ValueError, match=r"1 row\(s\) fall outside the window"):
        warehouse.replace_windows(HISTORY, spec.layout, [(_window(source_frame, (WEEK[0], NEXT_WEEK[0] + pd.Timedelta(days=1))), *WEEK)])
    assert not warehouse.table_exists(HISTORY)


BAD_NAMES = ["history; drop table x", "1abc", 'his"tory', "", "a" * 64, "public.history", "history--"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_table_name_refused_before_sql(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame,
                                               name: str) -> None:
    warehouse = make_warehouse()
    statements: list[str] = []
    sa.event.listen(warehouse.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    week = _window(source_frame, WEEK)
    calls = [
        lambda: warehouse.replace_windows(name, spec.layout, [(week, *WEEK)]),
        lambda: warehouse.read(name, spec.layout),
        lambda: warehouse.stats(name, spec.layout),
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
        warehouse.replace_windows(HISTORY, spec.layout, [(_window(source_frame, WEEK), *WEEK)])
    with pytest.raises(DatasetSpecError, match=r"schema .* is not a valid identifier"):
        warehouse.read(HISTORY, spec.layout)
    assert warehouse._engine is None  # refused before an engine (let alone a connection) existed


# --- PostgreSQL only ---------------------------------------------------------------------------------------------
def test_postgres_insert_uses_copy(postgres_server, pg_warehouse_url: str, spec: DatasetSpec,
                                   source_frame: pd.DataFrame) -> None:
    """The server's own statement log shows a COPY into the table and no INSERT into it."""
    dbname = sa.make_url(pg_warehouse_url).database
    postgres_server.execute(f'ALTER DATABASE "{dbname}" SET log_statement = \'all\'')
    table = f"history_{uuid.uuid4().hex[:10]}"
    warehouse = WarehouseResource(url=pg_warehouse_url)
    try:
        warehouse.replace_windows(table, spec.layout, [(_window(source_frame, WEEK), *WEEK)])
        assert warehouse.stats(table, spec.layout)["rows"] == 7
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
        assert warehouse.replace_windows(HISTORY, spec.layout, [(week, *WEEK)]) == [0]
        inspector = sa.inspect(warehouse.engine)
        assert inspector.has_table(HISTORY, schema="drift") and not inspector.has_table(HISTORY)
        pd.testing.assert_frame_equal(warehouse.read(HISTORY, spec.layout), week, check_exact=True)
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
    assert pg_warehouse.replace_windows(HISTORY, spec.layout, [(frame, start, end)]) == [0]
    seconds = time.perf_counter() - began
    print(f"\nPostgreSQL COPY: {rows} rows x {len(spec.columns)} columns in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")

    assert pg_warehouse.stats(HISTORY, spec.layout)["rows"] == rows
    pd.testing.assert_frame_equal(pg_warehouse.read(HISTORY, spec.layout), frame, check_exact=True)


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg2", "postgresql+psycopg"])
def test_postgres_speaks_psycopg3_whatever_driver_the_url_names(pg_warehouse_url: str, scheme: str) -> None:
    """URLs written for psycopg2 (the earlier default, still in deployments' env files) keep working: the
    warehouse connects with psycopg 3, whose cursor.copy() streams the COPY."""
    url = sa.make_url(pg_warehouse_url).set(drivername=scheme).render_as_string(hide_password=False)
    warehouse = WarehouseResource(url=url)
    try:
        assert warehouse.engine.dialect.driver == "psycopg"
        with warehouse.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        warehouse.engine.dispose()


# An event table: many rows per timestamp, identified by (device, ts).
EVENT_SPEC = DatasetSpec.from_dict({
    "name": "readings", "datetime_column": "ts", "target": "value", "key_columns": ["device", "ts"],
    "reference_window": {"start": "2020-01-01", "end": "2020-01-28"}, "first_period": "2020-02-03",
    "columns": {"device": "str", "ts": "datetime", "load": "float", "value": "float"},
    "numerical_features": ["load"],
})  # fmt: skip


def _readings(start: str, hours: int, devices: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=hours, freq="h").repeat(devices)
    return pd.DataFrame({"device": [f"d{i:03d}" for i in range(devices)] * hours, "ts": times,
                         "load": rng.random(len(times)), "value": rng.random(len(times))})


def test_event_rows_keyed_by_entity_and_time(make_warehouse) -> None:
    """Many rows share a timestamp: the primary key is the spec's key; a period is replaced whole (its rows
    once, however often); a repeated key in one write rolls it back and leaves the table as it was."""
    layout = EVENT_SPEC.layout
    assert layout.key == ("device", "ts")
    warehouse = make_warehouse()
    week = (pd.Timestamp("2020-02-03"), pd.Timestamp("2020-02-10"))
    frame = _readings("2020-02-03", hours=7 * 24, devices=50, seed=1)
    for _ in range(3):
        warehouse.replace_windows(HISTORY, layout, [(frame, *week)])
    assert sa.inspect(warehouse.engine).get_pk_constraint(HISTORY)["constrained_columns"] == ["device", "ts"]
    back = warehouse.read(HISTORY, layout)
    assert len(back) == 7 * 24 * 50 and not back.duplicated(["device", "ts"]).any()
    expected = frame.sort_values(["ts", "device"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected)  # time order, then the rest of the key, on both backends

    twice = pd.concat([frame.iloc[:10], frame.iloc[:1]])
    with pytest.raises(sa.exc.IntegrityError):
        warehouse.replace_windows(HISTORY, layout, [(twice, *week)])
    pd.testing.assert_frame_equal(warehouse.read(HISTORY, layout), expected)


def test_fingerprint_follows_the_content(make_warehouse, spec: DatasetSpec, source_frame: pd.DataFrame) -> None:
    """The reference's drift statistics are keyed by this summary, computed in the database: the same table gives
    the same fingerprint on every call; changing one number, one category or one row changes it."""
    warehouse = make_warehouse()
    window = tuple(pd.Timestamp(t) for t in spec.reference_window)
    reference = _window(source_frame, window)
    columns = ["weathersit", "temp", "hum"]
    warehouse.replace_windows(HISTORY, spec.layout, [(reference, *window)])
    first = warehouse.fingerprint(HISTORY, spec.layout, columns)
    assert first == warehouse.fingerprint(HISTORY, spec.layout, columns)
    assert first["rows"] == 28 and first["temp"][0] == 28

    seen = [first]
    for changed in (reference.assign(temp=reference["temp"].where(reference.index != 3, 0.123456)),
                    reference.assign(weathersit=reference["weathersit"].where(reference.index != 5, 3)),
                    reference.drop(index=reference.index[-1])):
        warehouse.replace_windows(HISTORY, spec.layout, [(changed, *window)])
        now = warehouse.fingerprint(HISTORY, spec.layout, columns)
        assert now not in seen
        seen.append(now)
    warehouse.replace_windows(HISTORY, spec.layout, [(reference, *window)])
    assert warehouse.fingerprint(HISTORY, spec.layout, columns) == first


def test_labels_append_to_the_ledger_and_update_by_key_in_one_transaction(make_warehouse) -> None:
    """Landing labels: the ledger gets its rows and the target is set by key in each table that exists (the
    rows updated counted per table), in one transaction: when one update fails, the ledger's append is rolled
    back with it and no table changes."""
    from drift_platform.core.intake.labels import labels_layout

    warehouse, layout, ledger = make_warehouse(), EVENT_SPEC.layout, labels_layout(EVENT_SPEC)
    week = (pd.Timestamp("2020-02-03"), pd.Timestamp("2020-02-10"))
    frame = _readings("2020-02-03", hours=24, devices=5, seed=2).assign(value=np.nan)  # labels pending
    for name in (HISTORY, "readings_predictions"):
        warehouse.replace_windows(name, layout, [(frame, *week)])
    labels = frame.iloc[::3][["ts", "device"]].assign(value=np.arange(40) / 8)
    rows = labels.assign(revision=0, landed_at=pd.Timestamp("2026-01-05 10:00:00"), run_id="run-1")
    counts = warehouse.append_and_update("readings_labels", ledger, rows,
                                         [HISTORY, "readings_predictions", "readings_missing"],
                                         labels[["device", "ts", "value"]], "value")
    assert counts == [40, 40, 0]
    for name in (HISTORY, "readings_predictions"):
        back = warehouse.read(name, layout).set_index(["device", "ts"])["value"]
        expected = labels.set_index(["device", "ts"])["value"]
        assert back.notna().sum() == 40 and (back[expected.index] == expected).all()
    landed = warehouse.read("readings_labels", ledger)
    assert len(landed) == 40 and set(landed["run_id"]) == {"run-1"}

    before = {name: warehouse.read(name, layout) for name in (HISTORY, "readings_predictions")}
    warehouse.replace_windows("readings_other", TableLayout(columns={"ts": "datetime", "device": "str"},
                                                            time_column="ts", key_columns=("device", "ts")),
                              [(frame[["ts", "device"]], *week)])  # no target column: its update fails
    revised = rows.assign(revision=1, run_id="run-2", value=rows["value"] + 1)
    with pytest.raises(sa.exc.OperationalError if warehouse.engine.dialect.name == "sqlite"
                       else sa.exc.ProgrammingError):
        warehouse.append_and_update("readings_labels", ledger, revised, [HISTORY, "readings_other"],
                                    revised[["device", "ts", "value"]], "value")
    pd.testing.assert_frame_equal(warehouse.read("readings_labels", ledger), landed)
    for name, frame_before in before.items():
        pd.testing.assert_frame_equal(warehouse.read(name, layout), frame_before)
    # the same call without the failing table lands, and a repeat of it breaks the ledger's primary key
    assert warehouse.append_and_update("readings_labels", ledger, revised, [HISTORY],
                                       revised[["device", "ts", "value"]], "value") == [40]
    with pytest.raises(sa.exc.IntegrityError):
        warehouse.append_and_update("readings_labels", ledger, revised, [HISTORY],
                                    revised[["device", "ts", "value"]], "value")
    assert len(warehouse.read("readings_labels", ledger)) == 80
