"""Migrating versions stored as pickles by earlier releases (`models/<version>/model.pkl`) to skops, once.

This is the one place in the platform that unpickles a model, and only when a person who trusts the store runs
the monitor's `<monitor>_migrate_models_job` (lib/ops/migrate_models.py). For each version it:
  1. leaves a version stored with skops alone ("already skops");
  2. checks the pickle's bytes against the sha256 its manifest recorded; a mismatch is refused, never unpickled;
  3. unpickles it once, stores it as `models/<version>/model.skops` (same version id), refusing it when the result
     names a type outside the trusted list (it could not be loaded anyway) or does not load back;
  4. rewrites the manifest (`format: skops`, the new sha256 and artifact, `migrated_from`: the pickle's key,
     sha256 and when), repoints `latest.json` / `champion.json` if they name the version, and appends an audit
     entry (`action: migrate`).
The manifest is written last: a migration cut short leaves the version as it was, and running again finishes it.
A second run migrates nothing. The pickle is kept where it was: nothing reads it again (the manifest names
model.skops, and loading refuses pickles), and its bytes stay as evidence of what was migrated and as the way
back if a migrated model ever turned out to differ (the object store's interface has no delete, on purpose).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from drift_platform.core.ml.model_registry import (
    CHAMPION_KEY,
    FORMAT,
    LATEST_KEY,
    ArtifactStore,
    ModelIntegrityError,
    append_audit,
    artifact_key,
    artifact_types,
    dumps_model,
    estimator_path,
    list_versions,
    loads_model,
    manifest_key,
    read_verified,
    trusted_types,
)

MIGRATED, ALREADY_SKOPS, REFUSED, SKIPPED = "migrated", "already skops", "refused", "skipped"


@dataclass(frozen=True)
class Migration:
    """What the migration did with one version: its outcome and why."""

    version: str
    outcome: str  # migrated | already skops | refused | skipped
    detail: str


def _json(data: Any) -> bytes:
    return json.dumps(data, indent=2, default=str).encode()


def _unpickle(artifact: bytes) -> Any:
    """The one unpickling of a model in the platform: runs whatever the pickle carries. Only for the migration,
    which a person who trusts the store starts by hand, after the bytes matched their manifest's sha256."""
    return pickle.loads(artifact)  # noqa: S301 (deliberate, see above)


def _skops_copy(model: Any, version: str, trusted: frozenset[str]) -> bytes:
    """The model in skops' format, refused (ModelIntegrityError) unless it names only trusted types and loads."""
    data = dumps_model(model)
    loads_model(data, version, trusted)  # raises UntrustedModelError naming the types outside the list
    return data


def _repoint(store: ArtifactStore, version: str, sha256: str, key: str) -> list[str]:
    """Update the latest and champion pointers that name `version` (their other fields unchanged)."""
    moved = []
    for pointer_key in (LATEST_KEY, CHAMPION_KEY):
        if not store.exists(pointer_key):
            continue
        pointer = json.loads(store.read_bytes(pointer_key))
        if pointer.get("version") == version:
            store.write_bytes(pointer_key, _json({**pointer, "sha256": sha256, "artifact": key}), "application/json")
            moved.append(pointer_key.rsplit("/", 1)[-1])
    return moved


def _store_migrated(store, manifest: dict[str, Any], model: Any, data: bytes, run_id: str | None) -> Migration:
    version, old_key, old_sha = manifest["version"], manifest["artifact"], manifest["sha256"]
    new_key, new_sha = artifact_key(version), hashlib.sha256(data).hexdigest()
    now = dt.datetime.now(dt.UTC).isoformat()
    store.write_bytes(new_key, data)
    source = {"artifact": old_key, "sha256": old_sha, "format": manifest.get("format") or "pickle", "at": now,
              "run_id": run_id}
    migrated = {**manifest, "format": FORMAT, "sha256": new_sha, "artifact": new_key, "migrated_from": source,
                "estimator": manifest.get("estimator") or estimator_path(model), "types": sorted(artifact_types(data, version))}
    store.write_bytes(manifest_key(version), _json(migrated), "application/json")  # the switch: written last
    pointers = _repoint(store, version, new_sha, new_key)
    detail = f"{old_key} (sha256 {old_sha[:12]}) -> {new_key} (sha256 {new_sha[:12]})"
    if pointers:
        detail += f"; {' and '.join(pointers)} repointed"
    append_audit(store, "migrate", version, {
        "at": now, "action": "migrate", "from": version, "to": version, "version": version, "run_id": run_id,
        "reason": f"pickle -> skops: {detail}; {old_key} kept", "from_artifact": old_key, "from_sha256": old_sha,
        "to_artifact": new_key, "sha256": new_sha,
    })  # fmt: skip
    return Migration(version, MIGRATED, detail)


def migrate_version(
    store: ArtifactStore, manifest: dict[str, Any], trusted: frozenset[str], run_id: str | None = None
) -> Migration:
    """Migrate one version (its manifest given) to skops, or say why not."""
    version = manifest["version"]
    stored = manifest.get("format") or "pickle"
    if stored == FORMAT:
        return Migration(version, ALREADY_SKOPS, manifest["artifact"])
    if stored != "pickle":
        return Migration(version, REFUSED, f"unknown format {stored!r}")
    try:
        artifact = read_verified(store, version, manifest)
    except FileNotFoundError:
        return Migration(version, REFUSED, f"its artifact {manifest['artifact']} is missing")
    except ModelIntegrityError as exc:
        return Migration(version, REFUSED, f"{exc} (not unpickled)")
    try:
        model = _unpickle(artifact)
    except Exception as exc:  # a pickle that does not load: whatever it raises
        return Migration(version, REFUSED, f"the pickle does not load: {type(exc).__name__}: {exc}")
    try:
        data = _skops_copy(model, version, trusted)
    except (TypeError, ModelIntegrityError) as exc:
        return Migration(version, REFUSED, f"not re-saved: {exc}")
    return _store_migrated(store, manifest, model, data, run_id)


def migrate_store(
    store: ArtifactStore, trusted_extra: Iterable[str] = (), run_id: str | None = None
) -> list[Migration]:
    """Every version of a monitor's model store, oldest first: migrated, already skops, refused or skipped."""
    trusted = trusted_types(trusted_extra)
    results = []
    for row in list_versions(store):
        if "artifact" not in row:  # a folder without manifest: a training cut short, nothing points at it
            results.append(Migration(row["version"], SKIPPED, "no manifest (a training cut short); left as it is"))
            continue
        manifest = {key: value for key, value in row.items() if key != "complete"}  # as stored
        results.append(migrate_version(store, manifest, trusted, run_id))
    return results


def migrations_table(results: list[Migration]) -> str:
    """The migration's outcome per version, as a markdown table."""
    lines = ["| version | outcome | detail |", "|---|---|---|"]
    lines += [f"| {r.version} | {r.outcome} | {r.detail.replace('|', '/')} |" for r in results]
    return "\n".join(lines)
