"""The model-quality check's decisions (`no_model_degradation`), no Dagster: from a period's stored predictions
to the champion's error on it (`training.period_quality`) and the check's verdict.

lib/checks.py reads the rows and the model's manifest, and turns a QualityInputError into a run failure and the
verdict into an AssetCheckResult.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.ml.predictions import MODEL_VERSION_COLUMN, scored_outputs
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
    """`training.period_quality` of the model `version` (its `manifest`: the metric it was trained with, its
    holdout value, and the walk-forward baseline when it has one) on the period's stored rows, under the quality
    settings; QualityInputError when the manifest has no holdout value of its metric."""
    from drift_platform.core.ml.model_registry import metric
    from drift_platform.core.ml.training import QualityBaseline, period_quality, scoring_from_manifest

    scoring = scoring_from_manifest(manifest)
    holdout = metric(manifest, f"holdout_{scoring.metric}")
    if holdout is None:
        raise QualityInputError(f"model {version} has no holdout {scoring.info.label} in its manifest")
    baseline = manifest.get("metrics", {}).get("quality_baseline")
    quality = period_quality(
        rows[spec.target], scored_outputs(rows, spec, scoring), holdout, settings.max_ratio,
        baseline=QualityBaseline.from_dict(baseline) if baseline else None, bound=settings.bound,
        sigmas=settings.sigmas, min_period_rows=settings.min_period_rows,
        min_baseline_periods=settings.min_baseline_periods, scoring=scoring,
    )
    if manifest.get("source") != "external":
        return quality
    # An external model's baseline is its logged predictions' values on the reference's periods, not walk-forward.
    from dataclasses import replace

    return replace(quality, note=quality.note.replace("walk-forward periods", "reference periods (logged predictions)"))


def quality_verdict(quality: PeriodQuality, period: str, version: str) -> tuple[bool, str]:
    """The check's outcome and description: passes, not evaluated, without a labelled row with a prediction;
    passes, not judged, when too few rows tell (the note says why); else fails when the value is beyond the
    bound (above it for an error, below it where greater is better)."""
    from drift_platform.core.ml.metrics import METRICS
    from drift_platform.core.names import EXTERNAL_MODEL_VERSION

    label = METRICS[quality.metric].label
    model = "the external model's logged predictions" if version == EXTERNAL_MODEL_VERSION else f"champion {version}"
    if quality.value is None and quality.rows == 0:
        return True, f"not evaluated: no labelled row with a prediction in {period} yet"
    if not quality.judged:
        shown = "-" if quality.value is None else f"{quality.value:.4f}"
        return True, f"{model}: {label} {shown} on {period}, not judged: {quality.note}"
    beyond = "below" if METRICS[quality.metric].greater_is_better else "above"
    return not quality.degraded, (
        f"{model}: {label} {quality.value:.4f} on {period}, {beyond if quality.degraded else 'within'} "
        f"the bound {quality.bound:.4f} ({quality.note})"
    )
