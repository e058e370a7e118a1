"""Predictions: the champion's predictions for each period's batch, in the warehouse table `<monitor>_predictions`.

Users and the model-quality check (`no_model_degradation`, checks.py) read the same rows: the period's
datetimes and row keys, the labels (the target, when known), the predictions and the model version that made them. A re-run
of a period replaces that period's rows in one transaction, like the history. Before any model has been promoted
there is no champion: the period's predictions are then skipped (no materialization, an observation saying why),
and the run still succeeds.
"""

from collections.abc import Iterator

import dagster as dg

from drift_platform.core.intake.dataset import DatasetSpec, TableLayout
from drift_platform.core.names import CHAMPION_MODEL, CURRENT_BATCH, MONITORING, PREDICTIONS
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import DataFrame, asset_args, asset_key
from drift_platform.lib.partitions import by_period, period_step_args, period_windows, run_periods
from drift_platform.resources import ObjectStore, WarehouseResource

MODEL_VERSION_COLUMN = "model_version"
PREVIEW_ROWS = 10


def prediction_column(spec: DatasetSpec) -> str:
    return f"predicted_{spec.target}"


def identity_columns(spec: DatasetSpec) -> list[str]:
    """The columns that place a prediction: the datetime column and the row key."""
    return list(dict.fromkeys([spec.datetime_column, *spec.key]))


def predictions_layout(spec: DatasetSpec) -> TableLayout:
    """The predictions table: the datetime and key columns (the key is its primary key, as in the history),
    the label (the spec's target, nullable), the prediction (float) and the model version (text)."""
    predicted = prediction_column(spec)
    identity = identity_columns(spec)
    clash = {predicted, MODEL_VERSION_COLUMN} & {*identity, spec.target}
    if clash:
        raise ValueError(f"the dataset's key or target column is named like a predictions column: {sorted(clash)}")
    columns = {c: spec.columns[c] for c in identity}
    columns.update({spec.target: spec.columns[spec.target], predicted: "float", MODEL_VERSION_COLUMN: "str"})
    return TableLayout(columns=columns, time_column=spec.datetime_column, key_columns=tuple(spec.key_columns))


def predictions_frame(model, batch: DataFrame, spec: DatasetSpec, version: str) -> DataFrame:
    """One row per batch row: its datetime and key, label, prediction (NaN where a feature is missing), model
    version."""
    from drift_platform.core.ml.training import in_time_order, predict

    frame = batch[[*identity_columns(spec), spec.target]].copy()
    frame[prediction_column(spec)] = predict(model, batch, spec)
    frame[MODEL_VERSION_COLUMN] = version
    return in_time_order(frame, spec).reset_index(drop=True)


def read_period(warehouse: WarehouseResource, monitor: Monitor, start, end) -> DataFrame | None:
    """The monitor's predictions in [start, end); None if its table does not exist yet."""
    table = monitor.table("predictions")
    if not warehouse.table_exists(table):
        return None
    return warehouse.read(table, predictions_layout(monitor.spec), start, end)


def no_champion_message(period: str) -> str:
    return (
        f"no champion model yet (no models/champion.json in the model store): predictions for {period} skipped. "
        "The first training that passes the gate (the retrain job: trained_model + champion_model) makes one."
    )


