"""The model-quality check's decisions (`no_model_degradation`), no Dagster: from a period's stored predictions
to the champion's error on it (`training.period_quality`) and the check's verdict.

lib/checks.py reads the rows and the model's manifest, and turns a QualityInputError into a run failure and the
verdict into an AssetCheckResult.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.ml.predictions import MODEL_VERSION_COLUMN, prediction_column
from drift_platform.core.settings import QualitySettings

if TYPE_CHECKING:
    import pandas as pd

    from drift_platform.core.ml.training import PeriodQuality


class QualityInputError(ValueError):
    """The period cannot be judged at all: no predictions stored, several model versions, no holdout error."""


def period_model_version(rows: pd.DataFrame | None, period: str) -> str:
    """The one model version whose predictions the period's stored rows hold; QualityInputError when the period
    has none stored (`rows` None or empty) or holds predictions of several versions."""
    if rows is None or rows.empty:
        raise QualityInputError(f"no predictions stored for {period}: materialize predictions first")
    versions = sorted(rows[MODEL_VERSION_COLUMN].dropna().unique())
    if len(versions) != 1:
        raise QualityInputError(f"{period} holds predictions of {len(versions)} model versions: {versions}")
    return versions[0]


def judge_period(
    rows: pd.DataFrame, spec: DatasetSpec, version: str, manifest: dict[str, Any], settings: QualitySettings
) -> PeriodQuality:
    """`training.period_quality` of the model `version` (its `manifest`: the holdout RMSLE, and the walk-forward
    baseline when it has one) on the period's stored rows, under the quality settings; QualityInputError when the
    manifest has no holdout RMSLE."""
    from drift_platform.core.ml.model_registry import metric
    from drift_platform.core.ml.training import QualityBaseline, period_quality

    holdout = metric(manifest, "holdout_rmsle")
    if holdout is None:
        raise QualityInputError(f"model {version} has no holdout RMSLE in its manifest")
    baseline = manifest.get("metrics", {}).get("quality_baseline")
    return period_quality(
        rows[spec.target], rows[prediction_column(spec)], holdout, settings.max_ratio,
        baseline=QualityBaseline.from_dict(baseline) if baseline else None, bound=settings.bound,
        sigmas=settings.sigmas, min_period_rows=settings.min_period_rows,
        min_baseline_periods=settings.min_baseline_periods,
    )


def quality_verdict(quality: PeriodQuality, period: str, version: str) -> tuple[bool, str]:
    """The check's outcome and description: passes, not evaluated, without a labelled row with a prediction;
    passes, not judged, when too few rows tell (the note says why); else fails when the error is above the
    bound."""
    if quality.rmsle is None:
        return True, f"not evaluated: no labelled row with a prediction in {period} yet"
    if not quality.judged:
        return True, f"champion {version}: RMSLE {quality.rmsle:.4f} on {period}, not judged: {quality.note}"
    return not quality.degraded, (
        f"champion {version}: RMSLE {quality.rmsle:.4f} on {period}, {'above' if quality.degraded else 'within'} "
        f"the bound {quality.bound:.4f} ({quality.note})"
    )
