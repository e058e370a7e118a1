"""Bad input: each malformed case fails with a clear error that names the problem, and nothing downstream
changes — not the history (row count and content hash), not the model pointer, no alert, no retrain."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from drift_platform.settings import DEFAULT_SOURCE_PATH, DEFAULT_SPEC_PATH
from drift_platform_tests.conftest import local_resources, slack_alerter
from drift_platform_tests.fixtures.http_source import HttpSource
from drift_platform_tests.fixtures.slack import SlackRecorder
from drift_platform_tests.helpers import Platform, step_failure_message

BASELINE_WEEK, WEEK = "2011-01-31", "2011-02-07"
WEEK_DAYS = [f"2011-02-{d:02d}" for d in range(7, 14)]


def source() -> pd.DataFrame:
    return pd.read_csv(DEFAULT_SOURCE_PATH, dtype=str)


def in_week(frame: pd.DataFrame) -> pd.Series:
    return frame["dteday"].isin(WEEK_DAYS)


def edit_week(column: str, values: list) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame.index[in_week(frame)][: len(values)]
        frame = frame.copy()
        frame[column] = frame[column].astype(object)
        frame.loc[rows, column] = values
        return frame

    return edit


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


@dataclass
class Case:
    """How to break the input (a source file, a batch file, a URL or a spec) and what the error must say."""

    name: str
    message: str
    frame: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    raw: Callable[[bytes], bytes] | None = None
    batch_file: bool = False  # the file is given as this run's batch (must hold only the week)
    http: tuple[int, str] | None = None  # serve over HTTP with this status and content type
    url: str | None = None
    spec: Callable[[dict], dict] | str | None = None


CASES = [
    Case("missing feature column", "missing required column(s) ['hum']", frame=lambda f: f.drop(columns=["hum"])),
    Case("text in a numeric column", "column 'temp' must be float: non-numeric value in 1 row(s), e.g. row",
         frame=edit_week("temp", ["warm"])),
    Case("fractional value in an int column", "column 'season' must be int: fractional value",
         frame=edit_week("season", ["1.5"])),
    Case("unparseable dates", "column 'dteday': unparseable datetime in 1 row(s) of the source, e.g. ['07/02/2011x']",
         frame=edit_week("dteday", ["07/02/2011x"])),
    Case("dates outside the week", "datetimes outside the window [2011-02-07, 2011-02-14) in 1 row(s)",
         frame=lambda f: f[in_week(f) | (f["dteday"] == "2011-03-01")], batch_file=True),
    Case("duplicate dates", "column 'dteday': duplicate datetimes in 2 row(s)",
         frame=edit_week("dteday", ["2011-02-07", "2011-02-07"])),
    Case("empty week", "no rows with 'dteday' in [2011-02-07, 2011-02-14): the week is empty",
         frame=lambda f: f[~in_week(f)]),
    Case("all-NaN column", "column 'hum': 7 of 7 values missing (100%), above max_missing_share 20%",
         frame=edit_week("hum", [None] * 7)),
    Case("too many scattered NaNs", "column 'windspeed': 2 of 7 values missing (29%), above max_missing_share 20%",
         frame=edit_week("windspeed", [None, None])),
    Case("negative target", "target 'cnt' must be non-negative: 1 row(s), e.g. row", frame=edit_week("cnt", ["-12"])),
    Case("truncated file", "looks truncated: its last line has 4 fields, the header 16",
         raw=lambda b: b[: b.index(b"2011-02-09")] + b"2011-02-09,1,0"),
    Case("non-UTF-8 bytes", "is not UTF-8 text: invalid byte at offset",
         raw=lambda b: b.replace(b"2011-02-08,", b"2011-02-08\xff\xfe,", 1)),
    Case("HTML error page from the URL", "returned an HTML page, not CSV (Content-Type 'text/html; charset=utf-8')",
         raw=lambda b: b"<!DOCTYPE html><html><body><h1>Service unavailable</h1></body></html>",
         http=(200, "text/html; charset=utf-8")),
    Case("URL answers 404", "answered HTTP 404", http=(404, "text/plain")),
    Case("unsupported URL scheme", "scheme 'ftp' is not supported; use http, https, s3, file or a path",
         url="ftp://files.example.com/day.csv"),
    Case("file over the row cap", "7 rows in the window exceed the cap max_rows=5",
         spec=lambda s: {**s, "max_rows": 5}),
    Case("spec file that is itself invalid", "categorical_features` names columns not declared in `columns`: ['colour']",
         spec=lambda s: {**s, "categorical_features": [*s["categorical_features"], "colour"]}),
    Case("spec file that is not YAML", "is not valid YAML", spec="name: [unclosed\n"),
]


@dataclass
class World:
    root: Path
    instance: dg.DagsterInstance
    slack: SlackRecorder
    baseline: Platform
    http: HttpSource

    def state(self) -> dict:
        store = self.root / "models" / "models" / "latest.json"
        return {
            "history_rows": len(self.baseline.history()),
            "history_sha256": self.baseline.history_hash(),
            "model_pointer": store.read_bytes(),
            "alerts": len(self.slack.requests),
            "runs": len(self.instance.get_runs()),
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory, slack_server: SlackRecorder) -> Iterator[World]:
    root = tmp_path_factory.mktemp("bad_input")
    with dg.instance_for_test() as instance, HttpSource() as http:
        slack_server.reset()
        baseline = Platform(local_resources(root, alerts=slack_alerter(slack_server, max_retries=0)), instance)
        baseline.run_week(BASELINE_WEEK)
        baseline.run_week("2011-07-04")  # a drifting week: its retrain and alert are the baseline's
        [request] = baseline.tick().run_requests
        baseline.retrain(tags=request.tags)
        yield World(root, instance, slack_server, baseline, http)


def prepare(case: Case, world: World, tmp: Path) -> tuple[dict, dict | None]:
    """Resources (same warehouse, stores and IO as the baseline) and run config for the broken input."""
    data = csv_bytes(case.frame(source())) if case.frame else DEFAULT_SOURCE_PATH.read_bytes()
    if case.raw:
        data = case.raw(data)
    path = tmp / "source.csv"
    path.write_bytes(data)
    where = str(path)
    if case.http:
        where = world.http.serve(f"/{tmp.name}.csv", data, status=case.http[0], content_type=case.http[1])
    if case.url:
        where = case.url
    spec_path = DEFAULT_SPEC_PATH
    if case.spec is not None:
        spec_path = tmp / "spec.yaml"
        text = case.spec if isinstance(case.spec, str) else yaml.safe_dump(case.spec(yaml.safe_load(DEFAULT_SPEC_PATH.read_text())))
        spec_path.write_text(text)
    batch = {"ops": {"current_batch": {"config": {"batch_url": where}}}} if case.batch_file else None
    resources = local_resources(world.root, source=DEFAULT_SOURCE_PATH if case.batch_file else where,
                                spec_path=spec_path, alerts=world.baseline.resources["alerts"])
    return resources, batch


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_fails_clearly_and_changes_nothing(case: Case, world: World, tmp_path: Path) -> None:
    before = world.state()
    resources, run_config = prepare(case, world, tmp_path)
    platform = Platform(resources, world.instance)
    result = platform.run_week(WEEK, run_config=run_config, raise_on_error=False)
    assert not result.success
    message = step_failure_message(result)
    assert case.message in message, message
    assert f"week {WEEK}" in message
    # nothing was retried: bad data does not get better by retrying
    assert sum(e.event_type_value == "STEP_RESTARTED" for e in result.all_events) == 0

    world.baseline.cursor, tick = world.baseline.cursor, world.baseline.tick()
    assert tick.run_requests == []  # no retrain
    after = world.state()
    assert after.pop("runs") == before.pop("runs") + 1  # only the failed run itself
    assert after == before  # history rows and hash, model pointer, alerts


def test_a_url_that_answers_500_is_retried_then_fails_clearly(world: World, tmp_path: Path, monkeypatch) -> None:
    before = world.state()
    url = world.http.serve("/flaky.csv", b"upstream exploded", status=500, content_type="text/plain")
    platform = Platform(local_resources(world.root, source=url, alerts=world.baseline.resources["alerts"]),
                        world.instance)
    result = platform.run_week(WEEK, raise_on_error=False)
    assert not result.success
    assert "answered HTTP 500" in step_failure_message(result)
    assert sum(e.event_type_value == "STEP_RESTARTED" for e in result.all_events) == 2  # the retry policy
    assert world.baseline.tick().run_requests == []
    after = world.state()
    after.pop("runs"), before.pop("runs")
    assert after == before


@pytest.mark.parametrize(
    ("name", "edit", "metadata_key", "reported"),
    [
        ("extra unknown column", lambda f: f.assign(operator_note="checked"), "ignored_columns", "operator_note"),
        ("constant column", edit_week("weathersit", ["2"] * 7), "constant_columns", "weathersit"),
        ("scattered NaNs within the policy", edit_week("hum", [None]), "missing_values", 1),
    ],
)
def test_accepted_oddities_are_reported(name, edit, metadata_key, reported, tmp_path, instance) -> None:
    path = tmp_path / "source.csv"
    path.write_bytes(csv_bytes(edit(source())))
    platform = Platform(local_resources(tmp_path, source=path), instance)
    result = platform.run_week(WEEK)
    meta = result.asset_materializations_for_node("current_batch")[0].metadata
    assert reported == meta[metadata_key].value or str(reported) in str(meta[metadata_key].value)
    history = platform.history()
    assert len(history) == 28 + 7 and history["dteday"].is_unique
    if name.startswith("scattered"):
        assert history["hum"].isna().sum() == 1  # kept as NULL; training drops the row
        trained = platform.retrain().asset_materializations_for_node("trained_model")[0].metadata
        assert trained["train_rows"].value + trained["holdout_rows"].value == 28 + 7 - 1


def test_invalid_spec_stops_the_code_location_with_its_reason(tmp_path) -> None:
    import subprocess
    import sys

    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\ncolumns: {a: int}\n")
    result = subprocess.run(
        [sys.executable, "-c", "import drift_platform.definitions"], capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "DRIFT_DATASET_SPEC": str(spec), "DAGSTER_HOME": str(tmp_path)},
    )
    assert result.returncode != 0
    assert f"dataset spec {spec}: required keys missing: ['datetime_column', 'target']" in result.stderr
