"""The one object store: models, reports, trend charts and landing files of every monitor, a local folder by
default, a bucket on S3 (or MinIO) in production, through one S3 client made by dagster-aws.

Both kinds speak the same small interface (write, read, exists, list, move, location, link), so the model
registry, the report writer and the landing sensor do not care where bytes go. Each monitor works in its own
folder of the store (`store.scoped("<monitor>")`): two monitors never see each other's keys. Writes are
atomic where the store allows it: a local file appears only once fully written (temp file, then rename); an
S3 object appears only once fully uploaded.

The S3 connection settings (endpoint, region, keys) live on the base class, so the same client also reads
`s3://` sources (drift_platform/core/intake/source.py) whichever kind the store is. dagster_aws is imported on first use,
not when the code location loads.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

PRESIGNED_URL_TTL_S = 7 * 24 * 3600  # the longest a SigV4 presigned URL lives


@dataclass(frozen=True)
class StoredFile:
    key: str
    modified: float  # seconds since the epoch


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid store key {key!r}")
    return key


def join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


class ObjectStore(dg.ConfigurableResource):
    """Interface (keys are '/'-separated relative paths) and the S3 connection shared by every S3 read."""

    s3_endpoint_url: str | None = Field(default=None, description="S3 endpoint, e.g. http://minio:9000 (None: AWS)")
    aws_region: str | None = Field(default=None, description="S3 region")
    aws_access_key_id: str | None = Field(default=None, description="S3 access key id (None: boto3's chain)")
    aws_secret_access_key: str | None = Field(default=None, description="S3 secret key (None: boto3's chain)")

    # S3Resource.get_client() builds a new boto3 session and client (~0.2 s) on every call: build it once.
    _s3: Any = PrivateAttr(default=None)

    def s3_client(self):
        """The one boto3 S3 client, made by dagster-aws' S3Resource from this resource's settings."""
        if self._s3 is None:
            from dagster_aws.s3 import S3Resource

            settings = {
                "endpoint_url": self.s3_endpoint_url, "region_name": self.aws_region,
                "aws_access_key_id": self.aws_access_key_id, "aws_secret_access_key": self.aws_secret_access_key,
            }  # fmt: skip
            self._s3 = S3Resource(**{k: v for k, v in settings.items() if v}).get_client()
            # Without a configured signature version, botocore presigns URLs with SigV2 in the regions that still
            # list it (us-east-1, ...), which S3 refuses for buckets created since June 2020: keep SigV4.
            self._s3.meta.events.register_first("choose-signer.s3", _presign_with_sigv4)
        return self._s3

    def scoped(self, prefix: str) -> ScopedStore:
        """A view of the folder `prefix`: the keys a monitor (or one of its parts) sees."""
        return ScopedStore(self, prefix)

    def describe(self) -> str:
        raise NotImplementedError

    def write_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        raise NotImplementedError

    def read_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """The object as a file on the local disk while the block runs (the file itself on a local store; a
        streamed download on S3), for readers that take a file a part at a time instead of the whole bytes."""
        with tempfile.TemporaryDirectory(prefix="drift-store-") as tmp:
            path = Path(tmp) / "object"
            self._download(key, path)
            yield path

    def _download(self, key: str, path: Path) -> None:
        path.write_bytes(self.read_bytes(key))

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under the folder `prefix` ("" = all); "models" does not match "models_old/x"."""
        raise NotImplementedError

    def list_files(self, folder: str) -> list[StoredFile]:
        """The files directly in `folder` (not below it), with their modification times."""
        raise NotImplementedError

    def move(self, key: str, target: str) -> None:
        """Move an object onto `target` (replacing it, which is harmless when it holds the same bytes)."""
        raise NotImplementedError

    def location(self, key: str) -> str:
        """Where a person finds the object: a path, a public URL or an s3:// URL."""
        raise NotImplementedError

    def url(self, key: str) -> str:
        """How code reads the object back (drift_platform.core.intake.source): a path or an s3:// URL."""
        raise NotImplementedError

    def link(self, key: str) -> dg.MetadataValue:
        """The object in a form the UI opens with a click."""
        return dg.MetadataValue.url(self.location(key))


class LocalObjectStore(ObjectStore):
    """A folder on the local disk."""

    root: str = Field(description="Folder that holds the objects")

    def _path(self, key: str) -> Path:
        return Path(self.root) / check_key(key)

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"no object {key!r} at {path}")
        yield path

    def describe(self) -> str:
        return str(Path(self.root).resolve())

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
        base = root / check_key(prefix) if prefix else root
        if not base.exists():
            return []
        return sorted(
            p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def list_files(self, folder: str) -> list[StoredFile]:
        base = self._path(folder)
        base.mkdir(parents=True, exist_ok=True)  # so that people see where to drop files
        return [
            StoredFile(join(folder, entry.name), entry.stat().st_mtime)
            for entry in sorted(base.iterdir())
            if entry.is_file()
        ]

    def move(self, key: str, target: str) -> None:
        destination = self._path(target)
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path(key), destination)  # same file system: atomic, never a half-moved file

    def location(self, key: str) -> str:
        return str(self._path(key).resolve())

    def url(self, key: str) -> str:
        return self.location(key)

    def link(self, key: str) -> dg.MetadataValue:
        return dg.MetadataValue.path(self.location(key))


