"""Versioned models on an artifact store: immutable versions, a manifest each, a `latest` and a `champion` pointer,
and an append-only audit log of every change of the champion.

Layout under a monitor's folder of the object store (`<store>/<monitor>/`):
    models/<version>/model.pkl       the pickled scikit-learn pipeline
    models/<version>/manifest.json   version id, training window and rows, sha256 of the history it saw, code
                                     version, hyperparameters, metrics, and the artifact's sha256
    models/latest.json               the last trained version; moved only after both files are written
    models/champion.json             the version in service (predictions, the model-quality check); moved by the
                                     champion/challenger gate and by the rollback job, only to a version
                                     whose artifact matches its manifest's sha256
    models/audit/<time>-<action>-<version>-<id>.json   one object per champion change, never overwritten

A version is never overwritten: saving an existing version id fails. Loading verifies the sha256 recorded in
the manifest: a tampered or partial artifact is refused. Plain functions over the store's small interface.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import pickle
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


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
    return f"{MODELS_PREFIX}/{version}/model.pkl"


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


def save_model(store: ArtifactStore, model: Any, manifest: dict[str, Any], version: str | None = None) -> ModelVersion:
    """Write a new immutable version (artifact, then manifest), then move the latest pointer to it.

    Never touches the champion: promoting a version is the gate's decision (`set_champion`)."""
    artifact = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    sha256 = hashlib.sha256(artifact).hexdigest()
    version = version or new_version_id(sha256)
    a_key, m_key = artifact_key(version), manifest_key(version)
    if store.exists(a_key) or store.exists(m_key):
        raise FileExistsError(f"model version {version} already exists; versions are never overwritten")
    location = store.write_bytes(a_key, artifact)
    full_manifest = {**manifest, "version": version, "created_at": _utc_now(), "sha256": sha256, "artifact": a_key}
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


def _verified_artifact(store: ArtifactStore, version: str) -> tuple[bytes, dict[str, Any]]:
    manifest = read_manifest(store, version)
    artifact = store.read_bytes(manifest["artifact"])
    actual = hashlib.sha256(artifact).hexdigest()
    if actual != manifest["sha256"]:
        raise ModelIntegrityError(
            f"model {version}: artifact sha256 {actual} does not match the manifest's {manifest['sha256']}; refusing to load it"
        )
    return artifact, manifest


def verify_version(store: ArtifactStore, version: str) -> dict[str, Any]:
    """The version's manifest, after checking that its artifact matches the manifest's sha256."""
    return _verified_artifact(store, version)[1]


def load_model(store: ArtifactStore, version: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The model and its manifest (latest if no version given), after checking the artifact's sha256."""
    if version is None:
        pointer = latest_version(store)
        if pointer is None:
            raise FileNotFoundError("no model has been trained yet (no models/latest.json in the model store)")
        version = pointer["version"]
    artifact, manifest = _verified_artifact(store, version)
    return pickle.loads(artifact), manifest


def load_champion(store: ArtifactStore) -> tuple[Any, dict[str, Any]] | None:
    """The champion model and its manifest (sha256 verified), or None when no version has been promoted yet."""
    pointer = champion_version(store)
    if pointer is None:
        return None
    return load_model(store, pointer["version"])


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
            rows.append({**read_manifest(store, version), "complete": "model.pkl" in files})
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
