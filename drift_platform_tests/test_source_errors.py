"""Bad input from a Parquet or SQL source, at the asset level: the bike monitor, with a week of history already,
runs its drift job for the next week from a broken source. Each run fails with a message naming the problem (the
file and the column, the table, the database), the history and the object store are unchanged, and no
credential shows in any log: the SQL source's URL carries a password and the object store (S3, whose keys the
Parquet reader gets) a secret key, and both are looked for in the run's event log, the instance's files (its
event database, the steps' captured stdout and stderr), Python logging and the process's own output.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from drift_platform.core.settings import Monitor, SqlSource
from drift_platform.resources import S3ObjectStore
from drift_platform_tests.conftest import BIKE_SOURCE, bike_monitor, local_resources
from drift_platform_tests.helpers import Platform, step_failure_message
from loopback import free_port, unique_name
from loopback.postgres import PostgresServer
from loopback.s3 import MotoServer

BASELINE_WEEK, WEEK = "2011-01-31", "2011-02-07"
MONTHS = ("2011-01", "2011-02", "2011-03")  # the source's months: the reference, the baseline week, the week
BROKEN_MONTH = "2011-02"
# Sentinels: trust auth ignores the password and moto any secret, but both travel with every read.
PASSWORD = "pgPASS7q/sentinel:x"
SECRET = "s3SECRET9z+sentinel/y"
SECRET_VARIABLE = "DRIFT_TEST_S3_SECRET"
SENTINELS = ("pgPASS7q", "s3SECRET9z")  # a part of each that survives URL-encoding
BIKE_COLUMNS = pacsv.read_csv(BIKE_SOURCE).column_names


class Captured(logging.Handler):
    """Every Python log record, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class World:
    """A bike monitor with one week of history (Parquet on S3), the servers and what the logs captured."""

    root: Path
    instance: dg.DagsterInstance
    baseline: Platform
    moto: MotoServer
    source_bucket: str
    store_bucket: str
    pg_url: str  # the SQL source's database, its URL with PASSWORD
    logged: Captured

    def state(self) -> dict:
        """The history (rows, content hash), the store's objects (key -> ETag), the IO manager's files, runs."""
        listed = self.moto.client().list_objects_v2(Bucket=self.store_bucket).get("Contents", [])
        io = sorted(str(p.relative_to(self.root)) for p in (self.root / "io").rglob("*") if p.is_file())
        return {"history_rows": len(self.baseline.history()), "history_sha256": self.baseline.history_hash(),
                "store": {o["Key"]: o["ETag"] for o in listed}, "io": io, "runs": len(self.instance.get_runs())}

    def parquet(self, name: str, broken: Callable[[pa.Table], pa.Table | bytes | None]) -> str:
        return parquet_source(self.moto, self.source_bucket, name, broken)

    def sql(self, **table_or_query: str) -> SqlSource:
        return SqlSource(url=self.pg_url, **table_or_query)


def monitor_for(source: str | SqlSource) -> Monitor:
    return bike_monitor().model_copy(update={"source": source})


def parquet_source(moto: MotoServer, bucket: str, name: str,
                   broken: Callable[[pa.Table], pa.Table | bytes | None] | None = None) -> str:
    """The bike months as s3://bucket/<name>/month=YYYY-MM/part-0.parquet, February's file `broken` (a table
    written instead, raw bytes, or None: no folder); the source's URL."""
    client, table = moto.client(), pacsv.read_csv(BIKE_SOURCE)
    months = pa.array([f"{d:%Y-%m}" for d in table.column("dteday").to_pylist()])
    for month in MONTHS:
        rows = table.filter(pc.equal(months, month))
        if month == BROKEN_MONTH and broken is not None:
            rows = broken(rows)
            if rows is None:
                continue
        body = rows if isinstance(rows, bytes) else parquet_bytes(rows)
        client.put_object(Bucket=bucket, Key=part_key(name, month), Body=body)
    return f"s3://{bucket}/{name}/"


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def part_key(name: str, month: str) -> str:
    return f"{name}/month={month}/part-0.parquet"


def retyped(column: str, typ: pa.DataType) -> Callable[[pa.Table], pa.Table]:
    return lambda t: t.set_column(t.schema.get_field_index(column), column, t[column].cast(typ))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Iterator[World]:
    import sqlalchemy as sa

    root = tmp_path_factory.mktemp("source_errors")
    logged, python = Captured(), logging.getLogger()
    level = python.level
    python.addHandler(logged)
    python.setLevel(logging.DEBUG)  # every library's records, debug included
    name = unique_name("source_errors_")
    url = sa.make_url(postgres_server.create_database(name)).set(password=PASSWORD)
    try:  # bike_days: the CSV's columns but `hum`, as text (the reader stops before any row)
        columns = ", ".join(f"{c} text" for c in BIKE_COLUMNS if c != "hum")
        postgres_server.execute(f"CREATE TABLE bike_days ({columns})", dbname=name)
        with dg.instance_for_test() as instance, MotoServer() as moto, pytest.MonkeyPatch.context() as env:
            env.setenv(SECRET_VARIABLE, SECRET)  # as deployment.py passes it: a literal would be in the job snapshot
            buckets = [moto.create_bucket(unique_name(kind)) for kind in ("source-", "store-")]
            store = S3ObjectStore(bucket=buckets[1], prefix="drift", s3_endpoint_url=moto.endpoint_url,
                                  aws_region="us-east-1", aws_access_key_id="testing",
                                  aws_secret_access_key=dg.EnvVar(SECRET_VARIABLE))
            good = monitor_for(parquet_source(moto, buckets[0], "good"))
            baseline = Platform(local_resources(root, store=store), instance, monitor=good)
            baseline.run_week(BASELINE_WEEK)  # the reference and a week of history, read from S3
            yield World(root, instance, baseline, moto, *buckets, url.render_as_string(hide_password=False), logged)
    finally:
        python.removeHandler(logged)
        python.setLevel(level)
        if postgres_server.running:
            postgres_server.drop_database(name)


