"""Monitoring: each period's drift report of the current batch against the reference."""

from typing import Any

import dagster as dg

from drift_platform.core.names import CURRENT_BATCH, DRIFT_REPORT, MONITORING, REFERENCE_DATA
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import DataFrame, asset_args, asset_key
from drift_platform.lib.assets.ingestion import reference_statistics
from drift_platform.lib.partitions import by_period, output_for, period_step_args, period_windows
from drift_platform.lib.run_config import run_config_class, settings_from
from drift_platform.resources import ObjectStore, ReportViewer, WarehouseResource

TOP_DRIFTED = 5
# Below this many rows in the period, the per-column tests have little power (docs/statistics.md, measured at the
# bike sample's 28 reference vs 7 current rows): the report's metadata says so with the measured figures.
SMALL_PERIOD_ROWS = 30
SMALL_PERIOD_NOTE = (
    "{rows} rows in the period: at the sample's size (28 reference vs 7 period rows, docs/statistics.md) "
    "no_dataset_drift caught a 1 sd shift of one column in 1.2 % of periods and of two columns in 7.2 %, any "
    "single column's test false-alarmed in 24 % of quiet periods, and no_multivariate_drift caught a 1 sd shift "
    "in 24 % and a flipped correlation in 60 % at 5.6 % false alarms. Read a pass as 'not shown', not 'no drift'."
)


def report_key(partition: str, run_id: str, suffix: str) -> str:
    """Reports are versioned per run: re-running a period keeps the earlier report."""
    return f"drift_reports/{partition}/{run_id}.{suffix}"


def top_drifted(columns, limit: int = TOP_DRIFTED) -> str:
    """The drifted columns, furthest past their threshold first, e.g. "temp (K-S p_value 1.2e-05 < 0.05)".

    Scores point both ways (a p-value drifts below its threshold, a distance above it), so a column's distance
    past the threshold is the ratio of the two, whichever way round is above 1."""

    from drift_platform.core.stats.drift import drift_margin

    drifted = sorted((c for c in columns if c.drifted), key=drift_margin, reverse=True)[:limit]
    return ", ".join(
        f"{c.column} ({c.method} {c.score:.3g} {'<' if c.score < c.threshold else '>='} {c.threshold:.3g})"
        for c in drifted
    ) or "-"


VIEWER_RUN_ID = "evidently_run_id"
VIEWER_SNAPSHOT = "viewer_snapshot_key"  # where a report the viewer did not take waits, in the monitor's folder


def recorded_viewer_runs(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> list[str]:
    """The Evidently runs the period's earlier reports became (materializations, and observations of pushes made
    later by the viewer sync job): the runs a new report of the period replaces."""
    runs = []
    records = [*instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]),
                                                limit=100).records,
               *instance.fetch_observations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]),
                                            limit=100).records]
    for record in records:
        event = record.asset_materialization or record.asset_observation
        value = event.metadata.get(VIEWER_RUN_ID) if event else None
        if value is not None and value.value not in ("", "-"):
            runs.append(str(value.value))
    return runs


def push_to_viewer(context, viewer: ReportViewer, monitor: Monitor, result, period: str, key: dg.AssetKey,
                   snapshot_folder, snapshot_key: str) -> dict[str, dg.MetadataValue]:
    """The report as a run of the monitor's Evidently project, or, when the viewer is down, the snapshot kept in
    the store for `<monitor>_viewer_sync_job` and the failure in the metadata; never a failed step."""
    from drift_platform.resources.viewer import ViewerUnavailable

    try:
        published = viewer.publish(monitor.name, monitor.description, result.snapshot, monitor.spec.monitored_columns,
                                   result.drift_share_threshold,
                                   replaces=recorded_viewer_runs(context.instance, key, period), log=context.log)
    except ViewerUnavailable as exc:
        snapshot_folder.write_bytes(snapshot_key, result.snapshot.dumps().encode(), "application/json")
        context.log.warning(f"the report is in the store; Evidently UI ({viewer.describe()}) did not take it: {exc}")
        return {"viewer_push": dg.MetadataValue.text(f"failed: {exc}"), VIEWER_RUN_ID: dg.MetadataValue.text("-"),
                VIEWER_SNAPSHOT: dg.MetadataValue.text(snapshot_key)}
    return {"report_url": dg.MetadataValue.url(published.url), "viewer_push": dg.MetadataValue.text("ok"),
            VIEWER_RUN_ID: dg.MetadataValue.text(published.run_id)}


