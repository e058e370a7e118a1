"""Fitted performance estimators (core/ml/estimation.py) kept in a monitor's store folder, no Dagster.

Layout under the monitor's folder (`<store>/<monitor>/`), keyed by the model version and a digest of the reference
(its warehouse fingerprint and what shapes the estimator: the metric, the calibration, the seed):
    estimators/<model version>-<digest>.cbpe.json       CBPE: its plain numbers (`CBPEstimator.to_dict`)
    estimators/<model version>-<digest>.dle.skops       DLE: its booster and numbers in skops' format
    estimators/<model version>-<digest>.manifest.json   format, sha256, bytes, metric, model_version,
                                                        reference_version, rows, calibration, fitted_at

A new champion (or, for an external model, a changed reference) is a new key: the estimator is fitted again. The
estimator is derived data: an artifact whose sha256 does not match its manifest, or that cannot be read, is
refitted with a warning (`stored_or_fitted`), never loaded. DLE's file is built only if every type it names is on
`ESTIMATOR_TRUSTED_TYPES` (read off the file before anything is built; never `trusted=True`, never pickle).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from drift_platform.core.ml.estimation import CBPE_FORMAT, CBPEstimator, DLEstimator
from drift_platform.core.ml.model_registry import ArtifactStore

ESTIMATORS_PREFIX = "estimators"
DLE_FORMAT = "dle/1"
SUFFIXES = {CBPE_FORMAT: "cbpe.json", DLE_FORMAT: "dle.skops"}

# What a stored DLE is made of, as skops names the types in its file: HistGradientBoostingRegressor (its trees,
# bins, loss, link, random generator and, with categorical features, the OrdinalEncoder preprocessing it builds,
# whose FunctionTransformer holds functools.partial of sklearn's check_array) and the containers and numbers of
# the estimator's own fields. Checked by storing fitted DLEs (drift_platform_tests/test_estimated_check.py).
ESTIMATOR_TRUSTED_TYPES: frozenset[str] = frozenset({
    "builtins.bool", "builtins.dict", "builtins.float", "builtins.int", "builtins.list", "builtins.slice",
    "builtins.str", "builtins.tuple",
    "numpy.ndarray", "numpy.bool", "numpy.float32", "numpy.float64", "numpy.int32", "numpy.int64", "numpy.uint64",
    "numpy.random._generator.Generator",
    "functools.partial", "sklearn.utils.validation.check_array",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfSquaredError", "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss.link.IdentityLink", "sklearn._loss.link.Interval",
})  # fmt: skip


class EstimatorIntegrityError(ValueError):
    """A stored estimator that must not be used: sha256 mismatch, unreadable, or naming untrusted types."""


def estimator_stem(model_version: str, digest: str) -> str:
    """The estimator's key without its suffix: `estimators/<model version>-<digest>`."""
    return f"{ESTIMATORS_PREFIX}/{model_version}-{digest}"


def manifest_key(stem: str) -> str:
    return f"{stem}.manifest.json"


