"""Versioned models on an artifact store: immutable versions, a manifest each, a `latest` and a `champion` pointer,
and an append-only audit log of every change of the champion.

Layout under a monitor's folder of the object store (`<store>/<monitor>/`):
    models/<version>/model.skops     the fitted scikit-learn pipeline in skops' format (`"format": "skops"`)
    models/<version>/manifest.json   version id, training window and rows, sha256 of the history it saw, code
                                     version, hyperparameters, metrics, the artifact's sha256, its format, the
                                     estimator's import path and the types the artifact names
    models/latest.json               the last trained version; moved only after both files are written
    models/champion.json             the version in service (predictions, the model-quality check); moved by the
                                     champion/challenger gate and by the rollback job, only to a version
                                     whose artifact matches its manifest's sha256
    models/audit/<time>-<action>-<version>-<id>.json   one object per champion change, never overwritten

A version is never overwritten: saving an existing version id fails. Loading verifies the sha256 recorded in
the manifest: a tampered or partial artifact is refused. The manifest sits in the same store as the artifact, so
the sha256 does not stop someone who can write to the store; the format does. Loading runs no code the file
brings: skops rebuilds only types on an explicit list (`PLATFORM_TRUSTED_TYPES`, the types the platform's own
pipelines are made of, plus what the monitor's configuration trusts, `trusted_extra`), read off the file before
anything is built; a file naming any other type is refused (`UntrustedModelError`). Versions stored as pickles
by earlier releases (`model.pkl`) are refused (`PickledModelError`) until the monitor's migrate-models job, run
by a person who trusts the store, has re-saved them (core/ml/model_migration.py). Nothing here unpickles.
Plain functions over the store's small interface.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from drift_platform.core.settings import TrainingSettings


class ArtifactStore(Protocol):
    """What the registry needs of a store: a monitor's folder of the object store (resources/store.py)."""

    def write_bytes(self, key: str, data: bytes, content_type: str = ...) -> str: ...
    def read_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list_keys(self, prefix: str) -> list[str]: ...


LATEST_KEY = "models/latest.json"
CHAMPION_KEY = "models/champion.json"
AUDIT_PREFIX = "models/audit"
MODELS_PREFIX = "models"


class ModelIntegrityError(RuntimeError):
    """The stored artifact does not match the sha256 recorded for it."""


class UnknownModelVersionError(LookupError):
    """No complete version (artifact and manifest) with this id in the store."""


class UntrustedModelError(ModelIntegrityError):
    """The stored model names types outside the trusted list (or is not a skops file): nothing of it is built."""


class PickledModelError(ModelIntegrityError):
    """The version was stored as a pickle by an earlier release: refused until migrated (never unpickled here)."""


FORMAT = "skops"
ARTIFACT_FILE = "model.skops"
LEGACY_ARTIFACT_FILE = "model.pkl"  # what releases before skops wrote; read only by the migration

# The types the platform's own pipelines are made of, as skops names them in a stored file: the preprocessing
# (ColumnTransformer of OneHotEncoder and StandardScaler), the regression recipe (Ridge in
# TransformedTargetRegressor with numpy.log1p/expm1, which wraps them in a FunctionTransformer), the classifiers
# (LogisticRegression, whose labels go through LabelEncoder) and HistGradientBoosting* (their trees, bins, losses
# and random generator), the containers and numbers their state is made of. Checked by fitting every default
# pipeline and reading the types its file names (drift_platform_tests/test_model_storage.py). Anything else, the
# monitor's configured estimator included, must be trusted by the caller (`trusted_extra`), from configuration,
# never from the stored file.
PLATFORM_TRUSTED_TYPES: frozenset[str] = frozenset({
    "builtins.bool", "builtins.dict", "builtins.float", "builtins.int", "builtins.list", "builtins.slice",
    "builtins.str", "builtins.tuple",
    "numpy.ndarray", "numpy.bool", "numpy.float32", "numpy.float64", "numpy.int32", "numpy.int64", "numpy.uint64",
    "numpy.log1p", "numpy.expm1", "numpy.random._generator.Generator",
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.compose._target.TransformedTargetRegressor",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfSquaredError", "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError", "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss.link.IdentityLink", "sklearn._loss.link.LogitLink", "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.Interval",
})  # fmt: skip


@dataclass(frozen=True)
class ModelVersion:
    version: str
    artifact_key: str
    manifest_key: str
    sha256: str
    location: str


def new_version_id(sha256: str, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S%fZ}-{sha256[:8]}"


