"""Drift over time: every period's drift report in one table and one chart, and the model's metric per period
(estimated before the labels land, realized after).

`drift_trend` reads the latest `drift_report` materialization of every period from the Dagster instance (their
metadata: drift share, threshold, verdict, `score/<column>` and `drifted/<column>`), so it needs no store of
its own and always agrees with what the UI shows per partition. The table and the chart are plain functions
of those rows (drift_platform/core/stats/trend.py: `trend_frame`, `trend_markdown`, `render_chart`); the asset
reads, calls them, writes the PNG to the report store and reports metadata.

It materializes by itself after any period's report changes (`<monitor>_drift_trend_sensor`, an
automation-condition sensor run by the daemon, drift_platform/lib/sensors/trend.py), waiting while a run of
the period is still in progress.
"""

from typing import Any

import dagster as dg

from drift_platform.core.names import DRIFT_REPORT, DRIFT_TREND, LABELS, MONITORING, PREDICTIONS
from drift_platform.core.settings import Monitor
from drift_platform.core.stats.trend import (
    PeriodDrift,
    chart_preview,
    period_from_metadata,
    quality_markdown,
    quality_rows,
    quality_values,
    render_chart,
    trend_frame,
    trend_markdown,
    trend_values,
)
from drift_platform.lib.assets import asset_args, asset_key
from drift_platform.resources import ObjectStore

PAGE_SIZE = 500


def latest_periods(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> list[PeriodDrift]:
    """The latest materialization of every partition of a drift report, oldest period first."""
    return [
        period_from_metadata(period, record.asset_materialization.metadata, record.run_id)
        for period, record in latest_records(instance, asset_key)
    ]


def latest_records(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> list[tuple[str, Any]]:
    """(partition, its latest materialization record) of every materialized partition, oldest first."""
    latest: dict[str, Any] = {}
    cursor = None
    while True:
        page = instance.fetch_materializations(asset_key, limit=PAGE_SIZE, cursor=cursor, ascending=True)
        for record in page.records:
            if record.partition_key:
                latest[record.partition_key] = record  # ascending: a later one replaces an earlier one
        if not page.has_more:
            break
        cursor = page.cursor
    return sorted(latest.items())


def latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, Any]:
    """period -> the metadata of its latest materialization of the asset."""
    return {period: record.asset_materialization.metadata for period, record in latest_records(instance, key)}


def model_quality(instance: dg.DagsterInstance, monitor: Monitor, metric: str) -> dict[str, dg.MetadataValue]:
    """The model's value of the monitor's metric per period beside the drift: a markdown table (period, model
    version, labelled rows; for a monitor that estimates it, the estimate with its band beside the realized
    value; for one whose labels arrive late, the labels' state: "pending" or the date they landed) and the
    figures `labels_pending`, `latest_<metric>`, `latest_estimated_<metric>`. The predictions' latest metadata
    gives the version and the estimate; the realized value is the labels asset's for a late-labels monitor (its
    `<metric>` when they land), else the predictions'. Nothing before any period has one."""
    from drift_platform.core.ml.metrics import METRICS

    predictions = latest_metadata(instance, asset_key(monitor, PREDICTIONS))
    labels = latest_metadata(instance, asset_key(monitor, LABELS)) if monitor.late_labels else {}
    rows = quality_rows(predictions, labels, metric, monitor.late_labels)
    if not rows:
        return {}
    estimates = monitor.estimates or any(q.estimated is not None for q in rows)
    table = quality_markdown(rows, METRICS[metric].label, estimates, monitor.late_labels)
    figures = quality_values(rows, metric)
    return {"model_quality": dg.MetadataValue.md(table),
            **{name: (dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.float(value))
               for name, value in figures.items()}}


# --- the asset -------------------------------------------------------------------------------------------------
def trend_key(run_id: str) -> str:
    """Where a run's chart goes in the monitor's folder of the store."""
    return f"drift_trend/{run_id}.png"


def trend_condition() -> dg.AutomationCondition:
    """Materialize the trend when it is missing (a new deployment, a new monitor: the trend is there when the UI
    opens) or after any period's drift report changed; not while a period or the trend itself is running. Unlike
    `eager()`, it does not wait for every period to exist: most never will."""
    return (
        (dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated().since_last_handled())
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("missing, or a drift report (or labels) changed; not while a period runs")


def trend_metadata(periods: list[PeriodDrift], table: str, png: bytes, chart: dg.MetadataValue,
                   label: str) -> dict[str, dg.MetadataValue]:
    """The trend's metadata: its figures, the table, the chart's link and (when small enough) the chart."""
    values = trend_values(periods)
    metadata: dict[str, dg.MetadataValue] = {
        "periods": dg.MetadataValue.int(values["periods"]),
        "drifted_periods": dg.MetadataValue.int(values["drifted_periods"]),
        "first_period": dg.MetadataValue.text(values["first_period"]),
        "latest_period": dg.MetadataValue.text(values["latest_period"]),
        "latest_drift_share": dg.MetadataValue.float(values["latest_drift_share"]),
        "table": dg.MetadataValue.md(table),
        "chart": chart,
    }
    preview = chart_preview(png, label)
    if preview is not None:
        metadata["chart_preview"] = dg.MetadataValue.md(preview)
    return metadata


def build_drift_trend(monitor: Monitor) -> dg.AssetsDefinition:
    """The trend asset; the automation sensor that keeps it fresh is drift_platform/lib/sensors/trend.py's."""
    from drift_platform.core.ml.recipe import recipe_of

    report = asset_key(monitor, DRIFT_REPORT)
    label, metric = monitor.period_label, recipe_of(monitor.spec, monitor.training).metric
    # A late-labels monitor's trend refreshes when a period's labels land too (their realized value).
    deps = [report, asset_key(monitor, LABELS)] if monitor.late_labels else [report]

    @dg.asset(
        **asset_args(monitor, DRIFT_TREND, MONITORING, deps=deps, kinds={"matplotlib", "pandas"},
                     automation_condition=trend_condition())
    )
    def drift_trend(context: dg.AssetExecutionContext, store: ObjectStore) -> dg.MaterializeResult:
        """Drift over time: every period's latest drift report in one table (drift share, threshold, verdict and
        each column's score, drifted ones in bold) and one chart (drift share per period with the threshold line,
        above a heatmap of which columns drifted when). The PNG goes to the store and is shown in the metadata.
        Beside it, the model's value of the monitor's metric per period (`model_quality`, named by the metric,
        e.g. RMSLE, ROC AUC): estimated (with its band) and realized, and whether the labels landed."""
        periods = latest_periods(context.instance, report)
        if not periods:
            return dg.MaterializeResult(
                metadata={
                    "periods": dg.MetadataValue.int(0),
                    "table": dg.MetadataValue.md(f"No drift report yet: materialize `{report.to_user_string()}` first."),
                }
            )
        frame = trend_frame(periods)
        png = render_chart(frame, title=f"{monitor.name}: data drift per {label}")
        folder, key = store.scoped(monitor.name), trend_key(context.run.run_id)
        folder.write_bytes(key, png, "image/png")
        context.log.info(f"{len(periods)} {label}(s) from {periods[0].period} to {periods[-1].period}; "
                         f"chart {len(png)} bytes")
        metadata = trend_metadata(periods, trend_markdown(frame), png, folder.link(key), label)
        metadata.update(model_quality(context.instance, monitor, metric))
        return dg.MaterializeResult(metadata=metadata)

    return drift_trend
