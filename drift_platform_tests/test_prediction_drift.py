"""Prediction drift and target drift (core/stats/outputs.py, the drift report, `no_prediction_drift`).

On the shipped churn sample (a binary classifier, ~300 rows a week against a 1,776-row reference) and the bike
sample (a regression, 28 reference rows): each output column's score and decision equal Evidently's own
`ValueDrift` on the same two frames; a period whose logged predictions shift while its inputs do not fails
`no_prediction_drift` and passes `no_dataset_drift`, the quiet weeks pass both; and through a real Dagster
materialization the drift report tests the champion's predictions once there is one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.ml.predictions import predictions_frame
from drift_platform.core.settings import CAT, NUM, Monitor, PredictionDriftSettings
from drift_platform.core.stats.outputs import (
    ModelOutputs,
    build_output_stats,
    judge_outputs,
    output_drift,
    output_kinds,
    target_drift,
)
from drift_platform_tests.conftest import BIKE_SOURCE, REPO
from drift_platform_tests.helpers import Platform, check_evaluations

CHURN_SPEC = REPO / "data" / "churn.yaml"
CHURN_SOURCE = REPO / "data" / "churn_snapshots.csv"
REFERENCE_END = "2023-02-13"
QUIET_WEEKS = ["2023-02-13", "2023-02-20", "2023-02-27", "2023-03-06", "2023-04-10", "2023-04-17"]
PRICE_RISE_WEEK = "2023-05-08"  # monthly_charges and support_tickets drift; the model predicts more churn
STALE_WEEK = "2023-04-24"  # a quiet week whose logged predictions come from a model gone stale


def week(frame: pd.DataFrame, start: str, column: str) -> pd.DataFrame:
    begin = pd.Timestamp(start)
    return frame[(frame[column] >= begin) & (frame[column] < begin + pd.Timedelta(days=7))]


@pytest.fixture(scope="module")
def churn():
    """The churn sample as the contract types it (Jan - Jun 2023), its spec and a model trained on the reference
    window with the platform's recipe (LogisticRegression, log loss), and its classes."""
    from drift_platform.core.intake.source import load_window
    from drift_platform.core.ml.training import model_classes, train

    spec = DatasetSpec.from_yaml(CHURN_SPEC)
    frame, _ = load_window(str(CHURN_SOURCE), spec, pd.Timestamp("2023-01-02"), pd.Timestamp("2023-07-03"))
    reference = frame[frame[spec.datetime_column] < pd.Timestamp(REFERENCE_END)]
    return spec, frame, reference, train(reference, spec).model, model_classes(reference, spec)


@pytest.fixture(scope="module")
def bike(source_frame):
    """The bike sample, its spec and a regression trained on its first nine weeks (the lifecycle tests' way)."""
    from drift_platform.core.ml.training import train

    spec = DatasetSpec.from_yaml(REPO / "data" / "bike_sharing.yaml")
    return spec, source_frame, train(source_frame[source_frame["dteday"] < "2011-03-07"], spec).model


