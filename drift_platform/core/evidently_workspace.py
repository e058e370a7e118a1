"""Evidently's UI as the report viewer: one Evidently project per monitor, one run per period, a dashboard made
by code. Plain functions over an Evidently workspace (a local `Workspace` or a `RemoteWorkspace` behind
`evidently ui`), no Dagster; evidently is imported inside them (it costs seconds to import).

- `find_or_create_project`: the project named after the monitor, created on first use and found again by
  name; never two of one name (a race that made two keeps the oldest and deletes the others, empty).
- `publish`: a report's Evidently snapshot (a period's drift report, or its quality report:
  core/ml/quality_report.py) becomes a run of the project; the runs it replaces (an earlier run of the same
  period and kind) are deleted after it is in, so a re-run period keeps one run of each kind: the newer.
- `add_quality_metrics`: the period's data-quality figures (`no_data_quality_regression`'s own counts and
  shares, core/stats/report.py `quality_run_figures`) added to its snapshot as Evidently metric results:
  MissingValueCount, OutRangeValueCount and OutListValueCount per monitored column, exactly as Evidently's
  own calculation of those metrics writes them (same config, same id), and the check's verdict.
- `add_output_drift_metrics`: the drift score of the model's output (and of the target) added to a drift run,
  as metric results of a type of its own (OUTPUT_DRIFT) that the dashboard plots.
- `estimate_snapshot`: a small run of its own carrying a period's estimated metric (CBPE, DLE: the estimate and
  its band), published beside the period's drift and quality runs (lib/assets/estimate_report.py).
- `dashboard`/`ensure_dashboard`: the project's dashboard as code (the dataset's drift share per period, the
  number of drifted columns, one panel per monitored column's drift score, then the data quality: missing
  share, share outside the reference's range or of unseen levels, regressed columns; then the model: the
  prediction drift score, and the quality runs' figures; for a monitor that estimates its metric, the estimate
  runs' values beside the quality runs' realized value on one panel), saved only when it differs from the one
  stored, so calling it on every run is cheap and idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RUN_PAGE = "{ui_url}/projects/{project_id}/reports/{run_id}"
# The check's verdict in a run: count = the regressed columns (0: passed), share = of the columns checked. Not
# one of Evidently's metrics; a dashboard panel selects values by a type in Evidently's metric namespace, so the
# type is named there, after the check, and its config says where it comes from.
QUALITY_VERDICT = "evidently:metric_v2:NoDataQualityRegression"
QUALITY_VERDICT_ID = "drift_platform.no_data_quality_regression"
QUALITY_GROUP = "Data quality (no_data_quality_regression)"
# The drift score of the model's output and of the target (the drift report's prediction and target drift), a
# type of its own in Evidently's namespace (labels: output = prediction | target, column) so a panel selects it.
OUTPUT_DRIFT = "evidently:metric_v2:OutputDrift"
OUTPUT_DRIFT_IDS = {"prediction": "drift_platform.prediction_drift", "target": "drift_platform.target_drift"}
OUTPUT_DRIFT_GROUP = "Prediction and target drift (no_prediction_drift)"
# A period's estimated metric (no_estimated_degradation's estimate: CBPE, DLE), a type of its own labelled
# `metric` (the monitor's metric name) and `value_type` (ESTIMATE_PARTS), in a run tagged ESTIMATE_RUN_TAG.
ESTIMATE = "evidently:metric_v2:EstimatedPerformance"
ESTIMATE_PARTS = {"value": "estimated {}", "lower": "estimate's lower bound", "upper": "estimate's upper bound"}
ESTIMATE_GROUP = "Estimated performance (no_estimated_degradation)"
ESTIMATE_RUN_TAG = "estimate"
# The realized value of the monitor's metric on a period's labelled rows (core/ml/metrics.py's, as the quality
# check computes it; Evidently's presets have no RMSLE or Brier score), added to the period's quality run: a type
# of its own labelled `metric`.
REALIZED = "evidently:metric_v2:RealizedPerformance"
REALIZED_GROUP = "Realized performance (the monitor's metric)"


@dataclass(frozen=True)
class Published:
    project_id: str
    run_id: str
    url: str
    deleted: tuple[str, ...] = ()


def find_or_create_project(workspace: Any, name: str, description: str = "") -> str:
    """The id of the project named `name`, created if there is none."""
    found = [p for p in workspace.search_project(name) if p.name == name]
    if not found:
        workspace.create_project(name, description or None)
        found = [p for p in workspace.search_project(name) if p.name == name]
    keep, *extra = sorted(found, key=lambda p: str(p.id))  # ids are time-ordered (UUIDv7): the oldest first
    for project in extra:  # another process created one at the same moment
        if not workspace.list_runs(project.id):
            workspace.delete_project(project.id)
    return str(keep.id)


def dashboard(columns: Sequence[str], threshold: float, estimated: str | None = None):
    """The panels of a monitor's dashboard, in order; with `estimated` (the monitor's metric, when it estimates
    it) the "Estimated vs realized" panel last."""
    from evidently.sdk.models import DashboardModel
    from evidently.sdk.panels import PanelMetric, line_plot_panel

    share = PanelMetric(legend="share of drifted columns", metric="DriftedColumnsCount",
                        metric_labels={"value_type": "share"})
    count = PanelMetric(legend="drifted columns", metric="DriftedColumnsCount", metric_labels={"value_type": "count"})
    panels = [
        line_plot_panel(f"Dataset drift share (the dataset drifts at {threshold:.2f})", [share], size="half",
                        description="Share of the monitored columns whose drift test failed, per period"),
        line_plot_panel("Drifted columns", [count], size="half",
                        description=f"How many of the {len(columns)} monitored columns drifted, per period"),
    ]
    panels += [
        line_plot_panel(f"Drift score: {column}", [PanelMetric(legend=column, metric="ValueDrift",
                                                               metric_labels={"column": column})], size="half",
                        description="The drift test's score (a p-value or a distance, by method)")
        for column in columns
    ]
    extra = [estimate_panel(estimated)] if estimated else []
    return DashboardModel(tabs=[], panels=panels + quality_panels() + model_panels() + extra)


def estimate_panel(metric: str):
    """"Estimated vs realized <metric label>": the estimate runs' estimate and its band's bounds (Evidently's line
    panel draws lines, no shaded band) and the quality runs' realized value of the same metric, per period."""
    from evidently.sdk.panels import PanelMetric, line_plot_panel

    from drift_platform.core.ml.metrics import METRICS

    label = METRICS[metric].label
    values = [PanelMetric(legend=legend.format(label), metric=ESTIMATE,
                          metric_labels={"metric": metric, "value_type": part})
              for part, legend in ESTIMATE_PARTS.items()]
    values.append(PanelMetric(legend=f"realized {label}", metric=REALIZED, metric_labels={"metric": metric}))
    return line_plot_panel(
        f"Estimated vs realized {label}", values, size="full",
        description=f"The {label} estimated from the model's outputs before the labels land (CBPE, DLE: "
        "no_estimated_degradation), with its band, and the realized value once the period's labels land")


