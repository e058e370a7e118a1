"""Evidently's quality report of a period's predictions: RegressionPreset, or ClassificationPreset (binary with
probabilities: the confusion matrix, the ROC and precision-recall curves; multiclass alike), on the period's
labelled rows of the predictions table (core/ml/predictions.py `predictions_layout`: the target,
`predicted_<target>`, a classifier's `proba_<class>` columns). The column roles are given to Evidently in a
DataDefinition (Regression / BinaryClassification / MulticlassClassification), never inferred. The report has
no reference side: the period's quality on its own (the check's bound is lib/checks.py's business).

Plain pandas and Evidently, no Dagster; evidently is imported inside the functions (it costs seconds).
lib/assets/quality_report.py publishes the snapshot as a run of the monitor's Evidently project.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drift_platform.core.intake.dataset import DatasetSpec, positive_of
from drift_platform.core.ml.predictions import prediction_column, proba_columns

if TYPE_CHECKING:
    import pandas as pd

    from drift_platform.core.stats.drift import RunInfo

QUALITY_RUN_TAG = "quality"  # the tag of a quality run in the monitor's project (a drift run has none)


def labelled_rows(frame: pd.DataFrame, spec: DatasetSpec, probabilities: list[str]) -> pd.DataFrame:
    """The rows the report is on: a label and a prediction (and, when used, every probability); a classifier's
    label and predicted class of the target's type (an int column with missing labels is read as floats)."""
    used = [spec.target, prediction_column(spec), *probabilities]
    rows = frame.dropna(subset=used)[used].reset_index(drop=True)
    if spec.is_classifier:
        rows[used[:2]] = rows[used[:2]].astype(str if spec.columns[spec.target] == "str" else "int64")
    return rows


def usable_probabilities(frame: pd.DataFrame, spec: DatasetSpec, classes: Any) -> list[str]:
    """The probability columns the report uses: a classifier's `proba_<class>` columns when the frame has them
    all with a value on some labelled row (a model without predict_proba, or a team logging no probability,
    has none: then the report is on the predicted classes only), and every class is among the labels
    (Evidently's per-class ROC AUC fails on a class the labels never show)."""
    if not spec.is_classifier or not classes:
        return []
    columns = proba_columns(classes)
    labelled = frame[frame[spec.target].notna()]
    if any(c not in frame.columns for c in columns) or labelled[columns].isna().all().any():
        return []
    kind = str if spec.columns[spec.target] == "str" else int  # an int column with missing labels reads as floats
    seen = {kind(v) for v in labelled[spec.target].unique()}
    return columns if all(kind(c) in seen for c in classes) else []


def definition_and_rows(frame: pd.DataFrame, spec: DatasetSpec, classes: Any):
    """Evidently's DataDefinition of the period's labelled rows, and those rows as Evidently reads them (a
    multiclass report's probability columns are named after their class, as Evidently looks them up)."""
    from evidently import BinaryClassification, DataDefinition, MulticlassClassification, Regression

    target, predicted = spec.target, prediction_column(spec)
    if not spec.is_classifier:
        rows = labelled_rows(frame, spec, [])
        return DataDefinition(regression=[Regression(target=target, prediction=predicted)],
                              numerical_columns=[target, predicted]), rows.astype(float)
    probabilities = usable_probabilities(frame, spec, classes)
    rows = labelled_rows(frame, spec, probabilities)
    labels = {"categorical_columns": [target, predicted], "numerical_columns": probabilities}
    if spec.task == "binary" and len(classes or ()) == 2:
        given = spec.label(spec.positive_class) if spec.positive_class is not None else None
        positive = positive_of(list(classes), given)
        role = BinaryClassification(target=target, prediction_labels=predicted, pos_label=positive,
                                    prediction_probas=proba_columns([positive])[0] if probabilities else None)
        return DataDefinition(classification=[role], **labels), rows
    named = [str(c) for c in classes or ()]
    if probabilities and not {*named} & {target, predicted}:
        rows = rows.rename(columns=dict(zip(probabilities, named, strict=True)))
        rows[[target, predicted]] = rows[[target, predicted]].astype(str)
        labels["numerical_columns"] = named
    else:
        named = None
        rows = rows[[target, predicted]]
        labels["numerical_columns"] = []
    role = MulticlassClassification(target=target, prediction_labels=predicted, prediction_probas=named)
    return DataDefinition(classification=[role], **labels), rows


def no_report_reason(rows: pd.DataFrame, spec: DatasetSpec) -> str | None:
    """Why the period's labelled rows get no report: none has both a label and a prediction, or (a classifier)
    they hold one class only (Evidently's ClassificationPreset fails on that: its per-class figures and TPR need
    both sides). None when they get one."""
    if rows.empty:
        return "no labelled row with a prediction"
    if spec.is_classifier and rows[spec.target].nunique() < 2:
        return f"{len(rows)} labelled row(s), all of class {rows[spec.target].iloc[0]!r}: the preset needs two classes"
    return None


def quality_snapshot(frame: pd.DataFrame, spec: DatasetSpec, classes: Any, run: RunInfo | None = None):
    """Evidently's quality report of the period's labelled rows of `frame` (a predictions frame), named by
    `run` and tagged QUALITY_RUN_TAG: RegressionPreset for a regression, ClassificationPreset for a classifier
    (its probabilities when every row has them). None when `no_report_reason` gives one."""
    from evidently import Dataset, Report
    from evidently.presets import ClassificationPreset, RegressionPreset

    from drift_platform.core.stats.drift import RunInfo

    definition, rows = definition_and_rows(frame, spec, classes)
    if no_report_reason(rows, spec) is not None:
        return None
    run = run or RunInfo()
    preset = ClassificationPreset() if spec.is_classifier else RegressionPreset()
    return Report([preset]).run(Dataset.from_pandas(rows, data_definition=definition), None,
                                timestamp=run.timestamp, name=run.name, metadata=dict(run.metadata),
                                tags=[*run.tags, QUALITY_RUN_TAG])