# --- (1) each output column's score and decision are Evidently's ------------------------------------------------
def evidently_value_drift(reference: pd.Series, current: pd.Series, kind: str, settings: PredictionDriftSettings):
    """Evidently's own ValueDrift of one column (the spec's type through a DataDefinition): (method, score,
    threshold, drifted) as its snapshot reports them (the bound test's FAIL = drifted)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    column = str(reference.name)
    definition = DataDefinition(numerical_columns=[column] if kind == NUM else [],
                                categorical_columns=[column] if kind == CAT else [])
    drift = settings.drift_settings()
    metric = ValueDrift(column=column, method=drift.column_method(column, kind),
                        threshold=drift.column_threshold(column, kind))
    data = Report([metric], include_tests=True).run(
        Dataset.from_pandas(current.to_frame(), data_definition=definition),  # current first, then reference
        Dataset.from_pandas(reference.to_frame(), data_definition=definition)).dict()
    [result] = data["metrics"]
    [test] = [t for t in data["tests"] if t["name"].startswith("Value Drift for column")]
    return (str(result["config"]["method"]), float(result["value"]), float(result["config"]["threshold"]),
            test["status"] == "FAIL")


def assert_same_as_evidently(reference: pd.DataFrame, current: pd.DataFrame, kinds: dict[str, str],
                             spec: DatasetSpec, settings: PredictionDriftSettings) -> list[dict]:
    """output_drift (and target_drift) from the reference's cached statistics (through bytes, as the store keeps
    them) against Evidently's ValueDrift on the same rows: the same method, threshold and decision, the score
    within 1e-9 relative."""
    from drift_platform.core.stats.reference_stats import ReferenceStats

    stats = ReferenceStats.from_bytes(build_output_stats(reference, kinds, spec).to_bytes())
    ours = output_drift(stats, current, kinds, settings)["columns"]
    target = target_drift(stats, current[spec.target], settings)["columns"]
    expected = {**kinds, spec.target: CAT if spec.is_classifier else NUM}
    assert [c["column"] for c in ours + target] == list(expected)
    for column in ours + target:
        name = column["column"]
        method, score, threshold, drifted = evidently_value_drift(
            reference[name].dropna(), current[name].dropna(), expected[name], settings)
        assert (column["method"], column["threshold"], column["drifted"]) == (method, threshold, drifted), name
        assert column["score"] == pytest.approx(score, rel=1e-9, abs=1e-300), name
    return ours + target


@pytest.mark.parametrize("current_week", ["2023-02-20", PRICE_RISE_WEEK])
@pytest.mark.parametrize("settings", [PredictionDriftSettings(), PredictionDriftSettings(method="psi", threshold=0.2)],
                         ids=["evidently-default", "psi"])
def test_classifier_outputs_and_target_score_as_evidently(churn, current_week, settings) -> None:
    """The positive class's probability (num), the predicted class (cat, as a model without probabilities
    gives it) and the label (cat): Wasserstein / Jensen-Shannon over 1,000 reference rows, or PSI when set."""
    spec, frame, reference, model, classes = churn
    kinds = {**output_kinds(spec, classes, True), **output_kinds(spec, classes, False)}
    assert kinds == {"proba_1": NUM, "predicted_churned": CAT}
    ref = predictions_frame(model, reference, spec, "v1", classes)
    cur = predictions_frame(model, week(frame, current_week, spec.datetime_column), spec, "v1", classes)
    columns = assert_same_as_evidently(ref, cur, kinds, spec, settings)
    if settings.method is None:
        assert [c["method"] for c in columns] == ["Wasserstein distance (normed)", *["Jensen-Shannon distance"] * 2]
        proba = columns[0]
        assert proba["drifted"] is (current_week == PRICE_RISE_WEEK)  # the price rise raises predicted churn


def test_regression_prediction_and_target_score_as_evidently(bike) -> None:
    """A regression's predicted value and target on a 28-row reference: K-S, as Evidently picks it."""
    spec, frame, model = bike
    assert output_kinds(spec, None, False) == {"predicted_cnt": NUM}
    start, end = spec.reference_window
    ref = predictions_frame(model, frame[(frame["dteday"] >= start) & (frame["dteday"] < end)], spec, "v1")
    for current_week, drifted in (("2011-02-07", False), ("2011-07-04", True)):
        cur = predictions_frame(model, week(frame, current_week, "dteday"), spec, "v1")
        prediction, target = assert_same_as_evidently(ref, cur, {"predicted_cnt": NUM}, spec,
                                                      PredictionDriftSettings())
        assert prediction["method"] == "K-S p_value" and prediction["drifted"] is drifted, current_week


