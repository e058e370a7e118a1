"""Predictions: the champion's predictions for each period's batch, in the warehouse table `<monitor>_predictions`.

Users and the model-quality check (`no_model_degradation`, lib/checks.py) read the same rows: the period's
datetimes and row keys, the labels (the target, when known), the predictions and the model version that made them. A re-run
of a period replaces that period's rows in one transaction, like the history. Before any model has been promoted
there is no champion: the period's predictions are then skipped (no materialization, an observation saying why),
and the run still succeeds.
"""

from collections.abc import Iterator

import dagster as dg

from drift_platform.core.ml.predictions import prediction_numbers, predictions_frame, predictions_layout
from drift_platform.core.names import CHAMPION_MODEL, CURRENT_BATCH, MONITORING, PREDICTIONS
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import DataFrame, asset_args, asset_key
from drift_platform.lib.assets.estimation import estimate_metadata
from drift_platform.lib.partitions import by_period, period_step_args, period_windows, run_periods
from drift_platform.resources import ObjectStore, ReportViewer, ScopedStore, WarehouseResource

PREVIEW_ROWS = 10
COUNTS = ("rows", "predicted_rows", "labelled_rows")


def read_period(warehouse: WarehouseResource, monitor: Monitor, start, end, classes=None) -> DataFrame | None:
    """The monitor's predictions in [start, end) (a classifier's with the probability columns of `classes`);
    None if its table does not exist yet."""
    table = monitor.table("predictions")
    if not warehouse.table_exists(table):
        return None
    return warehouse.read(table, predictions_layout(monitor.spec, classes), start, end)


def champion_classes(monitor: Monitor, models: ScopedStore) -> list | None:
    """A classifier's classes as its predictions table lays them out: those the champion was trained with (its
    manifest's), else the spec's `classes`; None for a regression."""
    from drift_platform.core.ml.model_registry import champion_version, read_manifest

    if not monitor.spec.is_classifier:
        return None
    pointer = champion_version(models)
    classes = read_manifest(models, pointer["version"]).get("classes") if pointer else None
    return classes or monitor.spec.known_classes


def no_champion_message(period: str) -> str:
    return (
        f"no champion model yet (no models/champion.json in the model store): predictions for {period} skipped. "
        "The first training that passes the gate (the retrain job: trained_model + champion_model) makes one."
    )


def skip_without_champion(context: dg.AssetExecutionContext, periods: list[str]) -> None:
    """Each period of the run skipped: a warning and an observation saying why."""
    for period in periods:
        message = no_champion_message(period)
        context.log.warning(message)
        context.log_event(dg.AssetObservation(asset_key=context.asset_key, partition=period,
                                              metadata={"skipped": dg.MetadataValue.text(message)}))


def load_champion(models: ScopedStore, version: str, trusted: tuple[str, ...] = ()):
    """The champion's model and manifest; a champion that is not intact fails the run, without retries."""
    from drift_platform.core.ml.model_registry import ModelIntegrityError, load_model

    try:
        return load_model(models, version, trusted_extra=trusted)
    except ModelIntegrityError as exc:
        raise dg.Failure(
            description=f"the champion is not intact: {exc}. Roll back to an intact version (the rollback job).",
            allow_retries=False,
        ) from exc


def period_metadata(frame: DataFrame, replaced: int, version: str, holdout: float | None, table: str,
                    monitor: Monitor, scoring=None) -> dict[str, dg.MetadataValue]:
    """A period's metadata: its counts, the rows replaced, the model version and table, a preview, then the
    numbers `prediction_numbers` gives when defined, named with the metric m (mean prediction, <m>,
    champion_holdout_<m>, <m>_ratio)."""
    numbers = prediction_numbers(frame, monitor.spec, holdout, scoring)
    return {
        **({"metric": dg.MetadataValue.text(scoring.metric)} if scoring is not None else {}),
        **{name: dg.MetadataValue.int(numbers.pop(name)) for name in COUNTS},
        "replaced_rows": dg.MetadataValue.int(replaced),
        "model_version": dg.MetadataValue.text(version),
        "table": dg.MetadataValue.text(table),
        "preview": dg.MetadataValue.md(frame.head(PREVIEW_ROWS).to_markdown(index=False, floatfmt=".1f")),
        **{name: dg.MetadataValue.float(value) for name, value in numbers.items()},
    }


