"""The champion's predictions for a period's batch, as the warehouse table `<monitor>_predictions` holds them:
the table's layout, the frame written to it, and the numbers a period's predictions are reported with.

A regression's prediction is a number (`predicted_<target>`, float). A classifier's is its predicted class, in
the same column (the target's type), and one column per class of the model's probability of it,
`proba_<class>` (the class in [a-z0-9_]; the classes are those the model was trained with, its manifest's).

Plain pandas, no Dagster: lib/assets/predictions.py writes the rows, lib/checks.py reads them back for the
model-quality check (core/ml/quality.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drift_platform.core.intake.dataset import DatasetSpec, TableLayout, proba_name

if TYPE_CHECKING:
    import pandas as pd

    from drift_platform.core.ml.training import Scoring

MODEL_VERSION_COLUMN = "model_version"


def prediction_column(spec: DatasetSpec) -> str:
    """The predictions table's column of the model's predictions: `predicted_<target>`."""
    return f"predicted_{spec.target}"


def identity_columns(spec: DatasetSpec) -> list[str]:
    """The columns that place a prediction: the datetime column and the row key."""
    return list(dict.fromkeys([spec.datetime_column, *spec.key]))


def proba_columns(classes: Any) -> list[str]:
    """The probability columns of a classifier's classes, in their order."""
    return [proba_name(c) for c in classes or ()]


def predictions_layout(spec: DatasetSpec, classes: Any = None) -> TableLayout:
    """The predictions table: the datetime and key columns (the key is its primary key, as in the history),
    the label (the spec's target, nullable), the prediction (float; a classifier's class, of the target's type),
    a classifier's `proba_<class>` columns (float, one per class of `classes`) and the model version (text)."""
    predicted = prediction_column(spec)
    identity = identity_columns(spec)
    probabilities = proba_columns(classes) if spec.is_classifier else []
    clash = {predicted, MODEL_VERSION_COLUMN, *probabilities} & {*identity, spec.target}
    if clash:
        raise ValueError(f"the dataset's key or target column is named like a predictions column: {sorted(clash)}")
    columns = {c: spec.columns[c] for c in identity}
    columns.update({spec.target: spec.columns[spec.target],
                    predicted: spec.columns[spec.target] if spec.is_classifier else "float"})
    columns.update({name: "float" for name in probabilities})
    columns[MODEL_VERSION_COLUMN] = "str"
    return TableLayout(columns=columns, time_column=spec.datetime_column, key_columns=tuple(spec.key_columns))


def predictions_frame(model: Any, batch: pd.DataFrame, spec: DatasetSpec, version: str,
                      classes: Any = None) -> pd.DataFrame:
    """One row per batch row: its datetime and key, label, prediction (missing where a feature is missing), a
    classifier's probability of each class of `classes` (when the model has predict_proba), model version."""
    from drift_platform.core.ml.training import class_probabilities, in_time_order, predict

    frame = batch[[*identity_columns(spec), spec.target]].copy()
    frame[prediction_column(spec)] = predict(model, batch, spec)
    if spec.is_classifier and classes:
        complete = batch.dropna(subset=list(spec.features))
        has_proba = hasattr(model, "predict_proba") and len(complete)
        proba = class_probabilities(model, complete[spec.features], list(classes)) if has_proba else None
        for j, name in enumerate(proba_columns(classes)):
            frame[name] = float("nan")
            if proba is not None:
                frame.loc[complete.index, name] = proba[:, j]
    frame[MODEL_VERSION_COLUMN] = version
    return in_time_order(frame, spec).reset_index(drop=True)


def scored_outputs(frame: pd.DataFrame, spec: DatasetSpec, scoring: Scoring):
    """What a period's stored rows give the metric: the probability columns when it needs them, else the
    predictions."""
    if scoring.info.needs_proba:
        return frame[proba_columns(scoring.classes)]
    return frame[prediction_column(spec)]


def prediction_numbers(frame: pd.DataFrame, spec: DatasetSpec, holdout: float | None,
                       scoring: Scoring | None = None) -> dict[str, int | float]:
    """A period's predictions in numbers, named with the metric `m` of `scoring` (default rmsle): `rows`,
    `predicted_rows` and `labelled_rows` (ints) always; then, as floats, `mean_prediction` (regression) when any
    row has a prediction, `<m>` (and `mean_actual`, regression) when a labelled row has one,
    `champion_holdout_<m>` when the champion has one, and `<m>_ratio` (the period's error / the holdout's, as
    the quality check's ratio bound takes it) when both do."""
    from drift_platform.core.ml.training import Scoring, period_quality

    scoring = scoring or Scoring()
    predicted, name = prediction_column(spec), scoring.metric
    quality = period_quality(frame[spec.target], scored_outputs(frame, spec, scoring), holdout or 0.0,
                             max_ratio=float("inf"), scoring=scoring)
    numbers: dict[str, int | float] = {
        "rows": len(frame),
        "predicted_rows": int(frame[predicted].notna().sum()),
        "labelled_rows": quality.rows,
    }
    regression = not spec.is_classifier
    if regression and len(frame) and frame[predicted].notna().any():
        numbers["mean_prediction"] = float(frame[predicted].mean())
    if quality.value is not None:
        numbers[name] = quality.value
        if regression:
            numbers["mean_actual"] = float(frame[spec.target].astype(float).mean())
    if holdout is not None:
        numbers[f"champion_holdout_{name}"] = holdout
    if quality.ratio is not None and holdout is not None and (holdout or scoring.info.greater_is_better):
        numbers[f"{name}_ratio"] = quality.ratio
    return numbers
