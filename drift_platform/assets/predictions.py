"""Predictions: the champion's predictions for each week's batch, in the warehouse table `predictions`.

Users and the model-quality check (`no_model_degradation`, checks.py) read the same rows: the week's datetime,
its label (the target, when known), the prediction and the model version that made it. A re-run of a week
replaces that week's rows in one transaction, like the history. Before any model has been promoted there is no
champion: the week's predictions are then skipped (no materialization, an observation saying why), and the
weekly run still succeeds.
"""


from collections.abc import Iterator

import dagster as dg

from drift_platform.assets import DataFrame
from drift_platform.assets.lifecycle import champion_model
from drift_platform.constants import MONITORING_GROUP, OWNERS, PREDICTIONS_TABLE
from drift_platform.dataset import DatasetSpec
from drift_platform.partitions import weekly_partitions
from drift_platform.resources import ArtifactStore, DatasetResource, WarehouseResource

MODEL_VERSION_COLUMN = "model_version"
PREVIEW_ROWS = 10


def prediction_column(spec: DatasetSpec) -> str:
    return f"predicted_{spec.target}"


def predictions_spec(spec: DatasetSpec) -> DatasetSpec:
    """The predictions table's typing, as a spec the warehouse understands: the datetime column (primary key),
    the label (the spec's target, nullable), the prediction (float) and the model version (text)."""
    predicted = prediction_column(spec)
    clash = {predicted, MODEL_VERSION_COLUMN} & {spec.datetime_column, spec.target}
    if clash:
        raise ValueError(f"the dataset's datetime or target column is named like a predictions column: {sorted(clash)}")
    return DatasetSpec(
        name=f"{spec.name}_predictions",
        datetime_column=spec.datetime_column,
        target=spec.target,
        columns={
            spec.datetime_column: "datetime",
            spec.target: spec.columns[spec.target],
            predicted: "float",
            MODEL_VERSION_COLUMN: "str",
        },
        numerical_features=[predicted],
        categorical_features=[],
    )


def predictions_frame(model, batch: DataFrame, spec: DatasetSpec, version: str) -> DataFrame:
    """One row per batch row: datetime, label, prediction (NaN where a feature is missing), model version."""
    from drift_platform.training import predict

    frame = batch[[spec.datetime_column, spec.target]].copy()
    frame[prediction_column(spec)] = predict(model, batch, spec)
    frame[MODEL_VERSION_COLUMN] = version
    return frame.sort_values(spec.datetime_column, kind="stable").reset_index(drop=True)


def read_week(warehouse: WarehouseResource, spec: DatasetSpec, start, end) -> DataFrame | None:
    """The predictions table's rows in [start, end); None if the table does not exist yet."""
    if not warehouse.table_exists(PREDICTIONS_TABLE):
        return None
    return warehouse.read(PREDICTIONS_TABLE, predictions_spec(spec), start, end)


def no_champion_message(week: str) -> str:
    return (
        f"no champion model yet (no models/champion.json in the model store): predictions for week {week} skipped. "
        "The first training that passes the gate (retrain_job: trained_model + champion_model) makes one."
    )


@dg.asset(
    group_name=MONITORING_GROUP,
    partitions_def=weekly_partitions,
    deps=[champion_model],  # lineage: the model in service makes them (read from the model store)
    kinds={"scikitlearn", "warehouse"},
    owners=OWNERS,
    output_required=False,  # no champion yet: nothing to materialize, and the quality check is skipped
)
def predictions(
    context: dg.AssetExecutionContext,
    current_batch: DataFrame,
    dataset: DatasetResource,
    warehouse: WarehouseResource,
    model_store: ArtifactStore,
) -> Iterator[dg.MaterializeResult]:
    """The champion's predictions for the week's batch, in the warehouse table `predictions` (datetime, label,
    `predicted_<target>`, `model_version`); a re-run replaces the week's rows in one transaction. Metadata: the
    week's RMSLE (plotted per partition), the champion's holdout RMSLE and their ratio, which the
    `no_model_degradation` check bounds. Skipped, with an observation saying why, while there is no champion."""
    import pandas as pd

    from drift_platform.model_registry import ModelIntegrityError, champion_version, load_model, metric
    from drift_platform.training import weekly_quality

    week = context.partition_key
    pointer = champion_version(model_store)
    if pointer is None:
        message = no_champion_message(week)
        context.log.warning(message)
        context.log_event(
            dg.AssetObservation(asset_key=context.asset_key, partition=week,
                                metadata={"skipped": dg.MetadataValue.text(message)})
        )
        return
    try:
        model, manifest = load_model(model_store, pointer["version"])
    except ModelIntegrityError as exc:
        raise dg.Failure(
            description=f"the champion is not intact: {exc}. Roll back to an intact version (champion_rollback_job).",
            allow_retries=False,
        ) from exc

    spec = dataset.spec()
    table_spec = predictions_spec(spec)
    start, end = (pd.Timestamp(t.replace(tzinfo=None)) for t in context.partition_time_window)
    frame = predictions_frame(model, current_batch, spec, pointer["version"])
    (replaced,) = warehouse.replace_windows(PREDICTIONS_TABLE, table_spec, [(frame, start, end)])

    predicted = prediction_column(spec)
    holdout = metric(manifest, "holdout_rmsle")
    quality = weekly_quality(frame[spec.target], frame[predicted], holdout or 0.0, max_ratio=float("inf"))
    metadata: dict[str, dg.MetadataValue] = {
        "rows": dg.MetadataValue.int(len(frame)),
        "predicted_rows": dg.MetadataValue.int(int(frame[predicted].notna().sum())),
        "labelled_rows": dg.MetadataValue.int(quality.rows),
        "replaced_rows": dg.MetadataValue.int(replaced),
        "model_version": dg.MetadataValue.text(pointer["version"]),
        "table": dg.MetadataValue.text(PREDICTIONS_TABLE),
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
    context.log.info(
        f"{len(frame)} prediction(s) by {pointer['version']} for week {week}"
        + (f"; RMSLE {quality.rmsle:.4f} (holdout {holdout:.4f})" if quality.rmsle is not None and holdout else "")
    )
    yield dg.MaterializeResult(metadata=metadata)
