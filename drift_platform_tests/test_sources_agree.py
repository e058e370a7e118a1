"""Same decisions from any source (issue 23): the bike sample as a CSV, as a hive-partitioned Parquet folder (a
folder a month), as a SQLite table and as a PostgreSQL table (the real server on loopback), each behind the shipped
bike monitor's defs.yaml with only its `source` replaced, runs `make demo`'s bike weeks (scripts/demo.py's
run_monitor: the reference, the weeks, the retrain sensor's retrains) on an instance and a data folder of its own.

Every run's materializations and check evaluations (drift decisions, p-values, models, gates, predictions' checks),
the history table and the predictions table are then the same to the last digit from all four. What differs is
only where the rows came from: the batches' `source`, `source_kind`, `rows_read`, `bytes_read`, `files_read`, each
checked for what its kind reads (a Parquet week opens only its month files; a database returns only the week's
rows). The PostgreSQL URL, with a password, comes from `{{ env.X }}` and shows in no event of the instance.
One run per source for the module (about 45 s each).

The shipped football monitor reads a Parquet folder written from its CSV (data/generate_football_parquet.py): the
folder holds what the script writes, and every week of its demo reads the same frame from both."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.ml.predictions import predictions_layout
from drift_platform_tests.conftest import BIKE_SOURCE, BIKE_SPEC, REPO
from drift_platform_tests.test_demo import load_demo_script
from drift_platform_tests.test_parquet_source import bike_table, write_by_month
from loopback import unique_name

SHIPPED = REPO / "drift_platform" / "defs" / "monitors" / "bike_sharing" / "defs.yaml"
NAME = "bike_sharing"
PASSWORD = "Src-Pa55/word"  # trust auth ignores it; no event may show it
URL_VARIABLE = "BIKE_SOURCE_DB_URL"
KINDS = ("csv", "parquet", "sqlite", "postgresql")
# Metadata that says where a period's rows came from, and not what was decided from them.
READ_KEYS = ("source", "source_kind", "rows_read", "bytes_read", "files_read")
# A model's artifact hash: a skops file is a zip holding its write time and Python object ids, so the same model
# saved twice hashes differently (the models are compared by what they predict instead).
ARTIFACT_KEYS = ("sha256",)
# Model versions are `<time of training>-<sha256 of the artifact>`: the same model trained at another time.
VERSION = re.compile(r"\b\d{8}T\d{12}Z-([0-9a-f]{8})\b")
RUN_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


@dataclass(frozen=True)
class DemoRun:
    """What one source's demo left: its summary, every materialization and check evaluation in order (as
    `(job, partition, asset or check, passed, metadata)`), the history and predictions tables, what each model it
    trained predicts for every day of the sample (oldest model first), and its events' text (to scan for the
    password)."""

    summary: dict
    events: list[tuple]
    history: pd.DataFrame
    predictions: pd.DataFrame
    models: list
    text: str


def source_yaml(kind: str, root: Path) -> str:
    """The `source:` of the monitor's defs.yaml for `kind`, writing its data under `root` (the database's URL is
    the environment's, set by the caller)."""
    if kind == "csv":
        return f"source: {BIKE_SOURCE}"
    if kind == "parquet":
        return f"source: {write_by_month(bike_table(), root / 'bike')}"
    return f'source: {{url: "{{{{ env.{URL_VARIABLE} }}}}", table: bike_days}}'


def write_table(url: str) -> None:
    """The sample CSV as the table `bike_days`, dteday as a date (SQLite: its ISO text)."""
    import sqlalchemy as sa

    frame = pd.read_csv(BIKE_SOURCE, parse_dates=["dteday"])
    engine = sa.create_engine(url)
    try:
        frame.to_sql("bike_days", engine, index=False, dtype={"dteday": sa.Date()})
    finally:
        engine.dispose()