def dumps_estimator(estimator: CBPEstimator | DLEstimator) -> tuple[bytes, str]:
    """The estimator's bytes and format: CBPE as JSON, DLE in skops' format (a dict of its fields and booster)."""
    if isinstance(estimator, CBPEstimator):
        return json.dumps(estimator.to_dict()).encode(), CBPE_FORMAT
    import skops.io

    fields = {
        "format": DLE_FORMAT,
        "loss": estimator.loss,
        "columns": [str(c) for c in estimator.columns],
        "categories": {str(c): [_plain(v) for v in values] for c, values in estimator.categories.items()},
        "dispersion": float(estimator.dispersion),
        "reference_rows": int(estimator.reference_rows),
        "seed": int(estimator.seed),
        "model": estimator.model,
    }
    return skops.io.dumps(fields), DLE_FORMAT


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def loads_estimator(data: bytes, fmt: str, stem: str) -> CBPEstimator | DLEstimator:
    """The estimator from its bytes; EstimatorIntegrityError when they cannot be read or name untrusted types."""
    if fmt == CBPE_FORMAT:
        try:
            return CBPEstimator.from_dict(json.loads(data))
        except (ValueError, KeyError, TypeError) as exc:
            raise EstimatorIntegrityError(f"{stem}: the CBPE estimator cannot be read: {exc}") from exc
    if fmt != DLE_FORMAT:
        raise EstimatorIntegrityError(f"{stem}: unknown estimator format {fmt!r}")
    import skops.io

    from drift_platform.core.ml.model_registry import ModelIntegrityError, artifact_types

    try:
        untrusted = sorted(artifact_types(data, stem) - ESTIMATOR_TRUSTED_TYPES)
    except ModelIntegrityError as exc:
        raise EstimatorIntegrityError(str(exc)) from exc
    if untrusted:
        raise EstimatorIntegrityError(f"{stem} names types outside the trusted list: {', '.join(untrusted)}")
    try:
        fields = skops.io.loads(data, trusted=sorted(ESTIMATOR_TRUSTED_TYPES))
        return DLEstimator(fields["loss"], tuple(fields["columns"]),
                           {c: tuple(v) for c, v in fields["categories"].items()}, fields["model"],
                           float(fields["dispersion"]), int(fields["reference_rows"]), int(fields["seed"]))
    except Exception as exc:  # skops raises whatever a damaged file makes the loaders raise
        raise EstimatorIntegrityError(f"{stem}: the DLE estimator cannot be read: {exc}") from exc


def save_estimator(store: ArtifactStore, stem: str, estimator: CBPEstimator | DLEstimator,
                   info: dict[str, Any]) -> dict[str, Any]:
    """Write the estimator's artifact, then its manifest (`info`: metric, model_version, reference_version, rows,
    calibration; with the format, sha256, bytes and fitted_at added); returns the manifest."""
    data, fmt = dumps_estimator(estimator)
    key = f"{stem}.{SUFFIXES[fmt]}"
    store.write_bytes(key, data)
    manifest = {"format": fmt, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "artifact": key,
                **info, "fitted_at": dt.datetime.now(dt.UTC).isoformat()}
    store.write_bytes(manifest_key(stem), json.dumps(manifest, indent=1, default=str).encode(), "application/json")
    return manifest


def load_estimator(store: ArtifactStore, stem: str) -> tuple[CBPEstimator | DLEstimator, dict[str, Any]] | None:
    """The stored estimator and its manifest, its artifact checked against the manifest's sha256; None when none
    is stored; EstimatorIntegrityError when it must not be used."""
    if not store.exists(manifest_key(stem)):
        return None
    try:
        manifest = json.loads(store.read_bytes(manifest_key(stem)))
        data = store.read_bytes(manifest["artifact"])
    except (ValueError, KeyError, TypeError, FileNotFoundError) as exc:
        raise EstimatorIntegrityError(f"{stem}: the manifest or its artifact cannot be read: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != manifest.get("sha256"):
        raise EstimatorIntegrityError(
            f"{manifest['artifact']}: sha256 {actual} does not match the manifest's {manifest.get('sha256')}")
    return loads_estimator(data, manifest.get("format"), stem), manifest


def stored_or_fitted(store: ArtifactStore, stem: str,
                     fit: Callable[[], tuple[CBPEstimator | DLEstimator, dict[str, Any]]],
                     warn: Callable[[str], None]) -> tuple[CBPEstimator | DLEstimator, dict[str, Any], bool]:
    """The estimator kept at `stem`, else `fit()`'s (estimator, manifest info), saved there; and whether it was
    fitted now. A kept one that must not be used is refitted and overwritten, with a warning (`warn`)."""
    try:
        found = load_estimator(store, stem)
    except EstimatorIntegrityError as exc:
        warn(f"the stored estimator is not used ({exc}): refitted from the reference")
        found = None
    if found is not None:
        return *found, False
    estimator, info = fit()
    return estimator, save_estimator(store, stem, estimator, info), True