def artifact_key(version: str) -> str:
    return f"{MODELS_PREFIX}/{version}/{ARTIFACT_FILE}"


def manifest_key(version: str) -> str:
    return f"{MODELS_PREFIX}/{version}/manifest.json"


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _json(data: Any) -> bytes:
    return json.dumps(data, indent=2, default=str).encode()


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """What code trained a model: DRIFT_CODE_VERSION if set (e.g. baked into the image at build time), else the
    package version plus the git commit of the working tree (`+dirty` with uncommitted changes), if git can tell."""
    if os.environ.get("DRIFT_CODE_VERSION"):
        return os.environ["DRIFT_CODE_VERSION"]
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("drift_platform")
    except PackageNotFoundError:
        package = "unknown"
    repo = Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return package
    return f"{package}+g{commit}{'.dirty' if dirty else ''}" if commit else package


# --- the format: skops, with an explicit list of trusted types -------------------------------------------------
def trusted_types(extra: Iterable[str] = ()) -> frozenset[str]:
    """The platform's trusted types plus `extra` (import paths, e.g. the monitor's configured estimator)."""
    return PLATFORM_TRUSTED_TYPES | {str(name).strip() for name in extra if name and str(name).strip()}


def configured_trust(training: TrainingSettings) -> tuple[str, ...]:
    """What a monitor's configuration trusts beyond the platform's list: its `training.estimator`, as written and
    as the class's own module path (what a skops file names: `sklearn.ensemble.HistGradientBoostingClassifier` is
    `sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier`). Unset: the
    defaults, whose types are all on the list."""
    if not training.estimator:
        return ()
    from drift_platform.core.ml.recipe import import_estimator

    found = import_estimator(training.estimator)  # from the configuration, never from a stored file
    return training.estimator, f"{found.__module__}.{found.__qualname__}"


def estimator_path(model: Any) -> str:
    """The import path of the model's final estimator (inside a Pipeline and a TransformedTargetRegressor)."""
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if hasattr(final, "regressor") and hasattr(final, "inverse_func"):  # TransformedTargetRegressor: its regressor
        final = getattr(final, "regressor_", final.regressor)
    return f"{type(final).__module__}.{type(final).__qualname__}"