def test_target_drift_skips_a_period_without_labels_and_uses_only_labelled_rows(churn) -> None:
    spec, frame, reference, model, classes = churn
    kinds = output_kinds(spec, classes, True)
    stats = build_output_stats(predictions_frame(model, reference, spec, "v1", classes), kinds, spec)
    current = week(frame, "2023-02-20", spec.datetime_column).copy()
    settings = PredictionDriftSettings()
    full = target_drift(stats, current[spec.target], settings)
    unlabelled = current[spec.target].astype(float).where(np.arange(len(current)) % 2 == 0)  # every other row
    half = target_drift(stats, unlabelled.rename(spec.target), settings)
    assert half["rows"] == (len(current) + 1) // 2 and full["rows"] == len(current) and half["score"] != full["score"]
    skipped = target_drift(stats, pd.Series(np.nan, index=current.index, name=spec.target), settings)
    assert skipped == {"skipped": f"no labelled row in the period ({len(current)} row(s) without churned)"}
    # a model that predicted nothing: the prediction drift says so and is not judged
    none = predictions_frame(model, current, spec, "v1", classes).assign(proba_1=np.nan)
    assert output_drift(stats, none, kinds, settings)["skipped"].startswith("no output of the model in the period")


# --- (2) shifted predictions, unshifted inputs -------------------------------------------------------------------
@pytest.fixture(scope="module")
def logged(churn):
    """The churn source with a team's logged predictions (an external monitor's spec: `prediction_column`,
    `probability_columns`): the model's on every row, except in STALE_WEEK, where the team's model has gone
    stale and predicts more churn (its log-odds up by 1.5) on the same inputs."""
    spec, frame, _, model, classes = churn
    raw = spec.model_dump(mode="json", exclude_none=True)
    raw["columns"] = {**raw["columns"], "predicted": "int", "p_churn": "float"}
    logged_spec = DatasetSpec.from_dict({**raw, "prediction_column": "predicted", "probability_columns": {1: "p_churn"}})
    p = predictions_frame(model, frame, spec, "team", classes).set_index(list(spec.key))["proba_1"]
    p = p.reindex(pd.MultiIndex.from_frame(frame[list(spec.key)])).to_numpy()
    stale = (frame[spec.datetime_column] >= pd.Timestamp(STALE_WEEK)).to_numpy() & (
        frame[spec.datetime_column] < pd.Timestamp(STALE_WEEK) + pd.Timedelta(days=7)).to_numpy()
    odds = np.log(p / (1 - p)) + np.where(stale, 1.5, 0.0)
    p = 1 / (1 + np.exp(-odds))
    source = frame.assign(p_churn=p, predicted=(p >= 0.5).astype(int))
    monitor = Monitor.model_validate({"name": "churn_logged", "spec": logged_spec, "source": str(CHURN_SOURCE),
                                      "model": {"source": "external"}})
    return monitor, source


def period_summary(monitor: Monitor, reference_stats, model: ModelOutputs, output_stats, batch: pd.DataFrame,
                   period: str) -> dict:
    """The drift report's summary of a period as its checks read it: the feature drift on all rows (from the
    reference's statistics) with the prediction and target drift."""
    from drift_platform.core.stats.drift import compute_drift

    result = compute_drift(reference_stats, batch, monitor.spec, monitor.drift, with_report=False)
    prediction, target = judge_outputs(model, output_stats, batch, monitor.spec, monitor.prediction_drift)
    return {**result.summary(), "monitor": monitor.name, "period": period, "report_html": "-", "report_url": None,
            "prediction_drift": prediction, "target_drift": target}