class S3ObjectStore(ObjectStore):
    """A bucket and prefix on S3 or an S3-compatible server (MinIO, moto)."""

    bucket: str = Field(description="Bucket name")
    prefix: str = Field(default="", description="Key prefix inside the bucket")
    public_url: str | None = Field(
        default=None, description="Base URL under which the objects can be opened in a browser (optional; "
        "without it, links in the UI are presigned for 7 days)",
    )

    def _key(self, key: str) -> str:
        return join(self.prefix, check_key(key))

    def describe(self) -> str:
        return f"s3://{join(self.bucket, self.prefix)}"

    def write_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        self.s3_client().put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)
        return self.location(key)

    @contextlib.contextmanager
    def _missing_as_file_not_found(self, key: str) -> Iterator[None]:
        """S3's "no such object" for `key` raised as FileNotFoundError; any other client error as it is."""
        from botocore.exceptions import ClientError

        try:
            yield
        except ClientError as exc:
            if _not_found(exc):
                raise FileNotFoundError(f"no object {key!r} at {self.url(key)}") from exc
            raise

    def _download(self, key: str, path: Path) -> None:
        with self._missing_as_file_not_found(key):
            self.s3_client().download_file(self.bucket, self._key(key), str(path))

    def read_bytes(self, key: str) -> bytes:
        with self._missing_as_file_not_found(key):
            return self.s3_client().get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3_client().head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _not_found(exc):
                return False
            raise
        return True

    def _objects(self, folder: str, delimiter: str | None = None):
        full = join(self.prefix, folder)
        kwargs = {"Bucket": self.bucket, "Prefix": f"{full}/" if full else ""}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        for page in self.s3_client().get_paginator("list_objects_v2").paginate(**kwargs):
            yield from page.get("Contents", [])

    def _relative(self, full_key: str) -> str:
        prefix = self.prefix.strip("/")
        return full_key[len(prefix) + 1:] if prefix else full_key

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(self._relative(obj["Key"]) for obj in self._objects(check_key(prefix) if prefix else ""))

    def list_files(self, folder: str) -> list[StoredFile]:
        found = [
            StoredFile(self._relative(obj["Key"]), obj["LastModified"].timestamp())
            for obj in self._objects(check_key(folder), delimiter="/")
        ]
        return sorted(found, key=lambda f: f.key)

    def move(self, key: str, target: str) -> None:
        # S3 has no rename: copy, then delete the original only once its copy exists.
        source = {"Bucket": self.bucket, "Key": self._key(key)}
        self.s3_client().copy_object(Bucket=self.bucket, Key=self._key(target), CopySource=source)
        self.s3_client().delete_object(**source)

    def location(self, key: str) -> str:
        if self.public_url:
            return f"{self.public_url.rstrip('/')}/{self._key(key)}"
        return self.url(key)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def link(self, key: str) -> dg.MetadataValue:
        if self.public_url:
            return dg.MetadataValue.url(self.location(key))
        presigned = self.s3_client().generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=PRESIGNED_URL_TTL_S
        )
        return dg.MetadataValue.url(presigned)


def _presign_with_sigv4(signature_version: str, **kwargs: Any) -> str | None:
    return "s3v4-query" if signature_version in ("v4-query", "s3v4-query") else None


def _not_found(exc: Exception) -> bool:
    return getattr(exc, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class ScopedStore:
    """One folder of a store, with the store's interface on keys relative to it."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store = store
        self.prefix = check_key(prefix.strip("/"))

    def _key(self, key: str) -> str:
        return join(self.prefix, check_key(key))

    def _relative(self, key: str) -> str:
        return key[len(self.prefix) + 1:]

    def scoped(self, prefix: str) -> ScopedStore:
        return ScopedStore(self.store, join(self.prefix, prefix))

    def describe(self) -> str:
        return f"{self.store.describe().rstrip('/')}/{self.prefix}"

    def write_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        return self.store.write_bytes(self._key(key), data, content_type)

    def read_bytes(self, key: str) -> bytes:
        return self.store.read_bytes(self._key(key))

    def local_copy(self, key: str):
        return self.store.local_copy(self._key(key))

    def exists(self, key: str) -> bool:
        return self.store.exists(self._key(key))

    def list_keys(self, prefix: str) -> list[str]:
        return [self._relative(k) for k in self.store.list_keys(self._key(prefix) if prefix else self.prefix)]

    def list_files(self, folder: str = "") -> list[StoredFile]:
        full = self._key(folder) if folder else self.prefix
        return [StoredFile(self._relative(f.key), f.modified) for f in self.store.list_files(full)]

    def move(self, key: str, target: str) -> None:
        self.store.move(self._key(key), self._key(target))

    def location(self, key: str) -> str:
        return self.store.location(self._key(key))

    def url(self, key: str) -> str:
        return self.store.url(self._key(key))

    def link(self, key: str) -> dg.MetadataValue:
        return self.store.link(self._key(key))
