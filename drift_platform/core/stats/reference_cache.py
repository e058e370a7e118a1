"""The reference's drift statistics, computed once per reference version and kept in the store beside it.

Layout under a monitor's folder of the object store (`<store>/<monitor>/`):
    reference_stats/<version>.npz    the statistics (core/stats/reference_stats.py; numpy arrays, no pickle),
                                     named by the sha256 of the reference's content, never overwritten
    reference_stats/<version>.json   its manifest: the artifact's sha256, rows, columns, format, when it was built
    reference_stats/current.json     the pointer: the version in use, the warehouse fingerprint of the table it
                                     was built from and the artifact's format

A period's drift report asks the warehouse for the reference table's fingerprint (one aggregate query, no rows
transferred) and takes the statistics the pointer names only when the fingerprints match; otherwise the table is
read, its statistics rebuilt (or an artifact of the same content reused) and the pointer moved. A pointer
to an artifact of another format (`reference_stats.FORMAT`, bumped when the artifact gains a part, e.g. the
data-quality blocks) is treated as no pointer: the statistics are rebuilt, never refused. Loading verifies
the artifact's sha256 against its manifest: a tampered or partial artifact is refused, as a tampered model is.
Plain functions over the store's small interface (model_registry.ArtifactStore, and `local_copy`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from drift_platform.core.ml.model_registry import ArtifactStore

if TYPE_CHECKING:
    from drift_platform.core.stats.reference_stats import ReferenceStats

class StatsStore(ArtifactStore, Protocol):
    """A monitor's folder of the object store (resources/store.py), with a local file of an object."""

    def local_copy(self, key: str) -> AbstractContextManager[Path]: ...


PREFIX = "reference_stats"
POINTER_KEY = f"{PREFIX}/current.json"


class ReferenceStatsIntegrityError(RuntimeError):
    """A stored statistics artifact does not match the sha256 its manifest records."""


def artifact_key(version: str) -> str:
    return f"{PREFIX}/{version}.npz"


def manifest_key(version: str) -> str:
    return f"{PREFIX}/{version}.json"


def _json(data: Any) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True, default=str).encode()


def _canonical(fingerprint: Mapping[str, Any]) -> str:
    return json.dumps(fingerprint, sort_keys=True, default=str)


def load_stats(store: StatsStore, version: str) -> ReferenceStats:
    """The statistics of a reference version, after checking the artifact against its manifest's sha256."""
    from drift_platform.core.stats.reference_stats import ReferenceStats

    manifest = json.loads(store.read_bytes(manifest_key(version)))
    with store.local_copy(artifact_key(version)) as path:  # hashed and read a part at a time, never whole
        with open(path, "rb") as file:
            actual = hashlib.file_digest(file, "sha256").hexdigest()
        if actual != manifest["sha256"]:
            raise ReferenceStatsIntegrityError(
                f"reference statistics {artifact_key(version)}: sha256 {actual} does not match its manifest's "
                f"{manifest['sha256']}; refusing to use them (delete both files to have them rebuilt from the "
                "warehouse)"
            )
        try:
            stats = ReferenceStats.from_file(path)
        except ValueError as exc:
            raise ReferenceStatsIntegrityError(f"reference statistics {artifact_key(version)}: {exc}") from exc
    if stats.version != version:
        raise ReferenceStatsIntegrityError(
            f"reference statistics {artifact_key(version)} hold version {stats.version}; refusing to use them"
        )
    return stats


def cached_stats(store: StatsStore, fingerprint: Mapping[str, Any]) -> ReferenceStats | None:
    """The statistics the pointer names when they were built from a table with this fingerprint and are of this
    code's format; None otherwise (no pointer yet, the reference changed since, or the artifact is of an older
    format: rebuilt then)."""
    from drift_platform.core.stats.reference_stats import FORMAT

    if not store.exists(POINTER_KEY):
        return None
    pointer = json.loads(store.read_bytes(POINTER_KEY))
    if pointer.get("fingerprint") != _canonical(fingerprint) or pointer.get("format", 1) != FORMAT:
        return None
    return load_stats(store, pointer["version"])


def save_stats(store: StatsStore, stats: ReferenceStats, fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    """Keep `stats` (unless an intact artifact of the same version is there already) and point at it for tables
    with this fingerprint. Returns the manifest."""
    from drift_platform.core.stats.reference_stats import FORMAT

    a_key, m_key = artifact_key(stats.version), manifest_key(stats.version)
    if store.exists(a_key) and store.exists(m_key):
        load_stats(store, stats.version)  # same content, already built: verified, then reused
        manifest = json.loads(store.read_bytes(m_key))
    else:
        data = stats.to_bytes()
        manifest = {
            "version": stats.version,
            "sha256": hashlib.sha256(data).hexdigest(),
            "artifact": a_key,
            "rows": stats.rows,
            "columns": {name: column.kind for name, column in stats.columns.items()},
            "format": FORMAT,
            "bytes": len(data),
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        store.write_bytes(a_key, data)
        store.write_bytes(m_key, _json(manifest), "application/json")
    store.write_bytes(POINTER_KEY, _json({"version": stats.version, "fingerprint": _canonical(fingerprint),
                                          "format": FORMAT, "manifest": m_key,
                                          "moved_at": dt.datetime.now(dt.UTC).isoformat()}),
                      "application/json")
    return manifest
