"""Monitoring: each period's drift report of the current batch against the reference.

The report's summary and metadata figures are plain values from drift_platform/core/stats/report.py; this
module runs the drift, stores the reports, pushes them to Evidently's UI and turns the figures into Dagster
metadata.
The op that pushes the reports the viewer missed is in drift_platform/lib/ops/viewer_sync.py.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from drift_platform.core.names import (
    CHAMPION_MODEL,
    CURRENT_BATCH,
    DRIFT_REPORT,
    EXTERNAL_MODEL_VERSION,
    MONITORING,
    REFERENCE_DATA,
)
from drift_platform.core.settings import Monitor
from drift_platform.core.stats.outputs import ModelOutputs, judge_outputs, output_kinds
from drift_platform.core.stats.report import (
    Markdown,
    output_values,
    period_values,
    report_summary,
    result_values,
    with_output_metrics,
    with_quality_metrics,
)
from drift_platform.lib.assets import DataFrame, asset_args, asset_key
from drift_platform.lib.assets.ingestion import ensure_reference, reference_statistics
from drift_platform.lib.partitions import by_period, output_for, period_step_args, period_windows
from drift_platform.lib.run_config import run_config_class, settings_from
from drift_platform.resources import ObjectStore, ReportViewer, WarehouseResource

# A report's figures by type: the Dagster metadata value each becomes (exact types: a bool is not an int).
METADATA_KINDS = {
    bool: dg.MetadataValue.bool,
    int: dg.MetadataValue.int,
    float: dg.MetadataValue.float,
    str: dg.MetadataValue.text,
    Markdown: lambda value: dg.MetadataValue.md(str(value)),
}


def report_key(partition: str, run_id: str, suffix: str) -> str:
    """Reports are versioned per run: re-running a period keeps the earlier report."""
    return f"drift_reports/{partition}/{run_id}.{suffix}"


VIEWER_RUN_ID = "evidently_run_id"
VIEWER_SNAPSHOT = "viewer_snapshot_key"  # where a report the viewer did not take waits, in the monitor's folder


def recorded_viewer_runs(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str,
                         field: str = VIEWER_RUN_ID) -> list[str]:
    """The Evidently runs the period's earlier reports became (materializations, and observations of pushes made
    later by the viewer sync job), as their metadata `field` records them (the drift report's evidently_run_id,
    the predictions' quality_run_id): the runs a new report of the period replaces."""
    return recorded_viewer_runs_by_period(instance, key, [partition], field)[partition]


def recorded_viewer_runs_by_period(instance: dg.DagsterInstance, key: dg.AssetKey, partitions: list[str],
                                   field: str = VIEWER_RUN_ID) -> dict[str, list[str]]:
    """`recorded_viewer_runs` of each of a run's periods, in one query of materializations and one of
    observations (at most 100 records a period)."""
    runs: dict[str, list[str]] = {partition: [] for partition in partitions}
    records_filter = dg.AssetRecordsFilter(asset_key=key, asset_partitions=list(partitions))
    limit = 100 * len(partitions)
    records = [*instance.fetch_materializations(records_filter, limit=limit).records,
               *instance.fetch_observations(records_filter, limit=limit).records]
    for record in records:
        event = record.asset_materialization or record.asset_observation
        value = event.metadata.get(field) if event else None
        if value is not None and value.value not in ("", "-") and record.partition_key in runs:
            runs[record.partition_key].append(str(value.value))
    return runs


def push_to_viewer(context, viewer: ReportViewer, monitor: Monitor, result, replaces: list[str],
                   snapshot_folder, snapshot_key: str) -> dict[str, dg.MetadataValue]:
    """The report as a run of the monitor's Evidently project replacing the period's earlier runs (`replaces`:
    `recorded_viewer_runs`), or, when the viewer is down, the snapshot kept in the store for
    `<monitor>_viewer_sync_job` and the failure in the metadata; never a failed step."""
    from drift_platform.lib.assets.estimate_report import estimated_metric
    from drift_platform.resources.viewer import ViewerUnavailable

    try:
        published = viewer.publish(monitor.name, monitor.description, result.snapshot, monitor.spec.monitored_columns,
                                   result.drift_share_threshold, replaces=replaces, log=context.log,
                                   estimated=estimated_metric(monitor))
    except ViewerUnavailable as exc:
        snapshot_folder.write_bytes(snapshot_key, result.snapshot.dumps().encode(), "application/json")
        context.log.warning(f"the report is in the store; Evidently UI ({viewer.describe()}) did not take it: {exc}")
        return {"viewer_push": dg.MetadataValue.text(f"failed: {exc}"), VIEWER_RUN_ID: dg.MetadataValue.text("-"),
                VIEWER_SNAPSHOT: dg.MetadataValue.text(snapshot_key)}
    return {"report_url": dg.MetadataValue.url(published.url), "viewer_push": dg.MetadataValue.text("ok"),
            VIEWER_RUN_ID: dg.MetadataValue.text(published.run_id)}


# The multivariate nulls this process has read or made, by their location in the store: a null is named by what
# it depends on (the reference's version, the block size, the settings' digest), so it never changes in place.
KEPT_NULLS: dict[str, Any] = {}


def multivariate_summary(monitor: Monitor, reference, current, folder, log) -> dict | None:
    """`no_multivariate_drift`'s numbers: the domain classifier on the reference's kept sample (its statistics'
    seeded rows, at most 5,000, in the reference's time order) and the period's rows. The null (AUCs of contiguous
    blocks of the reference against the rest of it, which set the threshold) depends only on the reference, the
    period's row count and the settings: it is computed once and kept beside the reference's statistics. None
    when the monitor turns the check off; {"skipped": why} when it cannot judge this period (too many columns,
    fewer than 2 rows in the period or 4 in the reference)."""
    import hashlib
    import json

    import numpy as np

    from drift_platform.core.stats.multivariate import multivariate_drift, null_aucs, null_sizes

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
    # "periods" in the key: a null cached by earlier versions (random draws; sliding row blocks where the reference
    # is an evenly spaced series, now cut into whole periods) is never reused. The null depends on the period's
    # rows only through its block's size.
    block = null_sizes(len(reference.sample), len(current), settings).block
    key = f"reference_stats/{reference.version}.multivariate-null-periods-{block}-{digest}.json"
    null = KEPT_NULLS.get(folder.url(key))  # a backfill run's periods read it once
    if null is None and folder.exists(key):
        null = np.asarray(json.loads(folder.read_bytes(key))["aucs"], dtype=float)
    elif null is None:
        null = null_aucs(reference.sample, len(current), numerical, categorical, settings)
        folder.write_bytes(key, json.dumps({"aucs": null.tolist(), "settings": settings.model_dump()}).encode(),
                           "application/json")
    KEPT_NULLS[folder.url(key)] = null
    result = multivariate_drift(reference.sample, current, numerical, categorical, settings, null=null)
    return {**result.summary(), "severity": settings.severity}


def data_quality_summary(monitor: Monitor, reference, current, log) -> dict | None:
    """`no_data_quality_regression`'s numbers (drift_platform/core/stats/quality.py): each monitored column's
    missing, outside-range and unseen-level shares in the period against the bounds the reference's cached
    quality blocks set. None when the monitor turns the check off; {"skipped": why} when it cannot judge."""
    from drift_platform.core.stats.quality import judge_period

    if not monitor.data_quality.enabled:
        return None
    summary = judge_period(reference, current, monitor.data_quality)
    if "skipped" in summary:
        log.info(f"no_data_quality_regression not evaluated: {summary['skipped']}")
    return summary


def champion_outputs(monitor: Monitor, models, log) -> ModelOutputs:
    """A platform monitor's model output: the champion's predictions (core/ml/predictions.py, the predictions
    table's layout, the classes of its manifest). No champion yet, or one that cannot be loaded: no output (the
    prediction drift is skipped, saying why; the target drift is still judged). The predictions asset fails on a
    champion that is not intact; the drift report only says so."""
    from drift_platform.core.ml.model_registry import (
        ModelIntegrityError,
        UnknownModelVersionError,
        champion_version,
        configured_trust,
        load_model,
    )
    from drift_platform.core.ml.predictions import predictions_frame
    from drift_platform.lib.assets.predictions import champion_classes

    spec, pointer = monitor.spec, champion_version(models)
    if pointer is None:
        return ModelOutputs(None, skipped="no champion model yet (no models/champion.json in the model store): the "
                            "first training that passes the gate (the retrain job) makes one")
    version = pointer["version"]
    try:
        model, _ = load_model(models, version, trusted_extra=configured_trust(monitor.training))
    except (ModelIntegrityError, UnknownModelVersionError) as exc:
        log.warning(f"prediction drift not evaluated: the champion {version} cannot be loaded: {exc}")
        return ModelOutputs(None, skipped=f"the champion {version} cannot be loaded: {exc}")
    classes = champion_classes(monitor, models)
    return ModelOutputs(version, output_kinds(spec, classes, hasattr(model, "predict_proba")),
                        lambda frame: predictions_frame(model, frame, spec, version, classes))


def logged_outputs(monitor: Monitor) -> ModelOutputs:
    """An external monitor's model output: the predictions its source's rows carry (core/ml/external.py), in the
    predictions table's layout; a binary model that logs only its positive class's probability, with no
    `classes` in the spec, has that class alone."""
    from drift_platform.core.ml.external import external_classes, logged_predictions_frame

    spec = monitor.spec
    try:
        classes = external_classes(spec)
    except ValueError:
        classes = [spec.label(c) for c in spec.probability_columns or {}]
    return ModelOutputs(EXTERNAL_MODEL_VERSION, output_kinds(spec, classes, bool(spec.probability_columns)),
                        lambda frame: logged_predictions_frame(frame, spec, classes))


def labels_digest(monitor: Monitor, warehouse: WarehouseResource) -> str:
    """A digest of the reference table's target and logged prediction columns (the warehouse's fingerprint, one
    scan, no rows read): the reference's version covers its monitored columns only, and relabelled or re-logged
    reference rows must not reuse output statistics made from the earlier ones."""
    import hashlib
    import json

    spec = monitor.spec
    columns = [spec.target, *([spec.prediction_column] if spec.prediction_column else []),
               *(spec.probability_columns or {}).values()]
    fingerprint = warehouse.fingerprint(monitor.table("reference"), spec.layout, columns)
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:12]


