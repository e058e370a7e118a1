"""Models stored in a format that runs no code on load (issue 20, part 4), on a local folder and on S3 (a real moto
server on loopback): every default pipeline kind round-trips through skops with equal predictions and names only
trusted types; a crafted pickle placed in the store as a model is never unpickled (the marker file it would write
stays absent) and the refusal names the version; a skops file naming an untrusted type is refused, naming the
version and the types; the migrate-models job migrates a pickled version once and a second run does nothing."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from drift_platform.core.ml import model_registry as registry
from drift_platform.core.ml.model_registry import (
    PLATFORM_TRUSTED_TYPES,
    ModelIntegrityError,
    PickledModelError,
    UntrustedModelError,
)
from drift_platform.resources.store import LocalObjectStore, ObjectStore, S3ObjectStore
from drift_platform_tests.conftest import local_resources
from drift_platform_tests.helpers import Platform, step_failure_message

MONITOR = "bike_sharing"
MIGRATE_OP = f"{MONITOR}_migrate_models"


def make_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if kind == "local":
        return LocalObjectStore(root=str(tmp_path / "store"))
    server = request.getfixturevalue("s3_server")
    return S3ObjectStore(bucket=request.getfixturevalue("s3_bucket"), prefix="drift", s3_endpoint_url=server.endpoint_url,
                         aws_region=server.region, aws_access_key_id=server.access_key,
                         aws_secret_access_key=server.secret_key)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    return make_store(request.param, request, tmp_path)


@pytest.fixture
def models(store: ObjectStore):
    return store.scoped(MONITOR)


# --- the platform's pipelines, as the training recipe builds them -----------------------------------------------
def frame(rows: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "temp": rng.normal(size=rows), "hum": rng.uniform(size=rows),
        "season": rng.integers(1, 5, rows), "weather": rng.choice(["clear", "mist", "rain"], rows),
    })  # fmt: skip


def pipeline(kind: str):
    """The recipe's preprocessing (one-hot + scaling) before the default estimators of each task."""
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    estimators = {
        "ridge": lambda: TransformedTargetRegressor(regressor=Ridge(alpha=2.0), func=np.log1p, inverse_func=np.expm1,
                                                    check_inverse=False),
        "hist_gradient_boosting_regressor": lambda: TransformedTargetRegressor(
            regressor=HistGradientBoostingRegressor(max_iter=15, random_state=0), func=np.log1p,
            inverse_func=np.expm1, check_inverse=False),
        "logistic_binary": lambda: LogisticRegression(C=1.0, class_weight="balanced", max_iter=500),
        "logistic_multiclass": lambda: LogisticRegression(C=10.0, max_iter=500),
        "hist_gradient_boosting_binary": lambda: HistGradientBoostingClassifier(max_iter=15, class_weight="balanced",
                                                                                random_state=0),
        "hist_gradient_boosting_multiclass": lambda: HistGradientBoostingClassifier(max_iter=15, random_state=0),
    }  # fmt: skip
    preprocess = ColumnTransformer([("categorical", OneHotEncoder(handle_unknown="ignore"), ["season", "weather"]),
                                    ("numerical", StandardScaler(), ["temp", "hum"])])
    return Pipeline([("preprocess", preprocess), ("model", estimators[kind]())])


def target(kind: str, x: pd.DataFrame):
    if "binary" in kind:  # bools, about 10 % positive
        return (x["temp"] > 1.3).to_numpy()
    if "multiclass" in kind:  # strings
        return np.where(x["temp"] > 0.5, "high", np.where(x["temp"] < -0.5, "low", "mid"))
    return np.exp(x["temp"]).to_numpy() * 100 + x["hum"].to_numpy() * 10  # a non-negative count-like target


KINDS = ["ridge", "hist_gradient_boosting_regressor", "logistic_binary", "logistic_multiclass",
         "hist_gradient_boosting_binary", "hist_gradient_boosting_multiclass"]


def fitted(kind: str):
    x = frame()
    return pipeline(kind).fit(x, target(kind, x)), frame(rows=100, seed=11)


