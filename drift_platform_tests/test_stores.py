"""The object store (a local folder, and S3 against a real moto server on loopback), its scoped views, and the
model registry on top of them: same behaviour on both, immutable versions, the latest pointer, integrity checked
on load, and two monitors' folders that never see each other's keys."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from drift_platform.core.ml import model_registry
from drift_platform.core.ml.model_registry import LATEST_KEY, ModelIntegrityError
from drift_platform.resources.store import (
    PRESIGNED_URL_TTL_S,
    LocalObjectStore,
    ObjectStore,
    S3ObjectStore,
    ScopedStore,
    StoredFile,
)

S3_PREFIX = "drift/store"
INVALID_KEYS = ["../x", "/abs", "a//b", "", ".", "a/../b", "a/./b", "a/"]
MONITOR = "bike_sharing"


def s3_store(request: pytest.FixtureRequest, **kwargs) -> S3ObjectStore:
    server = request.getfixturevalue("s3_server")
    return S3ObjectStore(
        bucket=request.getfixturevalue("s3_bucket"), prefix=S3_PREFIX, s3_endpoint_url=server.endpoint_url,
        aws_region=server.region, aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
        **kwargs,
    )  # fmt: skip


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(root=str(tmp_path / "store"))
    return s3_store(request)


@pytest.fixture
def models(store: ObjectStore) -> ScopedStore:
    """A monitor's folder of the store, as the model registry gets it."""
    return store.scoped(MONITOR)


def _backend_objects(store: ObjectStore, request: pytest.FixtureRequest) -> list[str]:
    """Every object the backend holds, looked at without going through the store (files only)."""
    if isinstance(store, LocalObjectStore):
        root = Path(store.root)
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []
    client = request.getfixturevalue("s3_server").client()
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=store.bucket).get("Contents", []))


def _backend_key(store: ObjectStore, key: str) -> str:
    """Where a store key lives in the backend (relative to the root folder, or the bucket)."""
    return key if isinstance(store, LocalObjectStore) else f"{S3_PREFIX}/{key}"


