"""Evidently's quality report of each period with labels (drift_platform/core/ml/quality_report.py,
lib/assets/quality_report.py): ClassificationPreset on a binary classifier's period holds the confusion matrix and
the ROC curve, equal to scikit-learn's on the same rows; RegressionPreset's RMSE equals scikit-learn's; a period
without labels has none. Through the shipped churn monitor's jobs, with a champion: the predictions asset links
the period's run of the monitor's Evidently project (one per period: a re-run replaces it), the HTML is in the
store, `no_model_degradation` carries the same link; a viewer that is down fails no step."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform_tests.conftest import BIKE_SPEC, REPO, local_resources
from drift_platform_tests.helpers import Platform, check_evaluations, data_series

CHURN_SPEC, CHURN_SOURCE = REPO / "data" / "churn.yaml", REPO / "data" / "churn_snapshots.csv"
CHURN_DEFS = REPO / "drift_platform" / "defs" / "monitors" / "churn" / "defs.yaml"
BEFORE, JUDGED = ("2023-02-13",), "2023-03-20"  # a quiet week, then the rival's offer (data/churn.yaml)
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def churn_monitor():
    """The shipped churn monitor's attributes (its defs.yaml), on the shipped spec and source."""
    from drift_platform.core.settings import Monitor

    attributes = yaml.safe_load(CHURN_DEFS.read_text())["attributes"]
    attributes.update(name="churn", spec=DatasetSpec.from_yaml(CHURN_SPEC), source=str(CHURN_SOURCE),
                      retry={"delay_seconds": 0.5})
    return Monitor.model_validate(attributes)


def widget_labels(snapshot) -> dict[str, dict]:
    """The report's plots by the label of the tile above them (Evidently draws a title tile, then the plot)."""
    widgets, plots = snapshot.to_snapshot_model().widgets, {}
    for tile, plot in zip(widgets, widgets[1:], strict=False):
        counters = (tile.params or {}).get("counters") or [{}]
        if tile.type == "counter" and plot.type == "big_graph" and counters[0].get("label"):
            plots[counters[0]["label"]] = plot.params
    return plots


@pytest.fixture(scope="module")
def churn_period():
    """A churn week's predictions frame (predictions_layout) by a logistic regression fitted on the reference
    window, some labels missing."""
    from drift_platform.core.intake.source import load_window
    from drift_platform.core.ml.predictions import predictions_frame
    from drift_platform.core.ml.recipe import build_model, recipe_of
    from drift_platform.core.settings import TrainingSettings

    spec = DatasetSpec.from_yaml(CHURN_SPEC)
    frame, _ = load_window(str(CHURN_SOURCE), spec, pd.Timestamp("2023-01-02"), pd.Timestamp("2023-03-27"))
    reference = frame[frame.snapshot_date < pd.Timestamp("2023-02-12")]
    model = build_model(spec, recipe_of(spec, TrainingSettings())).fit(reference[spec.features],
                                                                      reference[spec.target])
    week = frame[frame.snapshot_date >= pd.Timestamp(JUDGED)].reset_index(drop=True)
    predicted = predictions_frame(model, week, spec, "v-test", [0, 1])
    predicted.loc[:9, spec.target] = np.nan  # labels not known yet for some rows
    return spec, predicted


