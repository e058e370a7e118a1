"""The champion's predictions for a period's batch, as the warehouse table `<monitor>_predictions` holds them:
the table's layout, the frame written to it, and the numbers a period's predictions are reported with.

Plain pandas, no Dagster: lib/assets/predictions.py writes the rows, lib/checks.py reads them back for the
model-quality check (core/ml/quality.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drift_platform.core.intake.dataset import DatasetSpec, TableLayout

if TYPE_CHECKING:
    import pandas as pd

MODEL_VERSION_COLUMN = "model_version"


def prediction_column(spec: DatasetSpec) -> str:
    """The predictions table's column of the model's predictions: `predicted_<target>`."""
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


def predictions_frame(model: Any, batch: pd.DataFrame, spec: DatasetSpec, version: str) -> pd.DataFrame:
    """One row per batch row: its datetime and key, label, prediction (NaN where a feature is missing), model
    version."""
    from drift_platform.core.ml.training import in_time_order, predict

    frame = batch[[*identity_columns(spec), spec.target]].copy()
    frame[prediction_column(spec)] = predict(model, batch, spec)
    frame[MODEL_VERSION_COLUMN] = version
    return in_time_order(frame, spec).reset_index(drop=True)


def prediction_numbers(frame: pd.DataFrame, spec: DatasetSpec, holdout: float | None) -> dict[str, int | float]:
    """A period's predictions in numbers: `rows`, `predicted_rows` and `labelled_rows` (ints) always; then, as
    floats, `mean_prediction` when any row has a prediction, `rmsle` and `mean_actual` when a labelled row has
    one, `champion_holdout_rmsle` when the champion has one, and `rmsle_ratio` (rmsle / holdout) when both do."""
    from drift_platform.core.ml.training import period_quality

    predicted = prediction_column(spec)
    quality = period_quality(frame[spec.target], frame[predicted], holdout or 0.0, max_ratio=float("inf"))
    numbers: dict[str, int | float] = {
        "rows": len(frame),
        "predicted_rows": int(frame[predicted].notna().sum()),
        "labelled_rows": quality.rows,
    }
    if len(frame) and frame[predicted].notna().any():
        numbers["mean_prediction"] = float(frame[predicted].mean())
    if quality.rmsle is not None:
        numbers["rmsle"] = quality.rmsle
        numbers["mean_actual"] = float(frame[spec.target].astype(float).mean())
    if holdout is not None:
        numbers["champion_holdout_rmsle"] = holdout
    if quality.ratio is not None and holdout:
        numbers["rmsle_ratio"] = quality.ratio
    return numbers
