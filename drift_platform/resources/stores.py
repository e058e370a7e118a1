"""Object stores for reports and models: a local folder by default, S3 (or MinIO) through dagster-aws.

Both speak the same small interface (write, read, exists, list, location), so the model registry and the
report writer do not care where bytes go. Writes are atomic where the store allows it: a local file appears
only once fully written (write to a temp file, then rename); an S3 object appears only once fully uploaded.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dagster as dg
from pydantic import Field


class ArtifactStore(dg.ConfigurableResource):
    """Interface: keys are '/'-separated relative paths."""

    def write_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        raise NotImplementedError

    def read_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def list_keys(self, prefix: str) -> list[str]:
        raise NotImplementedError

    def location(self, key: str) -> str:
        raise NotImplementedError

    def metadata_value(self, key: str) -> dg.MetadataValue:
        return dg.MetadataValue.url(self.location(key))


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid store key {key!r}")
    return key


class LocalArtifactStore(ArtifactStore):
    """A folder on the local disk."""

    root: str = Field(description="Folder that holds the artifacts")

    def _path(self, key: str) -> Path:
        return Path(self.root) / _check_key(key)

    def write_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.location(key)

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str) -> list[str]:
        root = Path(self.root)
        base = root / _check_key(prefix) if prefix else root
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def location(self, key: str) -> str:
        return str(self._path(key).resolve())

    def metadata_value(self, key: str) -> dg.MetadataValue:
        return dg.MetadataValue.path(self.location(key))