def output_side(monitor: Monitor, reference, warehouse: WarehouseResource, store: ObjectStore,
                log) -> tuple[ModelOutputs, Any] | None:
    """The run's model output (`champion_outputs`, `logged_outputs`) and the statistics of the reference's
    outputs and labels (core/stats/outputs.py), kept in the store per reference and model version: the
    reference's rows are read (and the model run on them) only when they are not there yet. None when the
    monitor does not test its output (`prediction_drift.enabled: false`)."""
    from drift_platform.core.stats.outputs import NO_MODEL, build_output_stats, output_stats_key
    from drift_platform.core.stats.reference_stats import ReferenceStats

    if not monitor.prediction_drift.enabled:
        return None
    folder = store.scoped(monitor.name)
    model = logged_outputs(monitor) if monitor.external else champion_outputs(monitor, folder, log)
    frame = None if warehouse.table_exists(monitor.table("reference")) else ensure_reference(
        monitor, warehouse, store, log)
    key = output_stats_key(reference.version, f"{model.version or NO_MODEL}-{labels_digest(monitor, warehouse)}")
    if folder.exists(key):
        try:
            return model, ReferenceStats.from_bytes(folder.read_bytes(key))
        except ValueError as exc:  # another format, or damaged: rebuilt below
            log.warning(f"{key} not used ({exc}): rebuilt from the reference")
    frame = ensure_reference(monitor, warehouse, store, log) if frame is None else frame
    stats = build_output_stats(model.outputs(frame) if model.outputs else frame, model.kinds, monitor.spec)
    folder.write_bytes(key, stats.to_bytes())
    log.info(f"reference output statistics {key} built: {', '.join(stats.columns) or 'no column with a value'}")
    return model, stats