class Comparable:
    """Metadata values as two runs can agree on them: model versions (`<time of training>-<hash of the artifact>`;
    a skops file holds its own write time) as v1, v2, ... in the order they first appear, run ids as <run>, and
    `None` for a value that names the run's own data folder (a report's path)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir, self.versions = str(data_dir), {}

    def version(self, match: re.Match) -> str:
        return self.versions.setdefault(match.group(0), f"v{len(self.versions) + 1}")

    def __call__(self, value):
        value = getattr(value, "value", value)
        if not isinstance(value, str):
            return value
        return None if self.data_dir in value else RUN_ID.sub("<run>", VERSION.sub(self.version, value))


def demo_events(instance: dg.DagsterInstance, comparable: Comparable) -> tuple[list[tuple], str]:
    """Every materialization and check evaluation of the instance's runs, oldest run first, and all events'
    messages and metadata as one text."""
    rows, text = [], []
    for run in sorted(instance.get_runs(), key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp):
        job = run.job_name.removeprefix(f"{NAME}_")
        for record in instance.all_logs(run.run_id):
            text.append(record.message or "")
            event = record.dagster_event
            if event is None or event.event_type_value not in ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"):
                continue
            data = event.event_specific_data
            if event.event_type_value == "ASSET_MATERIALIZATION":
                data = data.materialization
                name, passed = data.asset_key.path[-1], None
            else:
                name, passed = data.check_name, data.passed
            text.append(repr(data.metadata))
            metadata = {key: comparable(value) for key, value in data.metadata.items()}
            rows.append((job, run.tags.get("dagster/partition"), name, passed, metadata))
    return rows, "\n".join(text)


def run_demo(kind: str, root: Path, url: str | None, days: pd.DataFrame) -> DemoRun:
    """The bike monitor reading `kind`, through make demo's bike weeks, on a fresh instance and data folder;
    its models predict `days`."""
    from drift_platform.core.ml.model_registry import list_versions, load_model
    from drift_platform.definitions import build_definitions

    demo = load_demo_script()
    folder = root / "defs" / "monitors" / NAME
    folder.mkdir(parents=True)
    shipped = SHIPPED.read_text()
    assert len(re.findall(r"^  source: .*$", shipped, flags=re.M)) == 1
    (folder / "defs.yaml").write_text(re.sub(r"^  source: .*$", "  " + source_yaml(kind, root), shipped, flags=re.M))
    data_dir = root / "data"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DRIFT_DATA_DIR", str(data_dir))  # the demo's sensor cursors
        env.delenv("DRIFT_SOURCE_URL", raising=False)
        if url:
            env.setenv(URL_VARIABLE, url)
        defs = build_definitions(root / "defs", env={"DRIFT_DATA_DIR": str(data_dir)})
        with dg.instance_for_test() as instance:
            summary = demo.run_monitor(defs, instance, NAME, list(demo.DEMO_PERIODS[NAME]))
            comparable = Comparable(data_dir)
            events, text = demo_events(instance, comparable)
    warehouse, spec = defs.resources["warehouse"], DatasetSpec.from_yaml(BIKE_SPEC)
    history = warehouse.read(f"{NAME}_history", spec.layout)
    predictions = warehouse.read(f"{NAME}_predictions", predictions_layout(spec))
    summary = {key: [{k: comparable(v) for k, v in row.items()} for row in summary[key]]
               for key in ("periods", "retrains")}
    predictions["model_version"] = predictions["model_version"].map(comparable)
    store = defs.resources["store"].scoped(NAME)
    models = [load_model(store, v["version"])[0].predict(days[spec.features]) for v in list_versions(store)]
    return DemoRun(summary, events, history, predictions, models, text)


@pytest.fixture(scope="module")
def demo_of(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
            source_frame: pd.DataFrame) -> Iterator[Callable]:
    """`demo_of(kind)`: that source's demo run, made once for the module."""
    runs: dict[str, DemoRun] = {}
    databases: list[str] = []

    def get(kind: str) -> DemoRun:
        if kind not in runs:
            root = tmp_path_factory.mktemp(f"sources_{kind}")
            url = None
            if kind == "sqlite":
                url = f"sqlite:///{root / 'source.db'}"
            elif kind == "postgresql":
                import sqlalchemy as sa

                server = request.getfixturevalue("postgres_server")
                databases.append(unique_name("sources_agree_"))
                url = sa.make_url(server.create_database(databases[-1])).set(password=PASSWORD) \
                    .render_as_string(hide_password=False)
            if url:
                write_table(url)
            runs[kind] = run_demo(kind, root, url, source_frame)
        return runs[kind]

    yield get
    if databases:
        server = request.getfixturevalue("postgres_server")
        for name in databases:
            if server.running:
                server.drop_database(name)