def test_a_binary_periods_report_holds_the_confusion_matrix_and_the_roc_curve(churn_period) -> None:
    from sklearn.metrics import confusion_matrix, log_loss, roc_auc_score

    from drift_platform.core.ml.quality_report import QUALITY_RUN_TAG, quality_snapshot
    from drift_platform.core.stats.drift import RunInfo

    spec, frame = churn_period
    snapshot = quality_snapshot(frame, spec, [0, 1], RunInfo(name="week 2023-03-20 quality"))
    labelled = frame.dropna(subset=[spec.target])
    y, predicted = labelled[spec.target].astype(int), labelled["predicted_churned"].astype(int)
    plots = widget_labels(snapshot)
    assert {"Confusion Matrix", "ROC Curve", "Precision-Recall Curve"} <= set(plots)
    [matrix] = plots["Confusion Matrix"]["data"]
    assert matrix["z"] == confusion_matrix(y, predicted, labels=[0, 1]).tolist()
    values = {m["metric_name"].split("(")[0]: m["value"] for m in snapshot.dict()["metrics"]}
    assert values["RocAuc"] == pytest.approx(roc_auc_score(y, labelled["proba_1"]), rel=1e-9)
    assert values["LogLoss"] == pytest.approx(log_loss(y, labelled[["proba_0", "proba_1"]]), rel=1e-9)
    assert values["Accuracy"] == pytest.approx((y == predicted).mean(), rel=1e-12)
    assert QUALITY_RUN_TAG in snapshot.dict().get("tags", snapshot.to_snapshot_model().tags)
    # No probabilities (a model without predict_proba): the confusion matrix still, no ROC curve
    plain = quality_snapshot(frame.assign(proba_0=np.nan, proba_1=np.nan), spec, [0, 1])
    assert "Confusion Matrix" in widget_labels(plain) and "ROC Curve" not in widget_labels(plain)
    # A period whose labels hold one class only: no report (Evidently's preset fails on it), and no failure
    assert quality_snapshot(frame[frame[spec.target] != 1], spec, [0, 1]) is None


def test_a_regression_periods_rmse_is_sklearns_and_no_labels_give_no_report() -> None:
    from sklearn.metrics import mean_absolute_error, root_mean_squared_error

    from drift_platform.core.ml.quality_report import quality_snapshot

    spec = DatasetSpec.from_yaml(BIKE_SPEC)
    rng = np.random.default_rng(7)
    actual = rng.integers(500, 8000, 40).astype(float)
    frame = pd.DataFrame({"dteday": pd.date_range("2011-07-04", periods=40, freq="D"), spec.target: actual,
                          f"predicted_{spec.target}": actual * rng.normal(1, 0.2, 40), "model_version": "v1"})
    frame.loc[[3, 11], spec.target] = np.nan  # unlabelled: left out
    frame.loc[5, f"predicted_{spec.target}"] = np.nan  # a row the model could not predict: left out
    rows = frame.dropna()
    values = {m["metric_name"].split("(")[0]: m["value"] for m in quality_snapshot(frame, spec, None).dict()["metrics"]}
    assert values["RMSE"] == pytest.approx(root_mean_squared_error(rows[spec.target], rows[f"predicted_{spec.target}"]),
                                           rel=1e-12)
    assert values["MAE"]["mean"] == pytest.approx(
        mean_absolute_error(rows[spec.target], rows[f"predicted_{spec.target}"]), rel=1e-12)
    assert quality_snapshot(frame.assign(**{spec.target: np.nan}), spec, None) is None


def quality_meta(result, platform: Platform) -> dict:
    [materialization] = result.asset_materializations_for_node(platform.op("predictions"))
    return {k: v.value for k, v in materialization.metadata.items()}


