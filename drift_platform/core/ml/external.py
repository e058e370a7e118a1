"""A model trained and served elsewhere (`model: {source: external}`): its logged predictions, as the predictions
table holds a platform model's, and the manifest-shaped record the model-quality check judges them against.

The source's rows carry the team's outputs: the spec's `prediction_column` (a number for a regression, a class
for a classifier) and, for a classifier, `probability_columns` (class -> column; a binary task may log only the
positive class's). Nothing is fitted here: the quality baseline is the logged predictions' own value of the
metric per period of the reference window, the "holdout" their value on every labelled reference row.

Plain pandas, no Dagster: lib/assets/logged_predictions.py writes the frame, lib/checks.py judges a period
with `external_manifest` exactly as it judges a platform model with its manifest (core/ml/quality.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.ml.predictions import (
    MODEL_VERSION_COLUMN,
    identity_columns,
    prediction_column,
    predictions_layout,
    proba_columns,
    scored_outputs,
)
from drift_platform.core.names import EXTERNAL_MODEL_VERSION

if TYPE_CHECKING:
    import pandas as pd

    from drift_platform.core.settings import TrainingSettings


def external_classes(spec: DatasetSpec, classes: Any = None) -> list[Any] | None:
    """A classifier's classes in order: `classes` when given, else the spec's `classes`, else the classes its
    `probability_columns` name (all of them must be named then). None for a regression."""
    if not spec.is_classifier:
        return None
    if classes is not None:
        return list(classes)
    if spec.known_classes is not None:
        return spec.known_classes
    named = sorted(spec.label(c) for c in (spec.probability_columns or {}))
    if len(named) < 2:
        raise ValueError(f"dataset {spec.name!r}: the classes of the external model's probabilities are unknown "
                         "(set the spec's `classes`, or name every class in `probability_columns`)")
    return named


def logged_probabilities(frame: pd.DataFrame, spec: DatasetSpec, classes: list[Any]) -> dict[str, Any]:
    """`proba_<class>` -> the logged probability of each class of `classes`: its declared column; a binary task's
    other class 1 - p when only one is logged; 0 for a class no column names (admitted as new, never predicted);
    NaN everywhere when the model logs no probabilities."""
    import numpy as np

    logged = {spec.label(c): column for c, column in (spec.probability_columns or {}).items()}
    values: dict[Any, Any] = {c: frame[logged[c]].astype(float).to_numpy() for c in classes if c in logged}
    if len(classes) == 2 and len(values) == 1:
        (given, p), = values.items()
        values[classes[0] if given == classes[1] else classes[1]] = 1.0 - p
    fill = 0.0 if values else float("nan")
    return {name: values.get(c, np.full(len(frame), fill))
            for c, name in zip(classes, proba_columns(classes), strict=True)}


def logged_predictions_frame(frame: pd.DataFrame, spec: DatasetSpec, classes: Any = None) -> pd.DataFrame:
    """The logged outputs of the source rows `frame` in the predictions table's layout
    (`predictions_layout(spec, classes)`): datetime and key, label, `predicted_<target>` (the spec's
    prediction_column: floats, or the target's classes), a classifier's `proba_<class>` (see
    `logged_probabilities`), model_version EXTERNAL_MODEL_VERSION; rows in time order, index 0..n-1."""
    from drift_platform.core.ml.training import in_time_order

    if not spec.prediction_column:
        raise ValueError(f"dataset {spec.name!r} has no prediction_column: no logged predictions to read")
    classes = external_classes(spec, classes)
    out = frame[[*identity_columns(spec), spec.target]].copy()
    logged = frame[spec.prediction_column]
    if spec.is_classifier:
        out[prediction_column(spec)] = logged.astype(object).map(lambda v: v if _missing(v) else spec.label(v))
        for name, values in logged_probabilities(frame, spec, classes).items():
            out[name] = values
    else:
        out[prediction_column(spec)] = logged.astype(float)
    out[MODEL_VERSION_COLUMN] = EXTERNAL_MODEL_VERSION
    layout = predictions_layout(spec, classes)
    return in_time_order(out[list(layout.columns)], spec).reset_index(drop=True)


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def external_manifest(reference: pd.DataFrame, spec: DatasetSpec, training: TrainingSettings,
                      cadence: str = "weekly") -> dict[str, Any]:
    """What `judge_period` (core/ml/quality.py) takes for an external model, from the reference rows' logged
    predictions: `metric` (training.metric, else the task's default), a classifier's `classes` and
    `positive_class`, and `metrics`: `holdout_<metric>` (the metric on every labelled reference row with a
    prediction; absent when there is none) and `quality_baseline` (the metric per period of the reference, the
    periods placed as the walk-forward baseline places them, the last `training.baseline_periods` kept; a period
    whose rows cannot define the metric is left out)."""
    from drift_platform.core.ml.recipe import recipe_of
    from drift_platform.core.ml.training import model_classes, scoring_for

    scoring = scoring_for(spec, recipe_of(spec, training).metric, model_classes(reference, spec))
    frame = logged_predictions_frame(reference, spec, scoring.classes)
    holdout, rows = labelled_value(frame, spec, scoring)
    name = scoring.metric
    return {
        "version": EXTERNAL_MODEL_VERSION,
        "source": "external",
        "dataset": spec.name,
        "target": spec.target,
        "task": spec.task,
        "metric": name,
        **({"classes": list(scoring.classes), "positive_class": scoring.positive}
           if scoring.classes is not None else {}),
        "reference_rows": len(frame),
        "labelled_rows": rows,
        "metrics": {
            **({f"holdout_{name}": holdout} if holdout is not None else {}),
            "quality_baseline": logged_baseline(frame, spec, scoring, cadence, training.baseline_periods).to_dict(),
        },
    }


def labelled_value(frame: pd.DataFrame, spec: DatasetSpec, scoring) -> tuple[float | None, int]:
    """The metric of the predictions frame's rows with a label and a prediction, and how many there are (None:
    no such row, or the rows cannot define the metric)."""
    import numpy as np

    from drift_platform.core.ml.training import labelled_outputs

    labels, outputs = labelled_outputs(frame[spec.target], scored_outputs(frame, spec, scoring), scoring)
    if not len(labels):
        return None, 0
    value = scoring.of(labels, outputs)
    return (None if np.isnan(value) else float(value)), len(labels)


def logged_baseline(frame: pd.DataFrame, spec: DatasetSpec, scoring, cadence: str, max_periods: int):
    """The QualityBaseline of logged predictions: their value of the metric on each period's labelled rows (the
    period's first day as `period_start` gives it), the last `max_periods` periods that have one."""
    from drift_platform.core.ml.training import QualityBaseline, period_start

    starts = period_start(frame[spec.datetime_column], cadence)
    periods, values, rows = [], [], []
    for start in sorted(starts.unique()):
        value, n = labelled_value(frame[starts == start], spec, scoring)
        if value is not None:
            periods.append(f"{start:%Y-%m-%d}")
            values.append(value)
            rows.append(n)
    keep = slice(-max_periods, None)
    return QualityBaseline(tuple(periods[keep]), tuple(values[keep]), tuple(rows[keep]))