@pytest.mark.parametrize("kind", KINDS)
def test_every_default_pipeline_round_trips_with_equal_predictions(models, kind: str) -> None:
    model, rows = fitted(kind)
    saved = registry.save_model(models, model, {"monitor": MONITOR}, version="v1")
    assert saved.artifact_key == "models/v1/model.skops" and models.exists("models/v1/model.skops")
    loaded, manifest = registry.load_model(models)
    assert manifest["format"] == "skops" and manifest["sha256"] == saved.sha256
    assert manifest["sha256"] == hashlib.sha256(models.read_bytes(saved.artifact_key)).hexdigest()
    assert manifest["estimator"] == registry.estimator_path(model)
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))
        assert list(loaded.classes_) == list(model.classes_)


@pytest.mark.parametrize("kind", KINDS)
def test_default_pipelines_name_only_platform_types(kind: str) -> None:
    """The trusted list covers each default pipeline, fitted: the types its file names (our reading) and those
    skops itself would not trust by default (get_untrusted_types, e.g. HistGradientBoosting's TreePredictor)."""
    import skops.io

    data = registry.dumps_model(fitted(kind)[0])
    named = registry.artifact_types(data, "v1")
    assert named <= PLATFORM_TRUSTED_TYPES, sorted(named - PLATFORM_TRUSTED_TYPES)
    assert set(skops.io.get_untrusted_types(data=data)) <= PLATFORM_TRUSTED_TYPES
    if "ridge" in kind:
        assert {"numpy.log1p", "numpy.expm1", "sklearn.compose._target.TransformedTargetRegressor"} <= named


RECIPES = [  # (task, training settings): every default recipe, and HistGradientBoosting for each task
    ("regression", {}), ("regression", {"metric": "rmse"}),
    ("regression", {"estimator": "sklearn.ensemble.HistGradientBoostingRegressor", "metric": "rmse"}),
    ("binary", {}), ("binary", {"estimator": "sklearn.ensemble.HistGradientBoostingClassifier"}),
    ("multiclass", {}), ("multiclass", {"estimator": "sklearn.ensemble.HistGradientBoostingClassifier"}),
]  # fmt: skip


@pytest.mark.parametrize(("task", "training"), RECIPES)
def test_the_recipes_models_load_with_the_monitors_trust(models, task: str, training: dict) -> None:
    """The pipelines the training recipe builds (core/ml/recipe.py), fitted, stored and loaded with the trust the
    monitor's settings give (its estimator's import path): equal predictions; nothing outside the list is named."""
    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.ml.recipe import build_model, recipe_of
    from drift_platform.core.settings import TrainingSettings

    kind = {"regression": "ridge", "binary": "logistic_binary", "multiclass": "logistic_multiclass"}[task]
    spec = DatasetSpec.from_dict({
        "name": "storage", "datetime_column": "ts", "target": "y", "task": task,
        "reference_window": {"start": "2020-01-01", "end": "2020-01-28"}, "first_period": "2020-02-03",
        "columns": {"ts": "datetime", "y": {"regression": "float", "binary": "bool"}.get(task, "str"),
                    "temp": "float", "hum": "float", "season": "int", "weather": "str"},
        "numerical_features": ["temp", "hum"], "categorical_features": ["season", "weather"],
    })  # fmt: skip
    settings = TrainingSettings.model_validate(training)
    x = frame()
    model = build_model(spec, recipe_of(spec, settings)).fit(x, target(kind, x))
    registry.save_model(models, model, {"monitor": MONITOR}, version="v1")
    loaded, manifest = registry.load_model(models, "v1", trusted_extra=registry.configured_trust(settings))
    rows = frame(rows=100, seed=11)
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    if task != "regression":
        np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))
    assert set(manifest["types"]) <= PLATFORM_TRUSTED_TYPES
    assert manifest["estimator"].rsplit(".", 1)[-1] == (training.get("estimator") or
                                                        ("Ridge" if task == "regression" else "LogisticRegression")).rsplit(".", 1)[-1]


