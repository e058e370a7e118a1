"""The artifact stores (a local folder, and S3 against a real moto server on loopback) and the model registry on
top of them: same behaviour on both, immutable versions, the latest pointer, integrity checked on load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drift_platform import model_registry
from drift_platform.model_registry import LATEST_KEY, ModelIntegrityError
from drift_platform.resources.stores import ArtifactStore, LocalArtifactStore

S3_PREFIX = "drift/models"
INVALID_KEYS = ["../x", "/abs", "a//b", "", ".", "a/../b", "a/./b", "a/"]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(root=str(tmp_path / "store"))
    from dagster_aws.s3 import S3Resource

    from drift_platform.resources.s3_store import S3ArtifactStore

    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return S3ArtifactStore(
        s3=S3Resource(endpoint_url=server.endpoint_url, aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1"),
        bucket=bucket,
        prefix=S3_PREFIX,
    )


def _backend_objects(store: ArtifactStore, request: pytest.FixtureRequest) -> list[str]:
    """Everything the backend holds, looked at without going through the store."""
    if isinstance(store, LocalArtifactStore):
        root = Path(store.root)
        return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []
    client = request.getfixturevalue("s3_server").client()
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=store.bucket).get("Contents", []))


def _fitted_model(alpha: float):
    import numpy as np
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(7)
    x = rng.normal(size=(50, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=50)
    return Ridge(alpha=alpha).fit(x, y), x


# --- the store interface -----------------------------------------------------------------------------------------
def test_write_read_exists(store: ArtifactStore) -> None:
    data = bytes(range(256)) * 10
    assert not store.exists("reports/2011-01-31/report.html")
    location = store.write_bytes("reports/2011-01-31/report.html", data, "text/html")
    assert location == store.location("reports/2011-01-31/report.html")
    assert store.exists("reports/2011-01-31/report.html")
    assert store.read_bytes("reports/2011-01-31/report.html") == data
    store.write_bytes("reports/2011-01-31/report.html", b"second")  # a plain store key may be overwritten
    assert store.read_bytes("reports/2011-01-31/report.html") == b"second"
    assert not store.exists("reports/2011-01-31")  # a folder is not an object


def test_missing_key_raises_file_not_found(store: ArtifactStore) -> None:
    with pytest.raises(FileNotFoundError, match="nothing/here.bin"):
        store.read_bytes("nothing/here.bin")


def test_location(store: ArtifactStore, request: pytest.FixtureRequest) -> None:
    store.write_bytes("a/b.json", b"{}", "application/json")
    if isinstance(store, LocalArtifactStore):
        expected = Path(store.root).resolve() / "a" / "b.json"
        assert store.location("a/b.json") == str(expected)
        assert expected.read_bytes() == b"{}"
    else:
        assert store.location("a/b.json") == f"s3://{store.bucket}/{S3_PREFIX}/a/b.json"
        head = request.getfixturevalue("s3_server").client().head_object(Bucket=store.bucket, Key=f"{S3_PREFIX}/a/b.json")
        assert head["ContentType"] == "application/json"
    assert _backend_objects(store, request) in (["a", "a/b.json"], [f"{S3_PREFIX}/a/b.json"])


def test_list_keys(store: ArtifactStore, request: pytest.FixtureRequest) -> None:
    for key in ("models/v1/model.pkl", "models/v1/manifest.json", "models/latest.json", "models_old/x.pkl",
                "modelsx", "reports/r.html"):
        store.write_bytes(key, key.encode())
    assert store.list_keys("models") == ["models/latest.json", "models/v1/manifest.json", "models/v1/model.pkl"]
    assert store.list_keys("models/v1") == ["models/v1/manifest.json", "models/v1/model.pkl"]
    assert store.list_keys("nothing") == []
    assert store.list_keys("") == sorted(["models/v1/model.pkl", "models/v1/manifest.json", "models/latest.json",
                                          "models_old/x.pkl", "modelsx", "reports/r.html"])
    if not isinstance(store, LocalArtifactStore):
        # An object beside the store's prefix (same leading characters) belongs to someone else.
        request.getfixturevalue("s3_server").client().put_object(Bucket=store.bucket, Key=f"{S3_PREFIX}-old/y", Body=b"y")
        assert "old/y" not in store.list_keys("") and len(store.list_keys("")) == 6


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_refused(store: ArtifactStore, key: str, request: pytest.FixtureRequest) -> None:
    for call in (lambda: store.write_bytes(key, b"x"), lambda: store.read_bytes(key), lambda: store.exists(key),
                 lambda: store.location(key)):
        with pytest.raises(ValueError, match="invalid store key"):
            call()
    assert _backend_objects(store, request) == []


@pytest.mark.parametrize("prefix", ["../x", "/abs", "a//b"])
def test_invalid_list_prefix_refused(store: ArtifactStore, prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid store key"):
        store.list_keys(prefix)


# --- the model registry ------------------------------------------------------------------------------------------
def test_model_round_trip(store: ArtifactStore) -> None:
    import numpy as np

    model, x = _fitted_model(alpha=1.0)
    saved = model_registry.save_model(store, model, {"alpha": 1.0, "rows": 50}, version="v1")
    assert saved.version == "v1" and saved.location == store.location("models/v1/model.pkl")
    loaded, manifest = model_registry.load_model(store)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert manifest["alpha"] == 1.0 and manifest["rows"] == 50
    assert manifest["version"] == "v1" and manifest["sha256"] == saved.sha256
    assert store.list_keys("models") == ["models/latest.json", "models/v1/manifest.json", "models/v1/model.pkl"]


def test_versions_never_overwritten(store: ArtifactStore) -> None:
    first, _ = _fitted_model(alpha=1.0)
    other, _ = _fitted_model(alpha=100.0)
    saved = model_registry.save_model(store, first, {"alpha": 1.0}, version="v1")
    with pytest.raises(FileExistsError, match="v1"):
        model_registry.save_model(store, other, {"alpha": 100.0}, version="v1")
    loaded, manifest = model_registry.load_model(store, "v1")
    assert manifest["sha256"] == saved.sha256 and loaded.alpha == 1.0
    assert model_registry.latest_version(store)["version"] == "v1"


def test_latest_points_at_last_saved(store: ArtifactStore) -> None:
    assert model_registry.latest_version(store) is None
    with pytest.raises(FileNotFoundError):
        model_registry.load_model(store)
    for version, alpha in (("v1", 1.0), ("v2", 10.0), ("v0", 100.0)):  # the last saved, not the highest name
        model_registry.save_model(store, _fitted_model(alpha)[0], {"alpha": alpha}, version=version)
    pointer = json.loads(store.read_bytes(LATEST_KEY))
    assert pointer["version"] == "v0" and pointer["artifact"] == "models/v0/model.pkl"
    assert model_registry.load_model(store)[0].alpha == 100.0
    assert model_registry.load_model(store, "v2")[0].alpha == 10.0


def test_generated_version_ids_are_unique(store: ArtifactStore) -> None:
    model, _ = _fitted_model(alpha=1.0)
    versions = {model_registry.save_model(store, model, {}).version for _ in range(3)}
    assert len(versions) == 3
    assert model_registry.latest_version(store)["version"] in versions


@pytest.mark.parametrize("tamper", ["flip_byte", "truncate", "other_model"])
def test_tampered_artifact_refused(store: ArtifactStore, tamper: str) -> None:
    model, _ = _fitted_model(alpha=1.0)
    saved = model_registry.save_model(store, model, {}, version="v7")
    artifact = store.read_bytes(saved.artifact_key)
    if tamper == "flip_byte":
        bad = artifact[:-10] + bytes([artifact[-10] ^ 0xFF]) + artifact[-9:]
    elif tamper == "truncate":
        bad = artifact[: len(artifact) // 2]
    else:
        import pickle

        bad = pickle.dumps(_fitted_model(alpha=2.0)[0])
    store.write_bytes(saved.artifact_key, bad)
    for version in (None, "v7"):
        with pytest.raises(ModelIntegrityError, match="model v7: artifact sha256"):
            model_registry.load_model(store, version)