def test_shifted_predictions_fail_no_prediction_drift_and_pass_no_dataset_drift(logged) -> None:
    """The logged predictions of an external model (core/ml/external.py) in the drift report's way: the quiet
    weeks pass both checks; the stale model's week fails no_prediction_drift (WARN) while no feature drifted."""
    from drift_platform.core.stats.drift import column_kinds
    from drift_platform.core.stats.reference_stats import build_reference_stats
    from drift_platform.lib.assets.drift_report import logged_outputs
    from drift_platform.lib.checks import drift_check_result, prediction_drift_check_result

    monitor, source = logged
    spec = monitor.spec
    reference = source[source[spec.datetime_column] < pd.Timestamp(REFERENCE_END)]
    model = logged_outputs(monitor)
    assert model.version == "external" and model.kinds == {"proba_1": NUM}
    reference_stats = build_reference_stats(reference, column_kinds(spec))
    output_stats = build_output_stats(model.outputs(reference), model.kinds, spec)
    verdicts = {}
    for period in [*QUIET_WEEKS, STALE_WEEK]:
        summary = period_summary(monitor, reference_stats, model, output_stats,
                                 week(source, period, spec.datetime_column), period)
        dataset, prediction = drift_check_result(summary), prediction_drift_check_result(summary)
        verdicts[period] = (dataset.passed, prediction.passed)
        assert prediction.severity.value == "WARN"
        assert prediction.metadata["column"].value == "proba_1"
        assert prediction.metadata["score"].value == summary["prediction_drift"]["score"]
        assert "target_drift_score" in prediction.metadata
    assert verdicts == {**{p: (True, True) for p in QUIET_WEEKS}, STALE_WEEK: (True, False)}
    assert prediction.metadata["drifted_columns"].value == "proba_1"
    assert prediction.description.startswith("1 of 1 output column(s) drifted; proba_1: Wasserstein")


# --- (3) through a real materialization of a platform monitor ------------------------------------------------------
def viewer_metric(resources: dict, project: str, run_id: str, metric_id: str) -> float:
    """A metric's value in a run of the monitor's project in the (local) Evidently workspace."""
    from evidently.ui.workspace import Workspace

    workspace = Workspace(resources["viewer"].workspace_path)
    [found] = [p for p in workspace.search_project(project) if p.name == project]
    run = workspace.get_run(found.id, run_id)
    return float(run.dict()["metric_results"][metric_id]["value"]) if hasattr(run, "dict") else run


def built_messages(instance, result) -> int:
    """How many times the run built the reference's output statistics (instead of reading them from the store)."""
    return sum("reference output statistics" in (entry.user_message or "") for entry in instance.all_logs(result.run_id))


def test_drift_report_tests_the_champions_predictions_once_there_is_one(resources, instance) -> None:
    """Before any champion: prediction drift not evaluated (says why), the target still tested; after the retrain
    job promoted one: the champion's predictions tested against its predictions on the reference, whose
    statistics are kept per reference and model version; no_prediction_drift evaluated (WARN)."""
    from drift_platform_tests.conftest import bike_monitor

    platform = Platform(resources, instance, bike_monitor(source=BIKE_SOURCE))
    report_key = platform.key("drift_report")
    deps = {dep.asset_key for spec in platform.defs.resolve_all_asset_specs() if spec.key == report_key
            for dep in spec.deps}
    assert platform.key("champion_model") in deps  # lineage only: the drift job runs without a champion

    before = platform.run_week("2011-01-31")
    meta = before.asset_materializations_for_node(platform.op("drift_report"))[0].metadata
    assert meta["prediction_drift_skipped"].value.startswith("no champion model yet")
    assert "prediction_drift_score" not in meta and "prediction_drift" not in meta
    assert isinstance(meta["target_drift_score"].value, float) and meta["target_drift"].value is False
    [evaluation] = check_evaluations(before, "no_prediction_drift")
    assert evaluation.passed and evaluation.description.startswith("not evaluated: no champion model yet")

    again = platform.run_week("2011-02-07")  # the reference's statistics (of its labels alone) are reused
    assert [built_messages(instance, run) for run in (before, again)] == [1, 0]
    platform.retrain()  # on the reference and two weeks: the first model passes the gate
    champion = platform.models().read_bytes("models/champion.json")
    after = platform.run_week("2011-07-04")
    assert built_messages(instance, after) == 1  # a new model version: its outputs on the reference, once
    meta = after.asset_materializations_for_node(platform.op("drift_report"))[0].metadata
    assert "prediction_drift_skipped" not in meta
    assert meta["prediction_drift_column"].value == "predicted_cnt"
    assert isinstance(meta["prediction_drift_score"].value, float) and meta["prediction_drift"].value is True
    assert "| predicted_cnt" in meta["prediction_drift_columns"].value
    assert meta["drift_share"].value == meta["drifted_columns"].value / meta["monitored_columns"].value
    [evaluation] = check_evaluations(after, "no_prediction_drift")
    assert evaluation.passed is False and evaluation.severity.value == "WARN"
    assert evaluation.metadata["score"].value == meta["prediction_drift_score"].value
    assert evaluation.metadata["target_drift_score"].value == meta["target_drift_score"].value

    viewed = viewer_metric(resources, platform.name, meta["evidently_run_id"].value, "drift_platform.prediction_drift")
    assert viewed == pytest.approx(meta["prediction_drift_score"].value)  # the dashboard's figure, in its run

    import json

    version = json.loads(champion)["version"]
    kept = [k for k in platform.models().list_keys("reference_stats") if ".outputs-" in k]
    # Named by the model version and a digest of the reference's labels (the same labels: the same digest).
    assert sorted(k.rsplit(".outputs-", 1)[1].rsplit("-", 1)[0] for k in kept) == sorted([version, "no-model"])
    assert len({k.rsplit("-", 1)[1] for k in kept}) == 1