# --- a crafted pickle is never unpickled --------------------------------------------------------------------------
class WritesMarker:
    """Unpickling this object calls open(marker, "w"): the file appears if, and only if, the pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def crafted_pickle(marker: Path) -> bytes:
    control = marker.with_name("control-" + marker.name)  # the payload is live: loading it writes its file
    pickle.loads(pickle.dumps(WritesMarker(control))).close()
    assert control.is_file()
    return pickle.dumps(WritesMarker(marker))


def place_legacy_version(models, version: str, artifact: bytes, manifest: dict | None = None, *,
                         file: str = "model.pkl", sha256: str | None = None) -> str:
    """A version as releases before skops wrote it (or as someone who can write to the store writes one): the
    artifact, a manifest whose sha256 matches it (so only the format protects), the latest and champion pointers."""
    key = f"models/{version}/{file}"
    models.write_bytes(key, artifact)
    sha = sha256 or hashlib.sha256(artifact).hexdigest()
    manifest = {"monitor": MONITOR, "version": version, "created_at": "2026-11-01T00:00:00+00:00", "sha256": sha,
                "artifact": key, **(manifest or {})}
    models.write_bytes(f"models/{version}/manifest.json", json.dumps(manifest).encode())
    pointer = {"version": version, "sha256": sha, "artifact": key, "manifest": f"models/{version}/manifest.json"}
    models.write_bytes("models/latest.json", json.dumps(pointer).encode())
    models.write_bytes("models/champion.json", json.dumps({**pointer, "action": "promote", "previous": None}).encode())
    return key


@pytest.mark.parametrize("claimed", [None, "pickle", "skops"])
def test_a_crafted_pickle_in_the_store_is_never_unpickled(models, tmp_path: Path, claimed: str | None) -> None:
    """Without a format (old manifests), saying pickle, or claiming skops: refused, the version named."""
    marker = tmp_path / "marker"
    extra = {"format": claimed} if claimed else {}
    place_legacy_version(models, "v1", crafted_pickle(marker), extra, file="model.skops" if claimed == "skops" else "model.pkl")
    expected = UntrustedModelError if claimed == "skops" else PickledModelError
    message = "model v1: the artifact is not a skops file" if claimed == "skops" else \
        f"model v1 is stored as a pickle .*run {MONITOR}_migrate_models_job"
    for load in (lambda: registry.load_model(models, "v1"), lambda: registry.load_model(models),
                 lambda: registry.load_champion(models), lambda: registry.verify_version(models, "v1"),
                 lambda: registry.set_champion(models, "v1", action="rollback", reason="test")):
        with pytest.raises(expected, match=message):
            load()
    assert issubclass(expected, ModelIntegrityError)  # what the assets turn into a failure without retries
    assert not marker.exists()


def test_the_drift_job_refuses_a_crafted_pickle_champion(tmp_path: Path, instance) -> None:
    """Through the real drift job: the predictions step fails naming the version and the migration, the marker
    stays absent, and the week's drift report is still written."""
    marker = tmp_path / "marker"
    platform = Platform(local_resources(tmp_path), instance)
    place_legacy_version(platform.models(), "20261101T000000000000Z-deadbeef", crafted_pickle(marker))
    result = platform.run_week("2011-02-07", raise_on_error=False)
    assert not result.success
    message = step_failure_message(result)
    assert "model 20261101T000000000000Z-deadbeef is stored as a pickle" in message
    assert f"{MONITOR}_migrate_models_job" in message
    assert not marker.exists()
    assert result.asset_materializations_for_node(f"{MONITOR}__drift_report")


# --- a skops file naming an untrusted type is refused ------------------------------------------------------------
class SetsMarker:
    """A type a skops file can name: building it calls __setstate__, which writes the marker."""

    def __setstate__(self, state: dict) -> None:
        Path(state["marker"]).write_text("built")


def untrusted_model(case: str, marker: Path):
    import os

    from sklearn.ensemble import RandomForestRegressor
    from sklearn.preprocessing import FunctionTransformer

    if case == "own_class":
        model = SetsMarker()
        model.__dict__["marker"] = str(marker)
        return model, [f"{__name__}.SetsMarker"]
    if case == "function":
        return FunctionTransformer(func=os.getcwd), [f"{os.getcwd.__module__}.getcwd"]
    x = frame()
    forest = RandomForestRegressor(n_estimators=2, max_depth=2, random_state=0).fit(x[["temp", "hum"]], x["hum"])
    return forest, ["sklearn.ensemble._forest.RandomForestRegressor", "sklearn.tree._classes.DecisionTreeRegressor",
                    "sklearn.tree._tree.Tree"]


