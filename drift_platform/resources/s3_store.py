"""The artifact store on S3 or an S3-compatible server (MinIO, moto), through dagster-aws' S3Resource.

In its own module so that dagster_aws (~3 s to import) is loaded only where S3 is configured.
"""

from __future__ import annotations

from typing import Any

from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from drift_platform.resources.stores import ArtifactStore, _check_key


class S3ArtifactStore(ArtifactStore):
    """A bucket and prefix on S3 or an S3-compatible server (MinIO, moto), through dagster-aws' S3Resource."""

    s3: S3Resource
    bucket: str = Field(description="Bucket name")
    prefix: str = Field(default="", description="Key prefix inside the bucket")
    public_url: str | None = Field(
        default=None, description="Base URL under which the objects can be opened in a browser (optional)"
    )

    # S3Resource.get_client() builds a new boto3 session and client (~0.2 s) on every call: build it once.
    _s3_client: Any = PrivateAttr(default=None)

    def _key(self, key: str) -> str:
        return "/".join(p for p in (self.prefix.strip("/"), _check_key(key)) if p)

    def _client(self):
        if self._s3_client is None:
            self._s3_client = self.s3.get_client()
        return self._s3_client

    def write_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        self._client().put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)
        return self.location(key)

    def read_bytes(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self._client().get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(f"no object {key!r} at {self.location(key)}") from exc
            raise

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client().head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def list_keys(self, prefix: str) -> list[str]:
        """Keys under the folder `prefix` ("" = all), like LocalArtifactStore: "models" does not match "models_old/x"."""
        full = self._key(prefix) if prefix else self.prefix.strip("/")
        full = f"{full}/" if full else ""
        strip = len(self.prefix.strip("/")) + 1 if self.prefix.strip("/") else 0
        keys: list[str] = []
        paginator = self._client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        return sorted(keys)

    def location(self, key: str) -> str:
        if self.public_url:
            return f"{self.public_url.rstrip('/')}/{self._key(key)}"
        return f"s3://{self.bucket}/{self._key(key)}"