def _named_types(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        if "__class__" in node and "__module__" in node:
            found.add(f"{node['__module__']}.{node['__class__']}")
        for value in node.values():
            _named_types(value, found)
    elif isinstance(node, list):
        for value in node:
            _named_types(value, found)
    return found


def artifact_types(artifact: bytes, version: str) -> set[str]:
    """Every type a skops file names (each node of its schema.json: module and class), read as JSON: nothing of
    the model is built and nothing is imported."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UntrustedModelError(f"model {version}: the artifact is not a skops file ({exc}); refusing to load it") from None
    return _named_types(schema, set())


def dumps_model(model: Any) -> bytes:
    """The model in skops' format (a zip of a JSON schema and numpy arrays; no pickle)."""
    import skops.io

    try:
        return skops.io.dumps(model)
    except Exception as exc:  # skops raises whatever the object's state raises (TypeError, AttributeError, ...)
        raise TypeError(f"the model ({type(model).__name__}) cannot be stored in skops' format: {exc}") from exc


def loads_model(artifact: bytes, version: str, trusted_extra: Iterable[str] = ()) -> Any:
    """Build the model from a skops file, only if every type it names is trusted; never `trusted=True`."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    trusted = trusted_types(trusted_extra)
    untrusted = sorted(artifact_types(artifact, version) - trusted)
    if untrusted:
        raise UntrustedModelError(
            f"model {version} names types outside the trusted list: {', '.join(untrusted)}; refusing to load it "
            "(building them would run their code). A monitor trusts the types of the platform's pipelines and its "
            "own training.estimator; a type is never trusted because a stored file names it."
        )
    try:
        return skops.io.loads(artifact, trusted=sorted(trusted))
    except UntrustedTypesFoundException as exc:  # skops' own audit, on top of ours
        raise UntrustedModelError(f"model {version}: skops refused types outside the trusted list: {exc}") from exc


def save_model(store: ArtifactStore, model: Any, manifest: dict[str, Any], version: str | None = None) -> ModelVersion:
    """Write a new immutable version (artifact in skops' format, then manifest), then move the latest pointer to it.

    Never touches the champion: promoting a version is the gate's decision (`set_champion`)."""
    if version is not None and (store.exists(artifact_key(version)) or store.exists(manifest_key(version))):
        raise FileExistsError(f"model version {version} already exists; versions are never overwritten")
    artifact = dumps_model(model)
    sha256 = hashlib.sha256(artifact).hexdigest()
    version = version or new_version_id(sha256)
    a_key, m_key = artifact_key(version), manifest_key(version)
    if store.exists(a_key) or store.exists(m_key):
        raise FileExistsError(f"model version {version} already exists; versions are never overwritten")
    location = store.write_bytes(a_key, artifact)
    full_manifest = {**manifest, "version": version, "created_at": _utc_now(), "sha256": sha256, "artifact": a_key,
                     "format": FORMAT, "estimator": estimator_path(model),
                     "types": sorted(artifact_types(artifact, version))}
    store.write_bytes(m_key, _json(full_manifest), "application/json")
    pointer = {"version": version, "sha256": sha256, "artifact": a_key, "manifest": m_key}
    store.write_bytes(LATEST_KEY, _json(pointer), "application/json")
    return ModelVersion(version, a_key, m_key, sha256, location)


def _pointer(store: ArtifactStore, key: str) -> dict[str, Any] | None:
    if not store.exists(key):
        return None
    return json.loads(store.read_bytes(key))


def latest_version(store: ArtifactStore) -> dict[str, Any] | None:
    return _pointer(store, LATEST_KEY)


def champion_version(store: ArtifactStore) -> dict[str, Any] | None:
    """The champion pointer: version, sha256, since, the previous champion, and what moved it (None: no champion)."""
    return _pointer(store, CHAMPION_KEY)


def read_manifest(store: ArtifactStore, version: str) -> dict[str, Any]:
    try:
        return json.loads(store.read_bytes(manifest_key(version)))
    except FileNotFoundError:
        raise UnknownModelVersionError(
            f"model version {version!r} has no manifest in the model store (unknown, or its training did not finish)"
        ) from None


def migrate_job_name(manifest: dict[str, Any]) -> str:
    return f"{manifest.get('monitor') or '<monitor>'}_migrate_models_job"


def check_format(manifest: dict[str, Any], version: str) -> None:
    """Refuse a version not stored in skops' format, before reading its artifact: a pickle is never unpickled."""
    stored = manifest.get("format") or "pickle"  # manifests written before skops have no format
    if stored == FORMAT:
        return
    if stored == "pickle":
        raise PickledModelError(
            f"model {version} is stored as a pickle ({manifest.get('artifact')}), written before models were "
            "stored with skops; loading a pickle runs whatever code it carries, so it is refused. If you trust "
            f"this store, migrate its pickled versions once: run {migrate_job_name(manifest)} (it checks each "
            "pickle against its manifest's sha256 and re-saves it as model.skops; docs/deployment.md, "
            "'Model storage'), or roll back to a version stored with skops."
        )
    raise UntrustedModelError(f"model {version}: unknown artifact format {stored!r} (this release reads {FORMAT!r})")


def read_verified(store: ArtifactStore, version: str, manifest: dict[str, Any]) -> bytes:
    """The version's artifact bytes, after checking them against the manifest's sha256 (whatever the format)."""
    artifact = store.read_bytes(manifest["artifact"])
    actual = hashlib.sha256(artifact).hexdigest()
    if actual != manifest["sha256"]:
        raise ModelIntegrityError(
            f"model {version}: artifact sha256 {actual} does not match the manifest's {manifest['sha256']}; refusing to load it"
        )
    return artifact


def _verified_artifact(store: ArtifactStore, version: str) -> tuple[bytes, dict[str, Any]]:
    manifest = read_manifest(store, version)
    check_format(manifest, version)
    return read_verified(store, version, manifest), manifest


def verify_version(store: ArtifactStore, version: str) -> dict[str, Any]:
    """The version's manifest, after checking that it is stored with skops, its artifact matches the sha256 and
    is a skops file (whether its types are trusted is decided when it is loaded, with the monitor's trust)."""
    artifact, manifest = _verified_artifact(store, version)
    artifact_types(artifact, version)
    return manifest


def load_model(
    store: ArtifactStore, version: str | None = None, *, trusted_extra: Iterable[str] = ()
) -> tuple[Any, dict[str, Any]]:
    """The model and its manifest (latest if no version given), after checking the artifact's format and sha256;
    built only if every type it names is trusted (`PLATFORM_TRUSTED_TYPES` + `trusted_extra`: import paths the
    monitor's configuration trusts, e.g. its `training.estimator`)."""
    if version is None:
        pointer = latest_version(store)
        if pointer is None:
            raise FileNotFoundError("no model has been trained yet (no models/latest.json in the model store)")
        version = pointer["version"]
    artifact, manifest = _verified_artifact(store, version)
    return loads_model(artifact, version, trusted_extra), manifest


def load_champion(store: ArtifactStore, *, trusted_extra: Iterable[str] = ()) -> tuple[Any, dict[str, Any]] | None:
    """The champion model and its manifest (sha256 verified), or None when no version has been promoted yet."""
    pointer = champion_version(store)
    if pointer is None:
        return None
    return load_model(store, pointer["version"], trusted_extra=trusted_extra)


def metric(manifest: dict[str, Any], name: str) -> float | None:
    """A metric of a manifest: under `metrics`, or at the top level in manifests written before it existed."""
    value = (manifest.get("metrics") or {}).get(name, manifest.get(name))
    return None if value is None else float(value)


def set_champion(
    store: ArtifactStore, version: str, *, action: str, reason: str, run_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make `version` the champion and append an entry to the audit log; returns that entry.

    The version must be complete and intact (its artifact's sha256 is checked first), so the pointer never
    names a partial or tampered model. The pointer is written first, then the audit entry: if the store fails
    in between, the change is still recorded in the pointer itself (`previous`, `action`, `since`, `run_id`)."""
    manifest = verify_version(store, version)
    previous = champion_version(store)
    now = _utc_now()
    pointer = {
        "version": version,
        "sha256": manifest["sha256"],
        "artifact": manifest["artifact"],
        "manifest": manifest_key(version),
        "since": now,
        "action": action,
        "reason": reason,
        "run_id": run_id,
        "previous": previous["version"] if previous else None,
    }
    store.write_bytes(CHAMPION_KEY, _json(pointer), "application/json")
    entry = {**pointer, "at": now, "from": pointer["previous"], "to": version, **(details or {})}
    entry["audit_key"] = append_audit(store, action, version, entry)
    return entry


def append_audit(store: ArtifactStore, action: str, version: str, entry: dict[str, Any]) -> str:
    """Write one audit entry under a new key (time, action, version, random id): the log is append-only."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    key = f"{AUDIT_PREFIX}/{stamp}-{action}-{version}-{uuid.uuid4().hex[:8]}.json"
    if store.exists(key):  # a random 32-bit id in the same microsecond: practically never
        raise FileExistsError(f"audit entry {key} already exists; the audit log is append-only")
    store.write_bytes(key, _json({**entry, "audit_key": key}), "application/json")
    return key


def audit_log(store: ArtifactStore) -> list[dict[str, Any]]:
    """Every audit entry, oldest first."""
    return [json.loads(store.read_bytes(key)) for key in sorted(store.list_keys(AUDIT_PREFIX)) if key.endswith(".json")]


def list_versions(store: ArtifactStore) -> list[dict[str, Any]]:
    """One row per version folder, oldest first: its manifest (complete versions) or `{"version", "complete":
    False}` for an artifact whose manifest was never written (a training cut short; nothing points at it)."""
    folders: dict[str, set[str]] = {}
    for key in store.list_keys(MODELS_PREFIX):
        parts = key.split("/")
        if len(parts) == 3 and parts[1] != "audit":
            folders.setdefault(parts[1], set()).add(parts[2])
    rows = []
    for version, files in folders.items():
        if "manifest.json" in files:
            manifest = read_manifest(store, version)
            rows.append({**manifest, "complete": str(manifest.get("artifact", "")).rsplit("/", 1)[-1] in files})
        else:
            rows.append({"version": version, "complete": False})
    return sorted(rows, key=lambda r: (r.get("created_at") or "", r["version"]))


@dataclass(frozen=True)
class GateStart:
    """Where a gate run starts from, read off the champion pointer."""

    compare_with: str | None  # the champion the challenger is compared with (None: there is none)
    already_champion: bool  # the challenger is the champion already, by another run: nothing to decide
    resumed: bool  # this run promoted it and the step is being retried: report the decision again, move nothing


def gate_start(pointer: dict[str, Any] | None, challenger: str, run_id: str) -> GateStart:
    if pointer is None:
        return GateStart(None, False, False)
    if pointer["version"] != challenger:
        return GateStart(pointer["version"], False, False)
    if pointer.get("run_id") != run_id:
        return GateStart(challenger, True, False)
    # Same data, same result: deciding again against the champion it replaced reports the decision and sends
    # the alert that the first attempt may not have sent.
    return GateStart(pointer.get("previous"), False, True)