@dataclass(frozen=True)
class Case:
    name: str
    source: Callable[[World], str | SqlSource]
    message: Callable[[World], str]  # what the failure must say
    retried: bool = False  # may pass on a later try: retried per monitor.retry, then fails


def february(world: World, name: str) -> str:
    return f"s3://{world.source_bucket}/{part_key(name, BROKEN_MONTH)}"


def database(world: World) -> str:
    import sqlalchemy as sa

    address = sa.make_url(world.pg_url)
    return f"postgresql+psycopg://{address.host}:{address.port}/{address.database}"


CASES = [
    Case("missing partition folder", lambda w: w.parquet("no_feb", lambda t: None),
         lambda w: f"source s3://{w.source_bucket}/no_feb/: missing partition folder(s) month=2011-02/: the window "
                   "[2011-02-07 00:00, 2011-02-14 00:00) needs them"),
    Case("parquet file lacking a column", lambda w: w.parquet("no_temp", lambda t: t.drop_columns(["temp"])),
         lambda w: f"file {february(w, 'no_temp')} lacks column 'temp', declared float"),
    Case("parquet column of another type", lambda w: w.parquet("temp_text", retyped("temp", pa.string())),
         lambda w: f"file {february(w, 'temp_text')}: column 'temp' has type string; the dataset spec "
                   "'bike_sharing_daily' declares float"),
    Case("unreadable parquet footer", lambda w: w.parquet("cut", lambda t: parquet_bytes(t)[:-20]),
         lambda w: f"file {february(w, 'cut')} has an unreadable Parquet footer"),
    Case("sql table that does not exist", lambda w: w.sql(table="no_such_table"),
         lambda w: f"table 'no_such_table' does not exist in {database(w)}: relation \"no_such_table\" does "
                   "not exist"),
    Case("sql table lacking a column", lambda w: w.sql(table="bike_days"),
         lambda w: "table 'bike_days' has no column(s) ['hum']; the dataset spec 'bike_sharing_daily' declares"),
    Case("sql query returning no datetime column",
         lambda w: w.sql(query="SELECT instant FROM bike_days WHERE :start < :end"),
         lambda w: "the query returns no datetime column 'dteday'"),
    Case("database down", lambda w: w.sql(table="bike_days").model_copy(update={"url": down_url()}),
         lambda w: "is unreachable: connection failed", retried=True),
]


def down_url() -> str:
    """A PostgreSQL URL (with the password) on a port nothing listens on: a database that is down."""
    return f"postgresql://reader:{PASSWORD.replace('/', '%2F').replace(':', '%3A')}@127.0.0.1:{free_port()}/bikes"


def leaks(texts: list[str], files: list[Path]) -> list[str]:
    """Where a sentinel shows: in which text (its first 80 characters) or file."""
    found = [f"{s!r} in {t[:80]!r}" for t in texts for s in SENTINELS if s in t]
    return found + [f"{s!r} in {p}" for p in files for s in SENTINELS if s.encode() in p.read_bytes()]


def logs(world: World, run_id: str, capfd) -> tuple[list[str], list[Path]]:
    """Everything the run may have logged: the run, its job and plan snapshots (stored compressed) and events,
    serialized whole; Python's records; the process's stdout and stderr; and the files of the instance (event
    database, the steps' captured stdout and stderr) and of the monitor's folder (warehouse, IO manager)."""
    output = capfd.readouterr()
    instance = world.instance
    run = instance.get_run_by_id(run_id)
    stored = [run, instance.get_job_snapshot(run.job_snapshot_id),
              instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id), *instance.all_logs(run_id)]
    files = [p for folder in (Path(world.instance.root_directory), world.root) for p in folder.rglob("*")
             if p.is_file()]
    return [*map(dg.serialize_value, stored), *world.logged.lines, output.out, output.err], files


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_source_fails_clearly_changes_nothing_and_leaks_no_credential(case: Case, world: World, capfd) -> None:
    import sqlalchemy as sa

    before = world.state()
    monitor = monitor_for(case.source(world))
    if isinstance(monitor.source, SqlSource):
        assert sa.make_url(monitor.source.url).password == PASSWORD  # the sentinel travels with the source
    platform = Platform(world.baseline.resources, world.instance, monitor=monitor)
    result = platform.run_week(WEEK, raise_on_error=False)
    assert not result.success

    texts, files = logs(world, result.run_id, capfd)
    assert leaks(texts, files) == []
    expected = case.message(world)
    captured = [p for p in files if result.run_id in str(p) and p.suffix == ".err"]
    assert any(expected in p.read_text() for p in captured)  # the scan reads the steps' captured stderr
    assert any(expected in text for text in texts)  # and the events

    message = step_failure_message(result)
    assert expected in message, message
    assert "LIMIT 0" not in message  # nor the statements the reader runs for itself
    restarts = sum(e.event_type_value == "STEP_RESTARTED" for e in result.all_events)
    assert restarts == (monitor.retry.max_retries if case.retried else 0)  # bad data is not retried
    assert f"week {WEEK}: " in message  # the period named, retried or not
    failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failed == [platform.op("current_batch")]  # nothing after it ran

    after = world.state()
    assert after.pop("runs") == before.pop("runs") + 1
    assert after == before  # history rows and hash, every object in the store, the IO manager's files