def add_realized_metric(snapshot: Any, metric: str, value: float) -> Any:
    """A copy of a quality run's snapshot with the period's realized value of `metric` (REALIZED), under one group
    of the run's page: what the "Estimated vs realized" panel plots beside the estimate."""
    from evidently.core.metric_types import MetricConfig, SingleValue, get_default_render

    model = snapshot.to_snapshot_model()
    metric_id = f"drift_platform.realized_{metric}"
    result = SingleValue(value=float(value), display_name=f"realized {metric}")
    result.set_metric_location(MetricConfig(metric_id=metric_id, params={
        "type": REALIZED, "source": "drift_platform", "metric": metric}))
    result.widget = get_default_render(f"realized {metric}", result)
    return _with_group(model, REALIZED_GROUP, _add_result(model, metric_id, result))


def estimate_snapshot(metric: str, estimate: Mapping[str, float], timestamp: Any, name: str,
                      metadata: Mapping[str, str]):
    """A run of its own for a period's estimate of `metric` (keys "value", "lower", "upper"): one ESTIMATE result
    per part, under one group of the run's page, tagged ESTIMATE_RUN_TAG."""
    from evidently.core.metric_types import MetricConfig, SingleValue, get_default_render
    from evidently.core.serialization import ReportModel, SnapshotModel

    model = SnapshotModel(report=ReportModel(items=[]), name=name, timestamp=timestamp, metadata=dict(metadata),
                          tags=[ESTIMATE_RUN_TAG], metric_results={}, top_level_metrics=[], widgets=[],
                          tests_widgets=[])
    widgets = []
    for part, legend in ESTIMATE_PARTS.items():
        title = legend.format(metric)
        result = SingleValue(value=float(estimate[part]), display_name=title)
        metric_id = f"drift_platform.estimated_{metric}_{part}"
        result.set_metric_location(MetricConfig(metric_id=metric_id, params={
            "type": ESTIMATE, "source": "drift_platform", "metric": metric, "value_type": part}))
        result.widget = get_default_render(title, result)
        widgets += _add_result(model, metric_id, result)
    return _with_group(model, ESTIMATE_GROUP, widgets)