@pytest.fixture(scope="module", params=[k for k in KINDS if k != "csv"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


def decisions(run: DemoRun) -> list[tuple]:
    """The events without the metadata that says where the rows came from, or an artifact's hash."""
    return [(*event[:4], {k: v for k, v in event[4].items() if k not in (*READ_KEYS, *ARTIFACT_KEYS)})
            for event in run.events]


@pytest.mark.slow
def test_the_demo_decides_the_same_from_every_source(demo_of: Callable, kind: str) -> None:
    """The summary make demo prints (drift, prediction drift, quality, multivariate, data quality, retrains and
    the gate), then every materialization's and check evaluation's metadata, run after run."""
    expected, run = demo_of("csv"), demo_of(kind)
    assert run.summary == expected.summary
    drifted = [row["period"] for row in expected.summary["periods"] if row["drift"] == "FAILED"]
    assert drifted and len(drifted) < len(expected.summary["periods"])  # some weeks drift, some do not
    assert expected.summary["retrains"], "the demo's drift retrains a model"
    assert len(run.events) == len(expected.events)
    for got, want in zip(decisions(run), decisions(expected), strict=True):
        assert got == want, f"{want[:3]}"
    assert len(run.models) == len(expected.models) == len(expected.summary["retrains"])
    for got, want in zip(run.models, expected.models, strict=True):
        assert np.array_equal(got, want)


@pytest.mark.slow
def test_history_and_predictions_are_the_same_rows(demo_of: Callable, kind: str) -> None:
    expected, run = demo_of("csv"), demo_of(kind)
    weeks = len(load_demo_script().DEMO_PERIODS[NAME])
    assert len(expected.history) == 28 + 7 * weeks  # the reference and each week
    pd.testing.assert_frame_equal(run.history, expected.history)
    assert len(expected.predictions) > 0
    pd.testing.assert_frame_equal(run.predictions, expected.predictions)


def batch_reads(run: DemoRun) -> dict[str, dict]:
    """Each week's current_batch metadata about its read, by partition."""
    return {event[1]: {k: event[4][k] for k in READ_KEYS} for event in run.events if event[2] == "current_batch"}


@pytest.mark.slow
@pytest.mark.parametrize("source", KINDS)
def test_each_period_says_what_its_kind_read(demo_of: Callable, source: str) -> None:
    """rows_read, bytes_read and files_read as each kind reads: a Parquet week opens its month files only (two
    across a month's end), a database sends the week's rows only, a CSV is read whole."""
    run = demo_of(source)
    reads = batch_reads(run)
    assert sorted(reads) == sorted(load_demo_script().DEMO_PERIODS[NAME])
    months_of = {week: {f"{day:%Y-%m}" for day in pd.date_range(week, periods=7)} for week in reads}
    assert max(len(m) for m in months_of.values()) == 2  # a week across a month's end is among them
    for week, read in reads.items():
        assert read["source_kind"] == ("sql" if source in ("sqlite", "postgresql") else source)
        if source == "csv":
            assert read["rows_read"] >= 7 and read["files_read"] == 1
            assert read["bytes_read"] <= BIKE_SOURCE.stat().st_size
        elif source == "parquet":
            root = Path(read["source"])
            files = [next((root / f"month={m}").glob("*.parquet")) for m in months_of[week]]
            assert read["rows_read"] == 7 and read["files_read"] == len(files), week
            assert 0 < read["bytes_read"] <= 2 * sum(f.stat().st_size for f in files), week
        else:
            assert read["rows_read"] == 7 and read["files_read"] == 0
            assert 0 < read["bytes_read"] < 3_000, week  # a week's rows, not the table's 731
            assert read["source"].endswith("table bike_days") and PASSWORD not in read["source"]


@pytest.mark.slow
def test_the_database_password_shows_in_no_event(demo_of: Callable) -> None:
    run = demo_of("postgresql")
    assert "table bike_days" in run.text and PASSWORD not in run.text


# --- the shipped football monitor's Parquet folder ---------------------------------------------------------------
FOOTBALL_CSV, FOOTBALL_FOLDER = REPO / "data" / "football_matches.csv", REPO / "data" / "football_matches"


def football_script():
    """data/generate_football_parquet.py as a module (a script beside the data, not part of the package)."""
    import importlib.util

    path = REPO / "data" / "generate_football_parquet.py"
    module_spec = importlib.util.spec_from_file_location("_football_parquet", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_the_football_folder_is_what_its_script_writes() -> None:
    import pyarrow.parquet as pq

    months = football_script().months(FOOTBALL_CSV)
    stored = sorted(path.parent.name for path in FOOTBALL_FOLDER.rglob("*.parquet"))
    assert stored == [f"month={month}" for month in months], "regenerate: python data/generate_football_parquet.py"
    for month, table in months.items():
        assert pq.read_table(FOOTBALL_FOLDER / f"month={month}" / "part-0.parquet").equals(table), month
    assert sum(t.num_rows for t in months.values()) == len(pd.read_csv(FOOTBALL_CSV))
    assert sum(p.stat().st_size for p in FOOTBALL_FOLDER.rglob("*.parquet")) < 500_000


def test_the_football_demo_weeks_read_the_same_from_the_folder_and_the_csv() -> None:
    """The reference window and each week the football demo runs: the same conformed frame (London time) from
    the Parquet folder as from the CSV, opening only the files of the months the window touches, in London time
    or in UTC (the reader cannot tell which a folder's month is: 2022-08-01 00:00 BST is July in UTC)."""
    from zoneinfo import ZoneInfo

    from drift_platform.core.intake.window import read_window

    spec = DatasetSpec.from_yaml(REPO / "data" / "football.yaml")
    weeks = [p for p in load_demo_script().DEMO_PERIODS["football"] if p[:1].isdigit()]
    windows = [spec.reference_window] + [(pd.Timestamp(w), pd.Timestamp(w) + pd.Timedelta(days=7)) for w in weeks]
    for start, end in windows:
        csv, parquet = (read_window(str(source), spec, start, end, timezone="Europe/London")
                        for source in (FOOTBALL_CSV, FOOTBALL_FOLDER))
        pd.testing.assert_frame_equal(parquet.frame, csv.frame)
        assert parquet.kind == "parquet" and parquet.rows_read == len(csv.frame) > 0
        offset = ZoneInfo("Europe/London").utcoffset(start)
        months = pd.period_range(min(start, start - offset), max(end, end - offset) - pd.Timedelta(1), freq="M")
        assert parquet.files_read == len(months), (start, list(months))
    assert parquet.files_read == 2  # 2022-08-01 opens July's (empty) file too