def as_metadata(values: Mapping[str, Any]) -> dict[str, dg.MetadataValue]:
    """Plain report figures (drift_platform/core/stats/report.py) as Dagster metadata, each by its type."""
    return {key: METADATA_KINDS[type(value)](value) for key, value in values.items()}


def run_drift(context, monitor: Monitor, config: dg.Config, reference, current_batch: DataFrame,
              partition: str, period_start):
    """The period's drift result, its Evidently snapshot named after the period and the Dagster run."""
    from drift_platform.core.stats.drift import RunInfo, compute_drift

    run_id = context.run.run_id
    run = RunInfo(timestamp=period_start.to_pydatetime(), name=f"{monitor.period_label} {partition}",
                  metadata={"monitor": monitor.name, "period": partition, "dagster_run_id": run_id})
    settings = settings_from(config, monitor.drift)
    return compute_drift(reference, current_batch, monitor.spec, settings, run=run, log=context.log.info)


def store_reports(folder, result, partition: str, run_id: str) -> tuple[str, str]:
    """The HTML and JSON reports written to the monitor's folder of the store: their keys."""
    html_key, json_key = report_key(partition, run_id, "html"), report_key(partition, run_id, "json")
    folder.write_bytes(html_key, result.report_html, "text/html")
    folder.write_bytes(json_key, result.report_json.encode(), "application/json")
    return html_key, json_key