def _fitted_model(alpha: float):
    import numpy as np
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(7)
    x = rng.normal(size=(50, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=50)
    return Ridge(alpha=alpha).fit(x, y), x


# --- the store interface -----------------------------------------------------------------------------------------
def test_write_read_exists(store: ObjectStore) -> None:
    data = bytes(range(256)) * 10
    assert not store.exists("reports/2011-01-31/report.html")
    location = store.write_bytes("reports/2011-01-31/report.html", data, "text/html")
    assert location == store.location("reports/2011-01-31/report.html")
    assert store.exists("reports/2011-01-31/report.html")
    assert store.read_bytes("reports/2011-01-31/report.html") == data
    store.write_bytes("reports/2011-01-31/report.html", b"second")  # a plain store key may be overwritten
    assert store.read_bytes("reports/2011-01-31/report.html") == b"second"
    assert not store.exists("reports/2011-01-31")  # a folder is not an object


def test_missing_key_raises_file_not_found(store: ObjectStore) -> None:
    with pytest.raises(FileNotFoundError, match="nothing/here.bin"):
        store.read_bytes("nothing/here.bin")


def test_location_and_url(store: ObjectStore, request: pytest.FixtureRequest) -> None:
    store.write_bytes("a/b.json", b"{}", "application/json")
    if isinstance(store, LocalObjectStore):
        expected = Path(store.root).resolve() / "a" / "b.json"
        assert store.location("a/b.json") == store.url("a/b.json") == str(expected)
        assert expected.read_bytes() == b"{}"
        assert store.describe() == str(Path(store.root).resolve())
    else:
        assert store.location("a/b.json") == store.url("a/b.json") == f"s3://{store.bucket}/{S3_PREFIX}/a/b.json"
        head = request.getfixturevalue("s3_server").client().head_object(Bucket=store.bucket, Key=f"{S3_PREFIX}/a/b.json")
        assert head["ContentType"] == "application/json"
        assert store.describe() == f"s3://{store.bucket}/{S3_PREFIX}"
    assert _backend_objects(store, request) == [_backend_key(store, "a/b.json")]


def test_list_keys(store: ObjectStore, request: pytest.FixtureRequest) -> None:
    for key in ("models/v1/model.pkl", "models/v1/manifest.json", "models/latest.json", "models_old/x.pkl",
                "modelsx", "reports/r.html"):
        store.write_bytes(key, key.encode())
    assert store.list_keys("models") == ["models/latest.json", "models/v1/manifest.json", "models/v1/model.pkl"]
    assert store.list_keys("models/v1") == ["models/v1/manifest.json", "models/v1/model.pkl"]
    assert store.list_keys("nothing") == []
    assert store.list_keys("") == sorted(["models/v1/model.pkl", "models/v1/manifest.json", "models/latest.json",
                                          "models_old/x.pkl", "modelsx", "reports/r.html"])
    if not isinstance(store, LocalObjectStore):
        # An object beside the store's prefix (same leading characters) belongs to someone else.
        request.getfixturevalue("s3_server").client().put_object(Bucket=store.bucket, Key=f"{S3_PREFIX}-old/y", Body=b"y")
        assert "old/y" not in store.list_keys("") and len(store.list_keys("")) == 6


def test_list_files_lists_one_folder_with_modification_times(store: ObjectStore) -> None:
    before = time.time() - 5
    for key in ("landing/week1.csv", "landing/notes.txt", "landing/archive/2011-07-04/x-week1.csv",
                "landing_old/week9.csv", "other.csv"):
        store.write_bytes(key, key.encode())
    after = time.time() + 5
    files = store.list_files("landing")
    assert [f.key for f in files] == ["landing/notes.txt", "landing/week1.csv"]  # not below it, not beside it
    assert all(isinstance(f, StoredFile) and before <= f.modified <= after for f in files)
    assert [f.key for f in store.list_files("landing/archive/2011-07-04")] == ["landing/archive/2011-07-04/x-week1.csv"]
    assert store.list_files("empty") == []


def test_move(store: ObjectStore, request: pytest.FixtureRequest) -> None:
    store.write_bytes("landing/week1.csv", b"rows")
    store.move("landing/week1.csv", "landing/archive/2011-07-04/abc-week1.csv")
    assert not store.exists("landing/week1.csv")
    assert store.read_bytes("landing/archive/2011-07-04/abc-week1.csv") == b"rows"
    # Onto an existing object (a second copy of the same file): replaced, the source is gone.
    store.write_bytes("landing/week1.csv", b"rows")
    store.move("landing/week1.csv", "landing/archive/2011-07-04/abc-week1.csv")
    assert _backend_objects(store, request) == [_backend_key(store, "landing/archive/2011-07-04/abc-week1.csv")]
    assert store.read_bytes("landing/archive/2011-07-04/abc-week1.csv") == b"rows"


def test_link_local_is_a_path(tmp_path: Path) -> None:
    store = LocalObjectStore(root=str(tmp_path / "store"))
    store.write_bytes(f"{MONITOR}/drift_reports/r.html", b"<html/>", "text/html")
    expected = str((tmp_path / "store" / MONITOR / "drift_reports" / "r.html").resolve())
    assert store.link(f"{MONITOR}/drift_reports/r.html") == dg.MetadataValue.path(expected)
    assert store.scoped(MONITOR).link("drift_reports/r.html") == dg.MetadataValue.path(expected)


def test_link_s3_presigned_without_public_url(request: pytest.FixtureRequest) -> None:
    """Without a public URL, the UI's link is a presigned URL (7 days) that opens the object as it is."""
    store = s3_store(request)
    store.write_bytes(f"{MONITOR}/drift_reports/r.html", b"<html>report</html>", "text/html")
    for link in (store.link(f"{MONITOR}/drift_reports/r.html"), store.scoped(MONITOR).link("drift_reports/r.html")):
        assert isinstance(link, dg.UrlMetadataValue)
        url = urllib.parse.urlsplit(link.url)
        server = request.getfixturevalue("s3_server")
        assert f"{url.scheme}://{url.netloc}" == server.endpoint_url
        assert url.path == f"/{store.bucket}/{S3_PREFIX}/{MONITOR}/drift_reports/r.html"
        query = urllib.parse.parse_qs(url.query)
        # SigV4 (S3 refuses SigV2 for buckets created since 2020), valid for the 7 days SigV4 allows at most.
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and "X-Amz-Signature" in query
        assert query["X-Amz-Expires"] == [str(PRESIGNED_URL_TTL_S)] == [str(7 * 24 * 3600)]
        assert query["X-Amz-Credential"][0].endswith(f"/{server.region}/s3/aws4_request")
        with urllib.request.urlopen(link.url, timeout=10) as response:  # no credentials but the URL's own
            assert response.read() == b"<html>report</html>"
    # location (what a person reads) stays the s3:// URL: the presigned one expires.
    assert store.location(f"{MONITOR}/drift_reports/r.html") == f"s3://{store.bucket}/{S3_PREFIX}/{MONITOR}/drift_reports/r.html"


def test_link_s3_uses_the_public_url(request: pytest.FixtureRequest) -> None:
    store = s3_store(request, public_url="https://reports.example.com/")
    store.write_bytes(f"{MONITOR}/drift_reports/r.html", b"<html/>", "text/html")
    expected = f"https://reports.example.com/{S3_PREFIX}/{MONITOR}/drift_reports/r.html"
    assert store.link(f"{MONITOR}/drift_reports/r.html") == dg.MetadataValue.url(expected)
    assert store.scoped(MONITOR).link("drift_reports/r.html") == dg.MetadataValue.url(expected)
    assert store.location(f"{MONITOR}/drift_reports/r.html") == expected
    # Code still reads the object through S3, never through the public URL.
    assert store.url(f"{MONITOR}/drift_reports/r.html") == f"s3://{store.bucket}/{S3_PREFIX}/{MONITOR}/drift_reports/r.html"


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_refused(store: ObjectStore, key: str, request: pytest.FixtureRequest) -> None:
    calls = [lambda: store.write_bytes(key, b"x"), lambda: store.read_bytes(key), lambda: store.exists(key),
             lambda: store.location(key), lambda: store.url(key), lambda: store.link(key),
             lambda: store.move(key, "ok"), lambda: store.move("ok", key), lambda: store.scoped(MONITOR).write_bytes(key, b"x"),
             lambda: store.scoped(MONITOR).read_bytes(key)]  # fmt: skip
    if key:  # "" lists the whole store; a folder to list must be valid
        calls.append(lambda: store.list_files(key))
    for call in calls:
        with pytest.raises(ValueError, match="invalid store key"):
            call()
    assert _backend_objects(store, request) == []


@pytest.mark.parametrize("prefix", ["../x", "/abs", "a//b"])
def test_invalid_list_prefix_refused(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid store key"):
        store.list_keys(prefix)
    with pytest.raises(ValueError, match="invalid store key"):
        store.scoped(MONITOR).list_keys(prefix)


# --- scoped views ------------------------------------------------------------------------------------------------
def test_scoped_view_is_the_folder_of_the_store(store: ObjectStore, request: pytest.FixtureRequest) -> None:
    view = store.scoped(MONITOR)
    location = view.write_bytes("models/v1/model.pkl", b"m")
    assert location == view.location("models/v1/model.pkl") == store.location(f"{MONITOR}/models/v1/model.pkl")
    assert view.url("models/v1/model.pkl") == store.url(f"{MONITOR}/models/v1/model.pkl")
    assert store.read_bytes(f"{MONITOR}/models/v1/model.pkl") == b"m"
    assert _backend_objects(store, request) == [_backend_key(store, f"{MONITOR}/models/v1/model.pkl")]
    assert view.describe() == f"{store.describe()}/{MONITOR}"

    landing = view.scoped("landing")  # a view of a view: <monitor>/landing
    landing.write_bytes("week1.csv", b"rows")
    assert [f.key for f in landing.list_files()] == ["week1.csv"]
    landing.move("week1.csv", "archive/2011-07-04/abc-week1.csv")
    assert landing.list_keys("archive") == ["archive/2011-07-04/abc-week1.csv"]
    assert landing.list_files() == []
    assert view.list_keys("") == ["landing/archive/2011-07-04/abc-week1.csv", "models/v1/model.pkl"]
    assert store.exists(f"{MONITOR}/landing/archive/2011-07-04/abc-week1.csv")


def test_two_scoped_views_never_see_each_others_keys(store: ObjectStore) -> None:
    # Names that share their leading characters: "grid" must not reach into "grid_load".
    views = {name: store.scoped(name) for name in ("grid", "grid_load", MONITOR)}
    for name, view in views.items():
        view.write_bytes("models/latest.json", name.encode())
        view.write_bytes("landing/day1.csv", name.encode())
        view.write_bytes(f"only_{name}.txt", name.encode())
    for name, view in views.items():
        assert view.list_keys("") == sorted(["landing/day1.csv", "models/latest.json", f"only_{name}.txt"])
        assert view.list_keys("models") == ["models/latest.json"]
        assert [f.key for f in view.list_files("landing")] == ["landing/day1.csv"]
        assert view.read_bytes("models/latest.json") == name.encode()
        assert view.read_bytes("landing/day1.csv") == name.encode()
        for other in views:
            assert view.exists(f"only_{other}.txt") is (other == name)
    with pytest.raises(FileNotFoundError):
        views["grid"].read_bytes("only_grid_load.txt")
    # A move within one view stays in it.
    views["grid"].move("landing/day1.csv", "landing/archive/day1.csv")
    assert views["grid_load"].read_bytes("landing/day1.csv") == b"grid_load"
    assert not views["grid_load"].exists("landing/archive/day1.csv")


@pytest.mark.parametrize("prefix", ["../x", "a//b", "", "."])
def test_invalid_scope_refused(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid store key"):
        store.scoped(prefix)


# --- the model registry, on a monitor's folder -------------------------------------------------------------------
def test_model_round_trip(store: ObjectStore, models: ScopedStore) -> None:
    import numpy as np

    model, x = _fitted_model(alpha=1.0)
    saved = model_registry.save_model(models, model, {"alpha": 1.0, "rows": 50}, version="v1")
    assert saved.version == "v1" and saved.location == models.location("models/v1/model.skops")
    assert saved.location == store.location(f"{MONITOR}/models/v1/model.skops")
    loaded, manifest = model_registry.load_model(models)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert manifest["alpha"] == 1.0 and manifest["rows"] == 50
    assert manifest["version"] == "v1" and manifest["sha256"] == saved.sha256
    assert models.list_keys("models") == ["models/latest.json", "models/v1/manifest.json", "models/v1/model.skops"]
    assert store.list_keys("") == [f"{MONITOR}/{key}" for key in models.list_keys("models")]
    # Another monitor's folder has no model.
    assert model_registry.latest_version(store.scoped("grid_load")) is None


def test_versions_never_overwritten(models: ScopedStore) -> None:
    first, _ = _fitted_model(alpha=1.0)
    other, _ = _fitted_model(alpha=100.0)
    saved = model_registry.save_model(models, first, {"alpha": 1.0}, version="v1")
    with pytest.raises(FileExistsError, match="v1"):
        model_registry.save_model(models, other, {"alpha": 100.0}, version="v1")
    loaded, manifest = model_registry.load_model(models, "v1")
    assert manifest["sha256"] == saved.sha256 and loaded.alpha == 1.0
    assert model_registry.latest_version(models)["version"] == "v1"


def test_latest_points_at_last_saved(models: ScopedStore) -> None:
    assert model_registry.latest_version(models) is None
    with pytest.raises(FileNotFoundError):
        model_registry.load_model(models)
    for version, alpha in (("v1", 1.0), ("v2", 10.0), ("v0", 100.0)):  # the last saved, not the highest name
        model_registry.save_model(models, _fitted_model(alpha)[0], {"alpha": alpha}, version=version)
    pointer = json.loads(models.read_bytes(LATEST_KEY))
    assert pointer["version"] == "v0" and pointer["artifact"] == "models/v0/model.skops"
    assert model_registry.load_model(models)[0].alpha == 100.0
    assert model_registry.load_model(models, "v2")[0].alpha == 10.0


def test_generated_version_ids_are_unique(models: ScopedStore) -> None:
    model, _ = _fitted_model(alpha=1.0)
    versions = {model_registry.save_model(models, model, {}).version for _ in range(3)}
    assert len(versions) == 3
    assert model_registry.latest_version(models)["version"] in versions


@pytest.mark.parametrize("tamper", ["flip_byte", "truncate", "other_model"])
def test_tampered_artifact_refused(models: ScopedStore, tamper: str) -> None:
    model, _ = _fitted_model(alpha=1.0)
    saved = model_registry.save_model(models, model, {}, version="v7")
    artifact = models.read_bytes(saved.artifact_key)
    if tamper == "flip_byte":
        bad = artifact[:-10] + bytes([artifact[-10] ^ 0xFF]) + artifact[-9:]
    elif tamper == "truncate":
        bad = artifact[: len(artifact) // 2]
    else:
        bad = model_registry.dumps_model(_fitted_model(alpha=2.0)[0])
    models.write_bytes(saved.artifact_key, bad)
    for version in (None, "v7"):
        with pytest.raises(ModelIntegrityError, match="model v7: artifact sha256"):
            model_registry.load_model(models, version)


def test_local_copy_is_the_object_as_a_file(store: ObjectStore) -> None:
    """What the reference statistics are read from a part at a time: the object's bytes in a local file while the
    block runs (the file itself on a local store, a download on S3); a missing key is named."""
    data = bytes(range(256)) * 4096
    folder = store.scoped(MONITOR)
    folder.write_bytes("reference_stats/v1.npz", data)
    with folder.local_copy("reference_stats/v1.npz") as path:
        assert path.read_bytes() == data
    missing = folder.local_copy("reference_stats/none.npz")
    with pytest.raises(FileNotFoundError, match="reference_stats/none.npz"):
        missing.__enter__()