def write_predictions(context: dg.AssetExecutionContext, monitor: Monitor, partitions: dg.PartitionsDefinition,
                      warehouse: WarehouseResource, current_batch: DataFrame, model, version: str,
                      manifest: dict, reports: tuple[ReportViewer, ObjectStore]) -> None:
    """The model's predictions for each period of the run, written in one transaction (as one period is), each
    period's metadata added and logged (the model's metric, from its `manifest`), with the links to the
    Evidently quality report of each period with labels (`reports`: the viewer and the store it is published
    to and kept in)."""
    from drift_platform.core.ml.gate import holdout_of
    from drift_platform.core.ml.training import scoring_from_manifest
    from drift_platform.lib.assets.quality_report import publish_quality_reports

    spec, scoring, holdout = monitor.spec, scoring_from_manifest(manifest), holdout_of(manifest)
    classes = scoring.classes or monitor.spec.known_classes
    windows, batches = period_windows(context, partitions), by_period(context, current_batch)
    frames = {period: predictions_frame(model, batches[period], spec, version, classes) for period in windows}
    table = monitor.table("predictions")
    replaced_rows = warehouse.replace_windows(table, predictions_layout(spec, classes),
                                              [(frames[period], *windows[period]) for period in windows])
    m, label = scoring.metric, scoring.info.label
    quality = publish_quality_reports(context, monitor, frames, classes, *reports)
    estimated = estimate_metadata(context, monitor, warehouse, reports[1], reports[0], version, model, frames, batches)
    for (period, frame), replaced in zip(frames.items(), replaced_rows, strict=True):
        metadata = {**period_metadata(frame, replaced, version, holdout, table, monitor, scoring),
                    **quality.get(period, {}), **estimated.get(period, {})}
        context.add_asset_metadata(metadata, partition_key=period)
        context.log.info(
            f"{len(frame)} prediction(s) by {version} for {period}"
            + (f"; {label} {metadata[m].value:.4f} (holdout {holdout:.4f})" if m in metadata and holdout else "")
        )


def build_predictions(monitor: Monitor, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The monitor's `predictions` asset, partitioned by period."""

    @dg.asset(
        **asset_args(monitor, PREDICTIONS, MONITORING, partitions_def=partitions, kinds={"scikitlearn", "warehouse"},
                     ins={"current_batch": dg.AssetIn(asset_key(monitor, CURRENT_BATCH))},
                     deps=[asset_key(monitor, CHAMPION_MODEL)],  # lineage: the model in service makes them
                     output_required=False,  # no champion yet: nothing to materialize, and the check is skipped
                     **period_step_args(monitor))
    )
    def predictions(
        context: dg.AssetExecutionContext, current_batch: DataFrame, warehouse: WarehouseResource, store: ObjectStore,
        viewer: ReportViewer,
    ) -> Iterator[dg.MaterializeResult]:
        """The champion's predictions for the period's batch, in the warehouse table `<monitor>_predictions`
        (datetime, label, `predicted_<target>`: a value, or a classifier's class with `proba_<class>` columns,
        `model_version`); a re-run replaces the period's rows in one transaction. Metadata, named with the metric
        m (`training.metric`, e.g. rmsle, roc_auc): the period's <m> (plotted per partition), the champion's
        holdout <m> and their ratio, which the `no_model_degradation` check bounds; for each period with labels,
        Evidently's quality report (RegressionPreset or ClassificationPreset) as a run of the monitor's project:
        `quality_report_url` opens it. Skipped, with an observation saying why, while there is no champion."""
        from drift_platform.core.ml.model_registry import champion_version, configured_trust

        periods, models = run_periods(context), store.scoped(monitor.name)
        pointer = champion_version(models)
        if pointer is None:
            skip_without_champion(context, periods)
            return
        model, manifest = load_champion(models, pointer["version"], configured_trust(monitor.training))
        write_predictions(context, monitor, partitions, warehouse, current_batch, model, pointer["version"], manifest,
                          (viewer, store))
        yield dg.MaterializeResult()

    return predictions