def multivariate_summary(monitor: Monitor, reference, current, folder, log) -> dict | None:
    """`no_multivariate_drift`'s numbers: the domain classifier on the reference's kept sample (its statistics'
    seeded rows, at most 5,000) and the period's rows. The null (reference chunks' AUCs, which set the threshold)
    depends only on the reference, the period's row count and the settings: it is computed once and kept beside
    the reference's statistics. None when the monitor turns the check off; {"skipped": why} when it cannot judge
    this period (too many columns, fewer than 2 rows in the period or 4 in the reference)."""
    import hashlib
    import json

    import numpy as np

    from drift_platform.core.stats.multivariate import multivariate_drift, null_aucs

    settings, spec = monitor.multivariate, monitor.spec
    columns = spec.monitored_columns
    if not settings.enabled:
        return None
    skipped = (f"{len(columns)} monitored columns, more than max_columns={settings.max_columns}"
               if len(columns) > settings.max_columns
               else f"{len(current)} row(s) in the period: the classifier needs at least 2" if len(current) < 2
               else f"{len(reference.sample)} reference row(s): the null needs at least 4"
               if len(reference.sample) < 4 else None)
    if skipped:
        log.info(f"no_multivariate_drift not evaluated: {skipped}")
        return {"skipped": skipped, "severity": settings.severity}
    numerical = [c for c in columns if c in spec.numerical_features]
    categorical = [c for c in columns if c in spec.categorical_features]
    digest = hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:12]
    key = (f"reference_stats/{reference.version}.multivariate-null-"
           f"{min(len(current), settings.max_rows_per_side)}-{digest}.json")
    if folder.exists(key):
        null = np.asarray(json.loads(folder.read_bytes(key))["aucs"], dtype=float)
    else:
        null = null_aucs(reference.sample, len(current), numerical, categorical, settings)
        folder.write_bytes(key, json.dumps({"aucs": null.tolist(), "settings": settings.model_dump()}).encode(),
                           "application/json")
    result = multivariate_drift(reference.sample, current, numerical, categorical, settings, null=null)
    return {**result.summary(), "severity": settings.severity}