def test_no_check_and_no_figures_when_the_monitor_turns_it_off(resources, instance) -> None:
    from drift_platform_tests.conftest import bike_monitor

    platform = Platform(resources, instance, bike_monitor(prediction_drift={"enabled": False}))
    result = platform.run_week("2011-01-31")
    meta = result.asset_materializations_for_node(platform.op("drift_report"))[0].metadata
    assert not [k for k in meta if k.startswith(("prediction_drift", "target_drift"))]
    assert check_evaluations(result, "no_prediction_drift") == []


def test_an_external_monitors_drift_report_tests_its_logged_predictions(resources, instance) -> None:
    """The shipped external monitor's spec and source (data/lead_scoring.yaml): no champion_model in the lineage;
    the logged probability of the positive class tested each week: a quiet week passes, a week of the stale model
    (the review site's leads, data/generate_lead_scoring.py) fails no_prediction_drift."""
    monitor = Monitor.model_validate({
        "name": "lead_scoring", "spec": DatasetSpec.from_yaml(REPO / "data" / "lead_scoring.yaml"),
        "source": str(REPO / "data" / "lead_scoring_leads.csv"), "model": {"source": "external"},
        "drift": {"drift_share": 0.3, "per_column_threshold": {"company_size": 0.15, "pages_viewed": 0.15}},
        "multivariate": {"enabled": False}, "retry": {"delay_seconds": 0.5}})
    platform = Platform(resources, instance, monitor)
    report_key = platform.key("drift_report")
    deps = {dep.asset_key for spec in platform.defs.resolve_all_asset_specs() if spec.key == report_key
            for dep in spec.deps}
    assert deps == {platform.key("reference_data"), platform.key("current_batch")}
    verdicts = {}
    for period in ("2024-05-06", "2024-10-14"):
        result = platform.run_week(period)
        meta = result.asset_materializations_for_node(platform.op("drift_report"))[0].metadata
        [evaluation] = check_evaluations(result, "no_prediction_drift")
        assert meta["prediction_drift_column"].value == evaluation.metadata["column"].value == "proba_1"
        assert evaluation.metadata["score"].value == meta["prediction_drift_score"].value
        verdicts[period] = (meta["prediction_drift"].value, evaluation.passed)
    assert verdicts == {"2024-05-06": (False, True), "2024-10-14": (True, False)}
    kept = [k for k in platform.models().list_keys("reference_stats") if ".outputs-" in k]
    assert [k.rsplit(".outputs-", 1)[1].rsplit("-", 1)[0] for k in kept] == ["external"]