def test_the_predictions_link_the_periods_quality_run_and_a_viewer_down_fails_no_step(tmp_path: Path,
                                                                                       instance) -> None:
    from evidently.ui.workspace import Workspace

    from drift_platform.core.names import REFERENCE_DATA
    from drift_platform.resources import ReportViewer
    from loopback import free_port

    resources = local_resources(tmp_path)
    platform = Platform(resources, instance, monitor=churn_monitor())
    assert dg.materialize([platform.defs.resolve_assets_def(platform.key(REFERENCE_DATA))],
                          instance=instance).success
    for week in BEFORE:
        platform.run_week(week, run_config=QUIET)
    assert platform.retrain(run_config=QUIET).success
    first = quality_meta(platform.run_week(JUDGED, run_config=QUIET), platform)
    again = platform.run_week(JUDGED, run_config=QUIET)  # a re-run of the week replaces its quality run
    shown = quality_meta(again, platform)
    workspace = Workspace.create(str(tmp_path / "evidently"))
    [project] = workspace.search_project("churn")
    runs = {str(r): workspace.get_run(project.id, r) for r in workspace.list_runs(project.id)}
    quality = {i: s for i, s in runs.items() if "quality" in s.tags}
    assert list(quality) == [shown["quality_run_id"]] and first["quality_run_id"] not in runs
    assert shown["quality_report_url"] == f"http://127.0.0.1:8000/projects/{project.id}/reports/{shown['quality_run_id']}"
    assert quality[shown["quality_run_id"]].metadata["period"] == JUDGED and shown["quality_viewer_push"] == "ok"
    assert {"Accuracy", "RocAuc", "LogLoss"} <= {str(m.metric_value_location.metric.params["type"]).split(":")[-1]
                                                 for m in quality[shown["quality_run_id"]].metric_results.values()}
    html = tmp_path / "store" / "churn" / "quality_reports" / JUDGED / f"{again.run_id}.html"
    assert html.is_file() and str(html) in str(shown["quality_report_html"])
    [check] = check_evaluations(again, "no_model_degradation")
    assert check.metadata["quality_report_url"].value == shown["quality_report_url"]

    # The viewer down: the week still succeeds, the snapshot waits in the store, the metadata says why
    down = Platform({**resources, "viewer": ReportViewer(api_url=f"http://127.0.0.1:{free_port()}", attempts=1,
                                                         timeout_s=2)}, instance, monitor=churn_monitor())
    result = down.run_week(JUDGED, run_config=QUIET)
    assert result.success
    meta = quality_meta(result, down)
    assert meta["quality_viewer_push"].startswith("failed: ") and meta["quality_run_id"] == "-"
    assert "quality_report_url" not in meta
    assert (tmp_path / "store" / "churn" / meta["quality_snapshot_key"]).is_file()
    [check] = check_evaluations(result, "no_model_degradation")
    assert "quality_report_url" not in check.metadata
    [drift] = again.asset_materializations_for_node(platform.op("drift_report"))
    assert_the_dashboard_plots_the_weeks_quality_and_prediction_drift(
        tmp_path / "evidently", shown, drift.metadata["prediction_drift_score"].value)

    # The viewer back: the sync job pushes the waiting quality report, which replaces the week's earlier run
    assert platform.run_job("viewer_sync_job", run_config=QUIET).success
    observation = instance.fetch_observations(platform.key("predictions"), limit=1).records[0]
    pushed = {k: v.value for k, v in observation.asset_observation.metadata.items()}
    assert pushed["quality_viewer_push"] == "ok (later)" and pushed["quality_report_url"].endswith(
        pushed["quality_run_id"])
    workspace = Workspace.create(str(tmp_path / "evidently"))
    runs = {str(r): workspace.get_run(project.id, r) for r in workspace.list_runs(project.id)}
    assert [i for i, s in runs.items() if "quality" in s.tags] == [pushed["quality_run_id"]]
    assert platform.run_job("viewer_sync_job", run_config=QUIET).success  # nothing left: no second push
    pushes = [r for r in instance.fetch_observations(platform.key("predictions"), limit=10).records
              if "quality_run_id" in r.asset_observation.metadata]
    assert len(pushes) == 1


def dashboard_series(ui, project_id: str, panel: dict) -> dict[str, list]:
    """What a dashboard panel plots, asked of the UI as its page asks: metric type/labels -> value per run."""
    return {s["metric_type"].split(":")[-1] + "/" + s["params"].get("output", s["params"].get("value_type", "")): s[
        "values"] for s in data_series(ui.url, project_id, panel)}


def assert_the_dashboard_plots_the_weeks_quality_and_prediction_drift(workspace: Path, shown: dict,
                                                                      prediction_drift_score: float) -> None:
    """The real `evidently ui` serves the dashboard's model panels: the quality run's log loss (the check's
    metric, equal to the predictions' own) and the drift run's prediction drift score of the judged week (the
    drift report's own; the week before it had no champion, so no score)."""
    from drift_platform_tests.fixtures.evidently_ui import EvidentlyUI

    with EvidentlyUI(workspace) as ui:
        [project] = ui.projects()
        panels = {p["title"]: p for p in ui.get(f"/api/v2/dashboards/{project['id']}")["panels"]}
        quality = dashboard_series(ui, project["id"], panels["Model quality (labelled rows)"])
        assert set(quality) >= {"LogLoss/", "Accuracy/", "RocAuc/"} and not {"RMSE/", "MAE/mean"} & set(quality)
        assert quality["LogLoss/"] == [pytest.approx(shown["log_loss"], rel=1e-9)]  # one quality run: the week's
        drift = dashboard_series(ui, project["id"], panels["Prediction drift score"])
        assert drift["OutputDrift/prediction"] == [pytest.approx(prediction_drift_score, rel=1e-12)]
        assert len(drift["OutputDrift/target"]) == 1
