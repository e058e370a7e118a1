"""Predictions of an external model (`model: {source: external}`): the outputs the team's model logged in the
source's rows, in the warehouse table `<monitor>_predictions`, laid out as a platform model's predictions are.

The table's readers do not tell the two apart: the period's datetimes and keys, the labels, `predicted_<target>`
(the spec's prediction_column), a classifier's `proba_<class>` (its probability_columns) and the model version
`external` (core/ml/external.py). A re-run of a period replaces its rows in one transaction. Nothing is trained
or loaded: the asset depends on the batch (and, for the quality bound, on the reference), never on a model.

The model-quality check (`no_model_degradation`, lib/checks.py) judges these rows against the external model's
manifest: the logged predictions' value of the metric per period of the reference window
(`external_manifest_for`, cached in the store).
"""

import dagster as dg

from drift_platform.core.names import (
    CURRENT_BATCH,
    EXTERNAL_MODEL_VERSION,
    MONITORING,
    PREDICTIONS,
    REFERENCE_DATA,
)
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import DataFrame, asset_args, asset_key
from drift_platform.lib.assets.estimation import estimate_metadata
from drift_platform.lib.partitions import by_period, period_step_args, period_windows
from drift_platform.resources import ObjectStore, ReportViewer, WarehouseResource


def external_manifest_key(monitor: Monitor, fingerprint: dict) -> str:
    """Where the external model's manifest for this reference is kept in the monitor's store folder: keyed by the
    reference table's warehouse fingerprint (its version: any change of its rows changes it) and the settings
    that shape the manifest (training, cadence)."""
    import hashlib
    import json

    shaped = {"reference": fingerprint, "training": monitor.training.model_dump(mode="json"),
              "cadence": monitor.cadence, "spec": monitor.spec.model_dump(mode="json")}
    digest = hashlib.sha256(json.dumps(shaped, sort_keys=True, default=str).encode()).hexdigest()
    return f"reference_stats/{digest[:20]}.external-manifest.json"


def external_manifest_for(monitor: Monitor, warehouse: WarehouseResource, store: ObjectStore, log) -> dict:
    """The external model's manifest (`core.ml.external.external_manifest` of the reference table's rows): read
    from the store when the reference has not changed since it was made (no reference row read), else made and
    kept there. The reference table is created from the source on first use, as the drift report does."""
    import json

    from drift_platform.core.ml.external import external_manifest
    from drift_platform.lib.assets.ingestion import ensure_reference

    spec, table, folder = monitor.spec, monitor.table("reference"), store.scoped(monitor.name)
    reference = ensure_reference(monitor, warehouse, store, log) if not warehouse.table_exists(table) else None
    logged = [spec.target, spec.prediction_column, *(spec.probability_columns or {}).values()]
    key = external_manifest_key(monitor, warehouse.fingerprint(table, spec.layout, logged))
    if folder.exists(key):
        return json.loads(folder.read_bytes(key))
    reference = warehouse.read(table, spec.layout) if reference is None else reference
    manifest = external_manifest(reference, spec, monitor.training, monitor.cadence)
    folder.write_bytes(key, json.dumps(manifest, indent=1, default=str).encode(), "application/json")
    log.info(f"external model manifest for the reference ({len(reference)} rows) kept at {folder.location(key)}")
    return manifest


def write_logged_predictions(context: dg.AssetExecutionContext, monitor: Monitor, partitions, warehouse, store,
                             viewer, current_batch: DataFrame, manifest: dict) -> None:
    """Each period's logged predictions, written in one transaction; each period's quality report published
    (lib/assets/quality_report.py) and its metadata added: that of a platform model's predictions
    (`period_metadata`: counts, the metric, the reference's value of it as the holdout, their ratio) and the
    quality report's links."""
    from drift_platform.core.ml.external import logged_predictions_frame
    from drift_platform.core.ml.gate import holdout_of
    from drift_platform.core.ml.predictions import predictions_layout
    from drift_platform.core.ml.training import scoring_from_manifest
    from drift_platform.lib.assets.predictions import period_metadata
    from drift_platform.lib.assets.quality_report import publish_quality_reports

    spec, scoring, holdout = monitor.spec, scoring_from_manifest(manifest), holdout_of(manifest)
    classes = list(scoring.classes) if scoring.classes is not None else None
    windows, batches = period_windows(context, partitions), by_period(context, current_batch)
    frames = {period: logged_predictions_frame(batches[period], spec, classes) for period in windows}
    table = monitor.table("predictions")
    replaced_rows = warehouse.replace_windows(table, predictions_layout(spec, classes),
                                              [(frames[period], *windows[period]) for period in windows])
    reports = publish_quality_reports(context, monitor, frames, classes, viewer, store)
    estimated = estimate_metadata(context, monitor, warehouse, store, viewer, EXTERNAL_MODEL_VERSION, None, frames,
                                  batches)
    for (period, frame), replaced in zip(frames.items(), replaced_rows, strict=True):
        metadata = period_metadata(frame, replaced, EXTERNAL_MODEL_VERSION, holdout, table, monitor, scoring)
        context.add_asset_metadata({**metadata, **reports.get(period, {}), **estimated.get(period, {})},
                                   partition_key=period)
        value = metadata.get(scoring.metric)
        context.log.info(f"{len(frame)} logged prediction(s) of the external model for {period}"
                         + (f"; {scoring.info.label} {value.value:.4f}" if value is not None else ""))


def build_logged_predictions(monitor: Monitor, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """An external model's `predictions` asset, partitioned by period."""

    @dg.asset(
        **asset_args(monitor, PREDICTIONS, MONITORING, partitions_def=partitions, kinds={"warehouse"},
                     ins={"current_batch": dg.AssetIn(asset_key(monitor, CURRENT_BATCH))},
                     deps=[asset_key(monitor, REFERENCE_DATA)],  # lineage: the quality bound comes from it
                     **period_step_args(monitor))
    )
    def predictions(
        context: dg.AssetExecutionContext, current_batch: DataFrame, warehouse: WarehouseResource,
        store: ObjectStore, viewer: ReportViewer,
    ) -> dg.MaterializeResult:
        """The external model's logged predictions for the period's batch (the source's prediction column, and a
        classifier's probability columns), in the warehouse table `<monitor>_predictions` in the layout of a
        platform model's (`predicted_<target>`, `proba_<class>`, model_version `external`); a re-run replaces
        the period's rows in one transaction. Metadata, named with the metric m (`training.metric`): the
        period's <m>, the reference's (champion_holdout_<m>) and their ratio, and the period's Evidently quality
        report when it has labels. The `no_model_degradation` check bounds <m> by the reference's periods."""
        manifest = external_manifest_for(monitor, warehouse, store, context.log)
        write_logged_predictions(context, monitor, partitions, warehouse, store, viewer, current_batch, manifest)
        return dg.MaterializeResult()

    return predictions