def build_predictions(monitor: Monitor, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    spec = monitor.spec

    @dg.asset(
        **asset_args(monitor, PREDICTIONS, MONITORING, partitions_def=partitions, kinds={"scikitlearn", "warehouse"},
                     ins={"current_batch": dg.AssetIn(asset_key(monitor, CURRENT_BATCH))},
                     deps=[asset_key(monitor, CHAMPION_MODEL)],  # lineage: the model in service makes them
                     output_required=False,  # no champion yet: nothing to materialize, and the check is skipped
                     **period_step_args(monitor))
    )
    def predictions(
        context: dg.AssetExecutionContext, current_batch: DataFrame, warehouse: WarehouseResource, store: ObjectStore
    ) -> Iterator[dg.MaterializeResult]:
        """The champion's predictions for the period's batch, in the warehouse table `<monitor>_predictions`
        (datetime, label, `predicted_<target>`, `model_version`); a re-run replaces the period's rows in one
        transaction. Metadata: the period's RMSLE (plotted per partition), the champion's holdout RMSLE and their
        ratio, which the `no_model_degradation` check bounds. Skipped, with an observation saying why, while there
        is no champion."""
        from drift_platform.core.ml.model_registry import (
            ModelIntegrityError,
            champion_version,
            load_model,
            metric,
        )

        periods, models = run_periods(context), store.scoped(monitor.name)
        pointer = champion_version(models)
        if pointer is None:
            for period in periods:
                message = no_champion_message(period)
                context.log.warning(message)
                context.log_event(dg.AssetObservation(asset_key=context.asset_key, partition=period,
                                                      metadata={"skipped": dg.MetadataValue.text(message)}))
            return
        try:
            model, manifest = load_model(models, pointer["version"])
        except ModelIntegrityError as exc:
            raise dg.Failure(
                description=f"the champion is not intact: {exc}. Roll back to an intact version (the rollback job).",
                allow_retries=False,
            ) from exc

        windows, batches = period_windows(context, partitions), by_period(context, current_batch)
        frames = {period: predictions_frame(model, batches[period], spec, pointer["version"]) for period in windows}
        table = monitor.table("predictions")
        # Every period of the run in one transaction, as one period is.
        replaced_rows = warehouse.replace_windows(table, predictions_layout(spec),
                                                  [(frames[period], *windows[period]) for period in windows])
        holdout = metric(manifest, "holdout_rmsle")
        for (period, frame), replaced in zip(frames.items(), replaced_rows, strict=True):
            metadata = period_metadata(frame, replaced, pointer["version"], holdout, table)
            context.add_asset_metadata(metadata, partition_key=period)
            context.log.info(
                f"{len(frame)} prediction(s) by {pointer['version']} for {period}"
                + (f"; RMSLE {metadata['rmsle'].value:.4f} (holdout {holdout:.4f})" if "rmsle" in metadata and holdout
                   else "")
            )
        yield dg.MaterializeResult()

    def period_metadata(frame, replaced, version, holdout, table) -> dict[str, dg.MetadataValue]:
        from drift_platform.core.ml.training import period_quality

        predicted = prediction_column(spec)
        quality = period_quality(frame[spec.target], frame[predicted], holdout or 0.0, max_ratio=float("inf"))
        metadata: dict[str, dg.MetadataValue] = {
            "rows": dg.MetadataValue.int(len(frame)),
            "predicted_rows": dg.MetadataValue.int(int(frame[predicted].notna().sum())),
            "labelled_rows": dg.MetadataValue.int(quality.rows),
            "replaced_rows": dg.MetadataValue.int(replaced),
            "model_version": dg.MetadataValue.text(version),
            "table": dg.MetadataValue.text(table),
            "preview": dg.MetadataValue.md(frame.head(PREVIEW_ROWS).to_markdown(index=False, floatfmt=".1f")),
        }
        if len(frame) and frame[predicted].notna().any():
            metadata["mean_prediction"] = dg.MetadataValue.float(float(frame[predicted].mean()))
        if quality.rmsle is not None:
            metadata["rmsle"] = dg.MetadataValue.float(quality.rmsle)
            metadata["mean_actual"] = dg.MetadataValue.float(float(frame[spec.target].astype(float).mean()))
        if holdout is not None:
            metadata["champion_holdout_rmsle"] = dg.MetadataValue.float(holdout)
        if quality.ratio is not None and holdout:
            metadata["rmsle_ratio"] = dg.MetadataValue.float(quality.ratio)
        return metadata

    return predictions
