"""Bad input: each malformed case fails with a clear error that names the problem, and nothing downstream
changes — not the history (row count and content hash), not the model pointer, no alert, no retrain."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from drift_platform.core.settings import Monitor
from drift_platform_tests.conftest import BIKE_SOURCE, BIKE_SPEC, bike_monitor, local_resources, slack_alerter
from drift_platform_tests.fixtures.http_source import HttpSource
from drift_platform_tests.fixtures.slack import SlackRecorder
from drift_platform_tests.helpers import Platform, step_failure_message

BASELINE_WEEK, WEEK = "2011-01-31", "2011-02-07"
WEEK_DAYS = [f"2011-02-{d:02d}" for d in range(7, 14)]


def source() -> pd.DataFrame:
    return pd.read_csv(BIKE_SOURCE, dtype=str)


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
    """How to break the input (a source file, a batch file, a URL or the spec's limits) and what the error must
    say. A spec that cannot be read at all stops the code location instead (test_invalid_spec_stops_...)."""

    name: str
    message: str
    frame: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    raw: Callable[[bytes], bytes] | None = None
    batch_file: bool = False  # the file is given as this run's batch (must hold only the week)
    http: tuple[int, str] | None = None  # serve over HTTP with this status and content type
    url: str | None = None
    spec: Callable[[dict], dict] | None = None


CASES = [
    Case("missing feature column", "missing required column(s) ['hum']", frame=lambda f: f.drop(columns=["hum"])),
    Case("text in a numeric column", "column 'temp' must be float: non-numeric value in 1 row(s), e.g. row",
         frame=edit_week("temp", ["warm"])),
    Case("fractional value in an int column", "column 'season' must be int: fractional value",
         frame=edit_week("season", ["1.5"])),
    Case("unparseable dates", "column 'dteday': unparseable datetime in 1 row(s), e.g. row 37: dteday='07/02/2011x'; expected ISO 8601",
         frame=edit_week("dteday", ["07/02/2011x"])),
    Case("dates outside the week", "datetimes outside the window [2011-02-07, 2011-02-14) in 1 row(s)",
         frame=lambda f: f[in_week(f) | (f["dteday"] == "2011-03-01")], batch_file=True),
    Case("duplicate dates", "column 'dteday': duplicate datetimes in 2 row(s)",
         frame=edit_week("dteday", ["2011-02-07", "2011-02-07"])),
    Case("empty week", "no rows with 'dteday' in [2011-02-07 00:00, 2011-02-14 00:00): the period is empty",
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
]


@dataclass
class World:
    root: Path
    instance: dg.DagsterInstance
    slack: SlackRecorder
    baseline: Platform
    http: HttpSource

    def state(self) -> dict:
        store = self.root / "store" / "bike_sharing" / "models" / "latest.json"
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


def prepare(case: Case, world: World, tmp: Path) -> tuple[Monitor, dict, dict | None]:
    """The monitor (reading the broken input), resources (same warehouse, store and IO as the baseline) and run
    config."""
    data = csv_bytes(case.frame(source())) if case.frame else BIKE_SOURCE.read_bytes()
    if case.raw:
        data = case.raw(data)
    path = tmp / "source.csv"
    path.write_bytes(data)
    where = str(path)
    if case.http:
        where = world.http.serve(f"/{tmp.name}.csv", data, status=case.http[0], content_type=case.http[1])
    if case.url:
        where = case.url
    spec_path = BIKE_SPEC
    if case.spec is not None:
        spec_path = tmp / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(case.spec(yaml.safe_load(BIKE_SPEC.read_text()))))
    batch = {"ops": {"bike_sharing__current_batch": {"config": {"batch_url": where}}}} if case.batch_file else None
    monitor = bike_monitor(source=BIKE_SOURCE if case.batch_file else where, spec=spec_path)
    resources = local_resources(world.root, alerts=world.baseline.resources["alerts"])
    return monitor, resources, batch


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_fails_clearly_and_changes_nothing(case: Case, world: World, tmp_path: Path) -> None:
    before = world.state()
    monitor, resources, run_config = prepare(case, world, tmp_path)
    platform = Platform(resources, world.instance, monitor=monitor)
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
    platform = Platform(local_resources(world.root, alerts=world.baseline.resources["alerts"]), world.instance,
                        monitor=bike_monitor(source=url))
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
    platform = Platform(local_resources(tmp_path), instance, monitor=bike_monitor(source=path))
    result = platform.run_week(WEEK)
    meta = result.asset_materializations_for_node(platform.op("current_batch"))[0].metadata
    assert reported == meta[metadata_key].value or str(reported) in str(meta[metadata_key].value)
    history = platform.history()
    assert len(history) == 28 + 7 and history["dteday"].is_unique
    if name.startswith("scattered"):
        assert history["hum"].isna().sum() == 1  # kept as NULL; training drops the row
        trained = platform.retrain().asset_materializations_for_node(platform.op("trained_model"))[0].metadata
        assert trained["train_rows"].value + trained["holdout_rows"].value == 28 + 7 - 1


def load_code_location(env: dict[str, str], defs_folder: Path | None = None) -> subprocess.CompletedProcess:
    """Load the code location in a fresh process, as the code server does: the shipped monitors (importing
    drift_platform.definitions) and, if given, another defs folder through build_definitions."""
    script = "import drift_platform.definitions"
    if defs_folder is not None:
        script += (
            "\nimport sys\nfrom pathlib import Path\nfrom drift_platform.definitions import build_definitions"
            "\nbuild_definitions(defs_folder=Path(sys.argv[1]), env={'DAGSTER_HOME': sys.argv[2]})"
        )
    home = env["DAGSTER_HOME"]
    return subprocess.run(
        [sys.executable, "-c", script, *([str(defs_folder), home] if defs_folder else [])], capture_output=True,
        text=True, timeout=300, env={"PATH": "/usr/bin:/bin", **env},
    )


def bike_spec_with(**changes) -> dict:
    return {**yaml.safe_load(BIKE_SPEC.read_text()), **changes}


@dataclass
class SpecCase:
    """A monitor whose spec cannot be used: a spec file (YAML text) beside its defs.yaml, or the mapping inline."""

    name: str
    message: str
    text: str | None = None
    inline: dict | None = None
    names_spec_file: bool = True  # the spec file is named (not for inline specs, nor when the spec itself is valid)


SPEC_CASES = [
    SpecCase("spec file missing required keys", "missing required key `datetime_column`; missing required key `target`",
             text="name: x\ncolumns: {a: int}\n"),
    SpecCase("spec file that is itself invalid", "categorical_features` names columns not declared in `columns`: ['colour']",
             text=yaml.safe_dump(bike_spec_with(categorical_features=[*bike_spec_with()["categorical_features"], "colour"]))),
    SpecCase("spec file that is not YAML", "is not valid YAML", text="name: [unclosed\n"),
    SpecCase("inline spec with an unknown key", "unknown key `colour`",
             inline=bike_spec_with(colour="blue"), names_spec_file=False),
    SpecCase("first week that is not a Monday", "spec.first_period: 2011-02-01 must be a Monday for a weekly monitor",
             text=yaml.safe_dump(bike_spec_with(first_week="2011-02-01")), names_spec_file=False),
]


@pytest.mark.parametrize("case", SPEC_CASES, ids=[c.name for c in SPEC_CASES])
def test_invalid_spec_stops_the_code_location_with_its_reason(case: SpecCase, tmp_path: Path) -> None:
    folder = tmp_path / "defs" / "monitors" / "bike"
    folder.mkdir(parents=True)
    spec = folder / "spec.yaml"
    if case.text is not None:
        spec.write_text(case.text)
    defs_yaml = folder / "defs.yaml"
    attributes = {"spec": case.inline if case.inline is not None else "spec.yaml", "source": str(BIKE_SOURCE),
                  "cadence": "weekly"}
    defs_yaml.write_text(yaml.safe_dump({"type": "drift_platform.DriftMonitor", "attributes": attributes},
                                        sort_keys=False))
    result = load_code_location({"DAGSTER_HOME": str(tmp_path)}, defs_folder=tmp_path / "defs")
    assert result.returncode != 0
    assert str(defs_yaml) in result.stderr, result.stderr  # where the problem is
    if case.names_spec_file:
        assert f"dataset spec {spec}" in result.stderr  # which spec file
    assert case.message in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("variable", "instead"),
    [
        ("DRIFT_MODEL_STORE", "DRIFT_STORE_URL (models are kept in <store>/<monitor>/models/)"),
        ("DRIFT_DATASET_SPEC", "`spec:` in each monitor's defs.yaml"),
    ],
)
def test_a_retired_variable_stops_the_code_location_naming_its_replacement(variable, instead, tmp_path) -> None:
    result = load_code_location({"DAGSTER_HOME": str(tmp_path), variable: "/x"})
    assert result.returncode != 0
    assert f"SettingsError: {variable} is no longer read: use {instead}" in result.stderr, result.stderr


# --- a model recipe that cannot work stops the load, naming the defs.yaml and the key -------------------------
CHURN_SPEC = BIKE_SPEC.parent / "churn.yaml"
RECIPE_CASES = {
    "unknown class": (BIKE_SPEC, {"estimator": "sklearn.linear_model.NoSuchRegressor"},
                      "training.estimator: 'sklearn.linear_model.NoSuchRegressor': module 'sklearn.linear_model' "
                      "has no class 'NoSuchRegressor'"),
    "unknown module": (BIKE_SPEC, {"estimator": "nosuchpackage.Model"},
                       "training.estimator: 'nosuchpackage.Model' cannot be imported: No module named 'nosuchpackage'"),
    "metric of another task": (BIKE_SPEC, {"metric": "roc_auc"},
                               "training.metric: 'roc_auc' does not fit the spec's task 'regression'"),
    "unknown metric": (CHURN_SPEC, {"metric": "auc"}, "training.metric: 'auc' is not a metric"),
    "no predict_proba": (CHURN_SPEC, {"estimator": "sklearn.svm.LinearSVC", "metric": "roc_auc"},
                         "training.estimator: 'sklearn.svm.LinearSVC' has no predict_proba(), which training.metric "
                         "'roc_auc' needs"),
    "rmsle of a target that may be negative": (
        BIKE_SPEC, {"metric": "rmsle"}, "training.metric: rmsle needs a non-negative target"),
    "a regressor for a classifier": (CHURN_SPEC, {"estimator": "sklearn.linear_model.Ridge"},
                                     "training.estimator: 'sklearn.linear_model.Ridge' is a scikit-learn regressor"),
    "a grid of another estimator's parameters": (
        CHURN_SPEC, {"param_grid": {"alpha": [1.0]}},
        "training.param_grid: ['alpha'] are not parameters of 'sklearn.linear_model.LogisticRegression'"),
    "a classifier for a regression": (
        BIKE_SPEC, {"estimator": "sklearn.ensemble.HistGradientBoostingClassifier"},
        "training.estimator: 'sklearn.ensemble.HistGradientBoostingClassifier' is not a scikit-learn regressor"),
}


@pytest.mark.parametrize("case", list(RECIPE_CASES))
def test_a_recipe_that_cannot_work_stops_the_load(case: str, tmp_path: Path) -> None:
    from drift_platform.definitions import build_definitions

    spec_path, training, message = RECIPE_CASES[case]
    folder = tmp_path / "defs" / "monitors" / "recipe"
    folder.mkdir(parents=True)
    spec = yaml.safe_load(spec_path.read_text())
    if case.startswith("rmsle"):
        spec["target_nonnegative"] = False
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    attributes = {"spec": "spec.yaml", "source": str(BIKE_SOURCE), "cadence": "weekly", "training": training}
    defs_yaml = folder / "defs.yaml"
    defs_yaml.write_text(yaml.safe_dump({"type": "drift_platform.DriftMonitor", "attributes": attributes}))
    with pytest.raises(Exception) as excinfo:
        build_definitions(defs_folder=tmp_path / "defs", env={"DRIFT_DATA_DIR": str(tmp_path / "data")})
    chain, error = [], excinfo.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    text = "\n".join(chain)
    assert str(defs_yaml) in text and message in text, text


def test_a_known_recipe_loads_and_a_default_one_imports_nothing(tmp_path: Path) -> None:
    """The shipped monitors (the churn monitor names LogisticRegression with its own grid) load without
    scikit-learn: the default estimators are checked against their known parameters."""
    probe = ("import sys, drift_platform.definitions as d; "
             "print(sorted(m for m in ('sklearn', 'scipy', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                          cwd=BIKE_SPEC.parents[1])
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "[]", done.stderr[-2000:]


# --- a classifier's labels: the known classes, or a contract error naming the rows -------------------------------
def label_spec(**changes):
    from drift_platform.core.intake.dataset import DatasetSpec

    return DatasetSpec.from_dict({
        "name": "tickets", "datetime_column": "ts", "target": "level", "task": "multiclass",
        "columns": {"ts": "datetime", "x": "float", "level": "str"}, "numerical_features": ["x"],
        "reference_window": {"start": "2024-01-01", "end": "2024-01-07"}, "first_period": "2024-01-08", **changes,
    })  # fmt: skip


def label_frame(levels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"ts": pd.date_range("2024-01-08", periods=len(levels), freq="h").astype(str),
                         "x": [1.0] * len(levels), "level": levels})


def test_a_label_outside_the_known_classes_is_a_contract_error_naming_the_rows() -> None:
    from drift_platform.core.intake.contract import DataContractError, conform

    spec = label_spec(classes=["low", "mid", "high"])
    frame = label_frame(["low", "mid", "urgent", "high", "urgent"])
    with pytest.raises(DataContractError) as excinfo:
        conform(frame, spec)
    message = str(excinfo.value)
    assert "label(s) ['urgent'] outside the known classes ['high', 'low', 'mid']" in message
    assert "2 row(s), e.g. row 2: level='urgent'; row 4: level='urgent'" in message
    assert "unknown_class: admit" in message
    # classes taken from the reference (the spec gives none): the same rule with the classes passed
    with pytest.raises(DataContractError, match=r"label\(s\) \['urgent'\]"):
        conform(frame, label_spec(), classes=["high", "low", "mid"])
    assert len(conform(frame, label_spec())) == 5  # no known classes yet: nothing to check against


def test_admit_keeps_a_new_class_and_reports_it() -> None:
    from drift_platform.core.intake.contract import conform, unknown_labels
    from drift_platform.core.ml.training import model_classes

    spec = label_spec(classes=["low", "mid", "high"], unknown_class="admit")
    out = conform(label_frame(["low", "mid", "urgent", "high"]), spec)
    assert len(out) == 4 and unknown_labels(out, spec).tolist() == [False, False, True, False]
    assert model_classes(out, spec) == ["high", "low", "mid", "urgent"]  # a new class, after the known ones


@pytest.mark.parametrize(("changes", "message"), [
    ({"task": "binary", "classes": ["a", "b", "c"]}, "`classes` must hold exactly 2 classes for task binary"),
    ({"classes": ["a", "b"]}, "`classes` must hold at least 3 classes for task multiclass"),
    ({"task": "binary", "classes": ["a", "b"], "positive_class": "c"}, "`positive_class` 'c' is not one of"),
    ({"task": "binary", "classes": [True, False]}, "quote them"),
    ({"task": "regression"}, "target 'level' must be declared in `columns` as int or float for task regression"),
])  # fmt: skip
def test_a_classification_spec_that_does_not_fit_is_refused(changes: dict, message: str) -> None:
    from drift_platform.core.intake.dataset import DatasetSpecError

    with pytest.raises(DatasetSpecError, match=message.replace("(", r"\(").replace("[", r"\[")):
        label_spec(**changes)
