"""Evidently's UI as the report viewer: one Evidently project per monitor, one run per period, a dashboard made
by code. Plain functions over an Evidently workspace (a local `Workspace` or a `RemoteWorkspace` behind
`evidently ui`), no Dagster; evidently is imported inside them (it costs seconds to import).

- `find_or_create_project`: the project named after the monitor, created on first use and found again by
  name; never two of one name (a race that made two keeps the oldest and deletes the others, empty).
- `publish`: a drift report's Evidently snapshot becomes a run of the project; the runs it replaces (an earlier
  run of the same period) are deleted after it is in, so a re-run period keeps one run: the newer.
- `add_quality_metrics`: the period's data-quality figures (`no_data_quality_regression`'s own counts and
  shares, core/stats/report.py `quality_run_figures`) added to its snapshot as Evidently metric results:
  MissingValueCount, OutRangeValueCount and OutListValueCount per monitored column, exactly as Evidently's
  own calculation of those metrics writes them (same config, same id), and the check's verdict.
- `dashboard`/`ensure_dashboard`: the project's dashboard as code (the dataset's drift share per period, the
  number of drifted columns, one panel per monitored column's drift score, then the data quality: missing
  share, share outside the reference's range or of unseen levels, regressed columns), saved only when it
  differs from the one stored, so calling it on every run is cheap and idempotent.
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


def dashboard(columns: Sequence[str], threshold: float):
    """The panels of a monitor's dashboard, in order."""
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
    return DashboardModel(tabs=[], panels=panels + quality_panels())


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
    from evidently.core.report import Snapshot
    from evidently.legacy.model.widget import link_metric
    from evidently.legacy.renderers.html_widgets import group_widget

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
    kept = [w for w in model.widgets if w.title != QUALITY_GROUP]  # added again: replaced, not repeated
    model.widgets = [*kept, group_widget(title=QUALITY_GROUP, widgets=widgets)]
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