def build_drift_report(monitor: Monitor, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    DriftConfig = run_config_class(monitor.drift, f"DriftConfig_{monitor.name}")  # noqa: N806

    @dg.asset(
        **asset_args(monitor, DRIFT_REPORT, MONITORING, partitions_def=partitions, kinds={"evidently"},
                     ins={"current_batch": dg.AssetIn(asset_key(monitor, CURRENT_BATCH))},
                     deps=[asset_key(monitor, REFERENCE_DATA)], **period_step_args(monitor))
    )
    def drift_report(
        context: dg.AssetExecutionContext,
        config: DriftConfig,
        current_batch: DataFrame,
        warehouse: WarehouseResource,
        store: ObjectStore,
        viewer: ReportViewer,
    ) -> dg.Output[dict]:
        """Evidently's data-drift preset, this period's batch against the reference, over the spec's monitored
        columns. The HTML and JSON reports go to the store; the report also becomes a run of the monitor's
        project in Evidently's UI (`report_url` opens it; a re-run period keeps one run, the newer); the
        per-column results are in the metadata, and the `no_dataset_drift` check turns the dataset-level verdict
        into a pass or a fail."""
        reference, how = reference_statistics(monitor, warehouse, store, context.log)  # once per run
        batches, windows = by_period(context, current_batch), period_windows(context, partitions)
        summaries = {}
        for partition in windows:  # one period, or each period of a backfill run
            summary, metadata = report_period(context, config, reference, how, batches[partition], partition,
                                              windows[partition][0], store, viewer)
            context.add_asset_metadata(metadata, partition_key=partition)
            summaries[partition] = summary
        return dg.Output(output_for(summaries))

    def report_period(context, config, reference, how, current_batch, partition, period_start, store, viewer):
        """One period's report: stored, pushed to the viewer; its summary (the check's input) and metadata."""
        from drift_platform.core.stats.drift import RunInfo, compute_drift

        run_id = context.run.run_id
        run = RunInfo(timestamp=period_start.to_pydatetime(), name=f"{monitor.period_label} {partition}",
                      metadata={"monitor": monitor.name, "period": partition, "dagster_run_id": run_id})
        result = compute_drift(reference, current_batch, monitor.spec, settings_from(config, monitor.drift), run=run,
                               log=context.log.info)

        folder = store.scoped(monitor.name)
        multivariate = multivariate_summary(monitor, reference, current_batch, folder, context.log)
        html_key, json_key = report_key(partition, run_id, "html"), report_key(partition, run_id, "json")
        folder.write_bytes(html_key, result.report_html, "text/html")
        folder.write_bytes(json_key, result.report_json.encode(), "application/json")
        viewed = push_to_viewer(context, viewer, monitor, result, partition, context.asset_key, folder,
                                report_key(partition, run_id, "snapshot.json"))
        summary = {
            **result.summary(),
            "monitor": monitor.name,
            "period": partition,
            "report_html": folder.location(html_key),
            "report_json": folder.location(json_key),
            "report_url": viewed["report_url"].value if "report_url" in viewed else None,
            "reference_rows": reference.rows,
            "reference_version": reference.version,
            "current_rows": len(current_batch),
            "multivariate": multivariate,
        }
        metadata: dict[str, dg.MetadataValue] = {
            "dataset_drift": dg.MetadataValue.bool(result.dataset_drift),
            "drift_share": dg.MetadataValue.float(result.share),
            "drift_share_threshold": dg.MetadataValue.float(result.drift_share_threshold),
            "drifted_columns": dg.MetadataValue.int(result.drifted_count),
            "monitored_columns": dg.MetadataValue.int(len(result.columns)),
            "columns": dg.MetadataValue.md(result.table().to_markdown(index=False, floatfmt=".4g")),
            "top_drifted_columns": dg.MetadataValue.text(top_drifted(result.columns)),
            "report_html": folder.link(html_key),
            "report_json": folder.link(json_key),
            "reference_rows": dg.MetadataValue.int(reference.rows),
            "reference_version": dg.MetadataValue.text(reference.version),
            "reference_stats": dg.MetadataValue.text(how),
            "current_rows": dg.MetadataValue.int(len(current_batch)),
            **viewed,
        }
        if len(current_batch) < SMALL_PERIOD_ROWS:
            metadata["small_period_note"] = dg.MetadataValue.text(SMALL_PERIOD_NOTE.format(rows=len(current_batch)))
        if multivariate is not None and "auc" in multivariate:
            metadata["multivariate_auc"] = dg.MetadataValue.float(multivariate["auc"])
            metadata["multivariate_threshold"] = dg.MetadataValue.float(multivariate["threshold"])
        for column in result.columns:
            metadata[f"score/{column.column}"] = dg.MetadataValue.float(column.score)
            metadata[f"drifted/{column.column}"] = dg.MetadataValue.int(int(column.drifted))
        return summary, metadata

    return drift_report


def unpushed_reports(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, str]:
    """Periods whose latest report the viewer did not take, and no later push did: period -> snapshot key."""
    latest: dict[str, Any] = {}
    for record in instance.fetch_materializations(key, limit=10_000, ascending=True).records:
        latest[record.partition_key] = record
    pushed_later = {
        record.partition_key: record.storage_id
        for record in instance.fetch_observations(key, limit=10_000, ascending=True).records
        if VIEWER_RUN_ID in record.asset_observation.metadata
    }
    waiting = {}
    for period, record in latest.items():
        metadata = record.asset_materialization.metadata
        if VIEWER_SNAPSHOT in metadata and pushed_later.get(period, -1) < record.storage_id:
            waiting[period] = str(metadata[VIEWER_SNAPSHOT].value)
    return dict(sorted(waiting.items()))


def build_viewer_sync(monitor: Monitor) -> dg.OpDefinition:
    """The op of `<monitor>_viewer_sync_job`: push the reports the viewer missed, oldest period first."""
    key = asset_key(monitor, DRIFT_REPORT)

    @dg.op(name=f"{monitor.name}_push_missing_reports",
           description="Push to Evidently's UI every period's latest drift report it did not take (down or slow at "
           "the time); each push is recorded as an observation of drift_report with the run's link.")
    def push_missing_reports(context: dg.OpExecutionContext, store: ObjectStore, viewer: ReportViewer) -> None:
        from evidently.core.report import Snapshot

        folder, pushed = store.scoped(monitor.name), 0
        waiting = unpushed_reports(context.instance, key)
        for period, snapshot_key in waiting.items():
            snapshot = Snapshot.loads(folder.read_bytes(snapshot_key).decode())
            summary = snapshot.dict()
            threshold = next((m["config"].get("drift_share", 0.5) for m in summary["metrics"]
                              if m["config"].get("type", "").endswith(":DriftedColumnsCount")), 0.5)
            published = viewer.publish(monitor.name, monitor.description, snapshot, monitor.spec.monitored_columns,
                                       threshold, replaces=recorded_viewer_runs(context.instance, key, period),
                                       log=context.log)
            context.log_event(dg.AssetObservation(asset_key=key, partition=period, metadata={
                "report_url": dg.MetadataValue.url(published.url), "viewer_push": dg.MetadataValue.text("ok (later)"),
                VIEWER_RUN_ID: dg.MetadataValue.text(published.run_id)}))
            pushed += 1
        context.log.info(f"pushed {pushed} report(s) the viewer had missed" if pushed else "nothing to push")

    return push_missing_reports