# The model's quality over time, from the quality runs (core/ml/quality_report.py): the preset's figures of
# either task (a monitor's runs have those of its own task only, so only they are drawn), one scale per task.
MODEL_QUALITY = {"RMSE": "RMSE", "MAE": "MAE", "Accuracy": "accuracy", "RocAuc": "ROC AUC", "LogLoss": "log loss"}


def model_panels() -> list:
    """The model's panels: its output's drift score (and the target's) per period, from the drift runs
    (add_output_drift_metrics), and its quality on each period's labelled rows, from the quality runs."""
    from evidently.sdk.panels import PanelMetric, line_plot_panel

    quality = [PanelMetric(legend=legend, metric=metric, metric_labels={"value_type": "mean"} if metric == "MAE"
                           else {}) for metric, legend in MODEL_QUALITY.items()]
    return [
        line_plot_panel("Prediction drift score", [
            PanelMetric(legend=f"{output}: {{{{column}}}}", metric=OUTPUT_DRIFT, metric_labels={"output": output})
            for output in OUTPUT_DRIFT_IDS], size="half",
            description="The drift score of the model's output (no_prediction_drift) and of the labels, per period"),
        line_plot_panel("Model quality (labelled rows)", quality, size="half",
                        description="Evidently's regression or classification preset on each period's labelled "
                        "rows: RMSE and MAE, or accuracy, ROC AUC and log loss"),
    ]


def quality_panels() -> list:
    """The data-quality panels: per monitored column (one line each), its missing share and its share outside
    the reference's range (numerical) or of unseen levels (categorical); the check's regressed columns."""
    from evidently.sdk.panels import PanelMetric, line_plot_panel

    def share(metric: str, legend: str) -> PanelMetric:
        return PanelMetric(legend=legend, metric=metric, metric_labels={"value_type": "share"})

    return [
        line_plot_panel("Data quality: missing share", [share("MissingValueCount", "{{column}}")], size="half",
                        description="Share of the period's rows whose value is missing, per monitored column"),
        line_plot_panel("Data quality: outside the reference's range or unseen levels",
                        [share("OutRangeValueCount", "{{column}} outside range"),
                         share("OutListValueCount", "{{column}} unseen levels")], size="half",
                        description="Share of the period's present values outside the reference's [min, max] "
                        "(numerical) or of levels the reference never shows (categorical)"),
        line_plot_panel("Data quality: regressed columns",
                        [PanelMetric(legend="regressed columns", metric=QUALITY_VERDICT,
                                     metric_labels={"value_type": "count"})], size="full",
                        description="Columns past their bound in no_data_quality_regression (0: the check passed)"),
    ]


def add_quality_metrics(snapshot: Any, figures: Mapping[str, Any]) -> Any:
    """A copy of the snapshot with the period's data-quality figures (core/stats/report.py
    `quality_run_figures`) as Evidently metric results, under one group of the run's page: each measure as the
    Evidently metric of its definition with the check's count and share, and the check's verdict
    (QUALITY_VERDICT). Public calls only: the snapshot's model, extended, loaded back."""
    from evidently import metrics
    from evidently.core.metric_types import get_default_render
    from evidently.legacy.model.widget import link_metric

    model = snapshot.to_snapshot_model()
    widgets = []
    for measure in figures["measures"]:
        metric = getattr(metrics, measure["metric"])(column=measure["column"], **measure["arguments"])
        calculation = metric.to_calculation()
        result = calculation.result(measure["count"], measure["share"])
        result.widget = get_default_render(calculation.display_name(), result)
        link_metric(result.widget, metric)
        result.set_metric_location(calculation.to_metric_config())
        widgets += _add_result(model, calculation.id, result)
    widgets += _add_result(model, QUALITY_VERDICT_ID, _verdict(figures))
    return _with_group(model, QUALITY_GROUP, widgets)