def report_metadata(result, reference, how: str, current_rows: int, multivariate: dict | None,
                    links: tuple[dg.MetadataValue, dg.MetadataValue],
                    viewed: dict[str, dg.MetadataValue]) -> dict[str, dg.MetadataValue]:
    """The period's metadata: the result's figures, the reports' links, the reference and the period's rows,
    what the viewer did, then the small-period note, the multivariate figures and each column's score and flag."""
    return {
        **as_metadata(result_values(result)),
        "report_html": links[0],
        "report_json": links[1],
        "reference_rows": dg.MetadataValue.int(reference.rows),
        "reference_version": dg.MetadataValue.text(reference.version),
        "reference_stats": dg.MetadataValue.text(how),
        "current_rows": dg.MetadataValue.int(current_rows),
        **viewed,
        **as_metadata(period_values(result, current_rows, multivariate)),
    }


def report_period(context, monitor: Monitor, config: dg.Config, reference, how: str, current_batch: DataFrame,
                  partition: str, period_start, store: ObjectStore, viewer: ReportViewer,
                  outputs: tuple[ModelOutputs, Any] | None = None,
                  replaces: list[str] | None = None) -> tuple[dict, dict]:
    """One period's report: stored, pushed to the viewer; its summary (the checks' input, with the period's
    data-quality, prediction drift and target drift summaries) and metadata (with the data-quality figures, then
    the prediction and target drift figures, last). `outputs`: `output_side`'s (None: not tested); `replaces`:
    the period's earlier viewer runs (None: looked up)."""
    from drift_platform.core.stats.quality import quality_values

    run_id = context.run.run_id
    result = run_drift(context, monitor, config, reference, current_batch, partition, period_start)
    folder = store.scoped(monitor.name)
    multivariate = multivariate_summary(monitor, reference, current_batch, folder, context.log)
    data_quality = data_quality_summary(monitor, reference, current_batch, context.log)
    prediction, target = (None, None) if outputs is None else judge_outputs(
        *outputs, current_batch, monitor.spec, monitor.prediction_drift)
    result = with_quality_metrics(result, reference, data_quality)  # the figures in the viewer's run too
    result = with_output_metrics(result, prediction, target)
    html_key, json_key = store_reports(folder, result, partition, run_id)
    if replaces is None:
        replaces = recorded_viewer_runs(context.instance, context.asset_key, partition)
    viewed = push_to_viewer(context, viewer, monitor, result, replaces, folder,
                            report_key(partition, run_id, "snapshot.json"))
    summary = report_summary(
        result, reference, len(current_batch), multivariate, monitor=monitor.name, period=partition,
        locations=(folder.location(html_key), folder.location(json_key)),
        report_url=viewed["report_url"].value if "report_url" in viewed else None,
    )
    summary.update(data_quality=data_quality, prediction_drift=prediction, target_drift=target)
    metadata = report_metadata(result, reference, how, len(current_batch), multivariate,
                               (folder.link(html_key), folder.link(json_key)), viewed)
    metadata.update(as_metadata(quality_values(data_quality)))
    metadata.update(as_metadata(output_values(prediction, target)))
    return summary, metadata


def build_drift_report(monitor: Monitor, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The monitor's `drift_report` asset, with its run config (the monitor's drift settings)."""
    DriftConfig = run_config_class(monitor.drift, f"DriftConfig_{monitor.name}")  # noqa: N806

    @dg.asset(
        **asset_args(monitor, DRIFT_REPORT, MONITORING, partitions_def=partitions, kinds={"evidently"},
                     ins={"current_batch": dg.AssetIn(asset_key(monitor, CURRENT_BATCH))},
                     # lineage: the champion's predictions are tested (an external model has no champion_model)
                     deps=[asset_key(monitor, REFERENCE_DATA),
                           *([] if monitor.external else [asset_key(monitor, CHAMPION_MODEL)])],
                     **period_step_args(monitor))
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
        into a pass or a fail. Apart from the feature columns, the model's output (the champion's predictions, or
        an external model's logged ones) and the labelled rows' target are tested against the reference's
        (`prediction_drift*`, `target_drift*` in the metadata; the `no_prediction_drift` check)."""
        reference, how = reference_statistics(monitor, warehouse, store, context.log)  # once per run
        outputs = output_side(monitor, reference, warehouse, store, context.log)  # the model's, once per run
        batches, windows = by_period(context, current_batch), period_windows(context, partitions)
        earlier = recorded_viewer_runs_by_period(context.instance, context.asset_key, list(windows))  # once per run
        summaries = {}
        for partition in windows:  # one period, or each period of a backfill run
            summary, metadata = report_period(context, monitor, config, reference, how, batches[partition],
                                              partition, windows[partition][0], store, viewer, outputs,
                                              earlier[partition])
            context.add_asset_metadata(metadata, partition_key=partition)
            summaries[partition] = summary
        return dg.Output(output_for(summaries))

    return drift_report
