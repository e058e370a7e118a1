"""Prediction drift and target drift: the model's output and the label of a period tested against the reference's,
column by column, with Evidently's test for each column (its default for the column's type and size, unless the
monitor's `prediction_drift` settings name one) and its decision: `column_drift_from_stats` on statistics of the
reference's outputs built once (`build_output_stats`), as the feature columns are decided.

The output columns are named as the predictions table names them (core/ml/predictions.py):
| the model                           | output columns                | kind |
|-------------------------------------|-------------------------------|------|
| regression                          | predicted_<target>            | num  |
| binary, with probabilities          | proba_<positive class>        | num  |
| multiclass, with probabilities      | every proba_<class>           | num  |
| a classifier without probabilities  | predicted_<target> (a class)  | cat  |
The target is tested on the labelled rows only (num for a regression, cat for a classifier).

Neither enters the share of drifted feature columns: they are reported apart (`summary["prediction_drift"]`,
`summary["target_drift"]` of the drift report) and judged by `no_prediction_drift`.

Pure pandas over the reference statistics; no Dagster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from drift_platform.core.intake.dataset import DatasetSpec, positive_of, proba_name
from drift_platform.core.ml.predictions import prediction_column
from drift_platform.core.settings import CAT, NUM, PredictionDriftSettings

if TYPE_CHECKING:
    import pandas as pd

    from drift_platform.core.stats.reference_stats import ReferenceStats

# The reference's output statistics, in the monitor's store folder: one artifact per reference and model version.
OUTPUT_STATS_KEY = "reference_stats/{reference}.outputs-{model}.stats"
# The model version of the key when there is no model (no champion yet): only the target's statistics.
NO_MODEL = "no-model"


def output_stats_key(reference_version: str, model_version: str | None) -> str:
    """Where the statistics of the reference's outputs by `model_version` (None: no model) are kept."""
    return OUTPUT_STATS_KEY.format(reference=reference_version, model=model_version or NO_MODEL)


def output_kinds(spec: DatasetSpec, classes: Any, has_proba: bool) -> dict[str, str]:
    """The model's output columns (as the predictions table names them) and their kind (num / cat): see the
    module's table. `classes`: a classifier's classes in the order of its probability columns."""
    predicted = prediction_column(spec)
    if not spec.is_classifier:
        return {predicted: NUM}
    if has_proba and classes:
        classes = list(classes)
        if spec.task == "binary":
            given = spec.label(spec.positive_class) if spec.positive_class is not None else None
            return {proba_name(positive_of(classes, given)): NUM}
        return {proba_name(c): NUM for c in classes}
    return {predicted: CAT}


def target_kind(spec: DatasetSpec) -> str:
    """The target's kind: num for a regression, cat for a classifier."""
    return CAT if spec.is_classifier else NUM


def _has_values(values: pd.Series) -> bool:
    """Whether a column keeps a value after Evidently's cleaning (NaN, None and +-inf dropped)."""
    import numpy as np

    try:
        return bool(np.isfinite(values.to_numpy(dtype=float, na_value=np.nan)).any())
    except (TypeError, ValueError):  # text or mixed values: only the missing ones are dropped
        return bool(values.notna().any())


def build_output_stats(outputs: pd.DataFrame, kinds: Mapping[str, str], spec: DatasetSpec) -> ReferenceStats:
    """The reference's statistics of the output columns `kinds` and of the target (its labelled rows), from the
    reference's outputs frame (the predictions table's layout). A column without a single value (no label in
    the reference; a model that predicted nothing) is left out: its drift is then skipped, saying why."""
    from drift_platform.core.stats.drift import REPORT_SAMPLE_ROWS, REPORT_SAMPLE_SEED
    from drift_platform.core.stats.reference_stats import build_reference_stats

    columns = {**kinds, spec.target: target_kind(spec)}
    present = {c: kind for c, kind in columns.items() if c in outputs.columns and _has_values(outputs[c])}
    return build_reference_stats(outputs, present, sample_rows=REPORT_SAMPLE_ROWS, seed=REPORT_SAMPLE_SEED)


def _judged(drifts: list, **extra: Any) -> dict[str, Any]:
    """A summary of judged columns: each column's decision, whether any drifted, and the first column's figures."""
    first = drifts[0]
    return {"columns": [asdict(d) for d in drifts], "drifted": any(d.drifted for d in drifts),
            "column": first.column, "score": first.score, "threshold": first.threshold, "method": first.method,
            **extra}


def output_drift(stats: ReferenceStats, current_outputs: pd.DataFrame, kinds: Mapping[str, str],
                 settings: PredictionDriftSettings) -> dict[str, Any]:
    """The period's prediction drift: each output column of `kinds` in `current_outputs` (the period's outputs,
    the predictions table's layout) against the reference's statistics, by `settings.drift_settings()`.
    {"columns": [{column, method, score, threshold, drifted}], "drifted", "column", "score", "threshold",
    "method" (the first output column's), "severity"}; {"skipped": why, "severity"} when no column can be
    judged (the reference's outputs or the period's have no value)."""
    from drift_platform.core.stats.reference_stats import column_drift_from_stats

    severity = settings.severity
    unknown = [c for c in kinds if c not in stats.columns]
    if unknown:
        return {"skipped": f"the reference window's outputs have no value in {', '.join(unknown)}",
                "severity": severity}
    judged = [c for c in kinds if c in current_outputs.columns and _has_values(current_outputs[c])]
    if not judged:
        return {"skipped": f"no output of the model in the period ({len(current_outputs)} row(s) without a value "
                f"in {', '.join(kinds)})", "severity": severity}
    drift = settings.drift_settings()
    drifts = [column_drift_from_stats(stats.columns[c], current_outputs[c], drift)[0] for c in judged]
    return _judged(drifts, severity=severity)


def target_drift(stats: ReferenceStats, labels: pd.Series, settings: PredictionDriftSettings) -> dict[str, Any]:
    """The period's target drift: its labelled rows' target against the reference's labels, by
    `settings.drift_settings()`; the same keys as `output_drift` (no severity) and `rows` (the labelled rows),
    or {"skipped": why} when the period (or the reference) has no label."""
    from drift_platform.core.stats.reference_stats import column_drift_from_stats

    column = str(labels.name)
    if column not in stats.columns:
        return {"skipped": f"the reference window has no label ({column})"}
    labelled = labels[labels.notna()]
    if not _has_values(labelled):
        return {"skipped": f"no labelled row in the period ({len(labels)} row(s) without {column})"}
    drift, _ = column_drift_from_stats(stats.columns[column], labelled, settings.drift_settings())
    return _judged([drift], rows=len(labelled))


@dataclass(frozen=True)
class ModelOutputs:
    """The model whose outputs a drift report tests: its version (None: no model), its output columns and the
    function that gives a frame's outputs (the predictions table's layout), or why there are none."""

    version: str | None
    kinds: dict[str, str] = field(default_factory=dict)
    outputs: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    skipped: str | None = None


def judge_outputs(model: ModelOutputs, stats: ReferenceStats, batch: pd.DataFrame, spec: DatasetSpec,
                  settings: PredictionDriftSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The period's prediction drift and target drift summaries (see `output_drift`, `target_drift`), from its
    batch (the source's rows): the model's outputs on it, and its labels."""
    if model.outputs is None:
        prediction = {"skipped": model.skipped or "no model", "severity": settings.severity}
    else:
        prediction = output_drift(stats, model.outputs(batch), model.kinds, settings)
    return prediction, target_drift(stats, batch[spec.target], settings)