def add_output_drift_metrics(snapshot: Any, figures: Mapping[str, Any]) -> Any:
    """A copy of the drift snapshot with the drift score of the model's output (`prediction_drift_score`, of
    `column`) and, when not None, of the target (`target_drift_score`, of `target_column` when given) as metric
    results of type OUTPUT_DRIFT labelled `output` ("prediction" / "target") and `column`, under one group of the
    run's page: what the dashboard's prediction-drift panel plots. A type of its own, not Evidently's ValueDrift:
    the drift's own per-column results (the feature columns) stay exactly as they were. Public calls only, as
    add_quality_metrics."""
    from evidently.core.metric_types import MetricConfig, SingleValue, get_default_render

    model = snapshot.to_snapshot_model()
    outputs = [("prediction", figures["column"], figures["prediction_drift_score"])]
    if figures.get("target_drift_score") is not None:
        outputs.append(("target", figures.get("target_column") or "target", figures["target_drift_score"]))
    widgets = []
    for output, column, score in outputs:
        name = f"{output.capitalize()} drift score: {column}"
        result = SingleValue(value=float(score), display_name=name)
        result.set_metric_location(MetricConfig(metric_id=OUTPUT_DRIFT_IDS[output], params={
            "type": OUTPUT_DRIFT, "source": "drift_platform", "output": output, "column": str(column)}))
        result.widget = get_default_render(name, result)
        widgets += _add_result(model, OUTPUT_DRIFT_IDS[output], result)
    for output in set(OUTPUT_DRIFT_IDS) - {o for o, _, _ in outputs}:  # added again without it: removed
        model.metric_results.pop(OUTPUT_DRIFT_IDS[output], None)
        model.top_level_metrics = [m for m in model.top_level_metrics if m != OUTPUT_DRIFT_IDS[output]]
    return _with_group(model, OUTPUT_DRIFT_GROUP, widgets)


def _with_group(model: Any, title: str, widgets: list) -> Any:
    """The snapshot of `model` with `widgets` as one group titled `title` (a group added again is replaced)."""
    from evidently.core.report import Snapshot
    from evidently.legacy.renderers.html_widgets import group_widget

    kept = [w for w in model.widgets if w.title != title]
    model.widgets = [*kept, group_widget(title=title, widgets=widgets)]
    return Snapshot.load_model(model)


def _verdict(figures: Mapping[str, Any]) -> Any:
    """The check's verdict as a count-and-share result: the regressed columns, of the columns checked."""
    from evidently.core.metric_types import CountValue, MetricConfig, SingleValue, get_default_render

    regressed, checked = int(figures["regressed"]), int(figures["checked"])
    name = f"no_data_quality_regression: {'passed' if figures['passed'] else 'FAILED'}, regressed columns"
    result = CountValue(count=SingleValue(value=regressed, display_name=name),
                        share=SingleValue(value=regressed / checked if checked else 0.0, display_name=name),
                        display_name=name)
    result.set_metric_location(MetricConfig(metric_id=QUALITY_VERDICT_ID, params={
        "type": QUALITY_VERDICT, "source": "drift_platform", "check": "no_data_quality_regression",
        "columns_checked": checked}))
    result.widget = get_default_render(name, result)
    return result


def _add_result(model: Any, metric_id: str, result: Any) -> list:
    """Add a result to a snapshot model as a top-level metric (once: a second add replaces it); its widgets."""
    model.metric_results[metric_id] = result
    if metric_id not in model.top_level_metrics:
        model.top_level_metrics.append(metric_id)
    return list(result.widget or [])


def _comparable(model: Any) -> list[tuple]:
    return [(p.title, p.subtitle, p.size, [(v.legend, v.metric, dict(v.metric_labels)) for v in p.values])
            for p in model.panels]


def ensure_dashboard(workspace: Any, project_id: str, model: Any) -> bool:
    """Save the dashboard when the stored one differs (panels added, removed or changed); True if saved."""
    if _comparable(workspace.get_dashboard(project_id)) == _comparable(model):
        return False
    workspace.save_dashboard(project_id, model)
    return True


def publish(workspace: Any, project_id: str, snapshot: Any, ui_url: str, replaces: Iterable[str] = ()) -> Published:
    """Add the snapshot as a run, then delete the runs it replaces (the same period's earlier runs)."""
    ref = workspace.add_run(project_id, snapshot, include_data=False)
    run_id = str(ref.id)
    deleted = []
    known = {str(r) for r in workspace.list_runs(project_id)}
    for old in dict.fromkeys(replaces):
        if old and old != run_id and old in known:
            workspace.delete_run(project_id, old)
            deleted.append(old)
    url = RUN_PAGE.format(ui_url=ui_url.rstrip("/"), project_id=project_id, run_id=run_id)
    return Published(project_id, run_id, url, tuple(deleted))