@pytest.mark.parametrize("case", ["own_class", "function", "scikit_learn_estimator_not_configured"])
def test_a_skops_file_naming_an_untrusted_type_is_refused(models, tmp_path: Path, case: str) -> None:
    marker = tmp_path / "marker"
    model, untrusted = untrusted_model(case, marker)
    registry.save_model(models, model, {"monitor": MONITOR}, version="v2")
    with pytest.raises(UntrustedModelError, match="model v2 names types outside the trusted list") as refused:
        registry.load_model(models, "v2")
    assert all(name in str(refused.value) for name in untrusted)
    assert not marker.exists()
    if case == "function":
        return
    # Trusted by the monitor's configuration (never by the file), the same file loads: the test can fail.
    loaded, _ = registry.load_model(models, "v2", trusted_extra=untrusted)
    assert marker.exists() if case == "own_class" else type(loaded).__name__ == "RandomForestRegressor"


# --- the migration job -------------------------------------------------------------------------------------------
def migration_observation(result) -> dict:
    [observation] = [e.event_specific_data.asset_observation for e in result.all_events
                     if e.event_type_value == "ASSET_OBSERVATION"]
    assert observation.asset_key == dg.AssetKey([MONITOR, "champion_model"])
    return {key: value.value for key, value in observation.metadata.items()}


def model_files(models) -> dict[str, bytes]:
    return {key: models.read_bytes(key) for key in models.list_keys("models")}


@pytest.fixture(params=["local", "s3"])
def platform(request: pytest.FixtureRequest, tmp_path: Path, instance) -> Platform:
    return Platform(local_resources(tmp_path, store=make_store(request.param, request, tmp_path)), instance)


def test_the_migration_job_migrates_a_pickled_version_once(platform: Platform, tmp_path: Path) -> None:
    models = platform.models()
    current, rows = fitted("ridge")
    registry.save_model(models, current, {"monitor": MONITOR}, version="v2")
    old, _ = fitted("logistic_multiclass")
    old_bytes = pickle.dumps(old)
    old_key = place_legacy_version(models, "v1", old_bytes, {"metrics": {"holdout_rmsle": 0.3}})
    with pytest.raises(PickledModelError):
        registry.load_champion(models)

    result = platform.run_job("migrate_models_job")
    seen = migration_observation(result)
    assert (seen["migrated"], seen["already_skops"], seen["refused"], seen["skipped"]) == (1, 1, 0, 0)
    assert seen["version v1"].startswith("migrated: models/v1/model.pkl") and "champion.json" in seen["version v1"]
    assert seen["version v2"] == "already skops: models/v2/model.skops"
    loaded, manifest = registry.load_champion(models)
    np.testing.assert_array_equal(loaded.predict_proba(rows), old.predict_proba(rows))
    assert manifest["format"] == "skops" and manifest["artifact"] == "models/v1/model.skops"
    assert manifest["migrated_from"]["sha256"] == hashlib.sha256(old_bytes).hexdigest()
    assert manifest["metrics"] == {"holdout_rmsle": 0.3} and manifest["version"] == "v1"
    assert registry.champion_version(models)["sha256"] == manifest["sha256"] == registry.latest_version(models)["sha256"]
    assert models.read_bytes(old_key) == old_bytes  # the pickle is kept, never read again
    [entry] = registry.audit_log(models)
    assert (entry["action"], entry["to"], entry["run_id"]) == ("migrate", "v1", result.run_id)

    files = model_files(models)
    again = migration_observation(platform.run_job("migrate_models_job"))
    assert (again["migrated"], again["already_skops"], again["refused"]) == (0, 2, 0)
    assert model_files(models) == files  # nothing written the second time: no new audit entry either


def test_the_migration_refuses_a_pickle_that_does_not_match_its_manifest(tmp_path: Path, instance) -> None:
    """The sha256 is checked before anything is unpickled: a replaced pickle is refused and never loaded."""
    platform = Platform(local_resources(tmp_path), instance)
    models, marker = platform.models(), tmp_path / "marker"
    place_legacy_version(models, "v3", crafted_pickle(marker), sha256="0" * 64)
    result = platform.run_job("migrate_models_job", raise_on_error=False)
    assert not result.success and not marker.exists()
    seen = migration_observation(result)
    assert (seen["migrated"], seen["refused"]) == (0, 1)
    assert "does not match the manifest's" in seen["version v3"] and "not unpickled" in seen["version v3"]
    assert "refused: v3:" in step_failure_message(result)
    assert registry.read_manifest(models, "v3").get("format") is None and registry.audit_log(models) == []
