"""The estimator as a store artifact (core/ml/estimator_store.py) and `no_estimated_degradation` on real runs.

Artifacts: CBPE as JSON and DLE in skops' format round-trip to equal estimates; a tampered artifact (sha256
mismatch), a damaged manifest, or a DLE file naming a type off the trusted list is refitted with a warning and
never loaded.

Runs: the shipped churn monitor (data/churn.yaml, a logistic regression of log loss) with `estimation: {enabled:
true, bound: 0.26}`, through its drift and retrain jobs. A quiet week (2023-02-20, the reference's regime: CBPE
~0.22) passes; a price-rise week (2023-05-15: monthly charges and billing queries drift, the model's outputs move
to riskier customers: CBPE ~0.29, the realized log loss 0.36) fails, before any label is read. The estimator is
fitted once per champion and reference, read back on a re-run, and fitted again when the champion changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drift_platform.core.ml.estimation import estimate_cbpe, estimate_dle, fit_cbpe, fit_dle
from drift_platform.core.ml.estimator_store import (
    EstimatorIntegrityError,
    load_estimator,
    manifest_key,
    stored_or_fitted,
)
from drift_platform.resources import LocalObjectStore
from drift_platform_tests.conftest import REPO, local_resources
from drift_platform_tests.helpers import Platform, check_evaluations

QUIET_WEEK, PRICE_RISE_WEEK = "2023-02-20", "2023-05-15"
BOUND = 0.26
LOGS = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@pytest.fixture(scope="module")
def fitted():
    """A CBPE on 1,500 binary rows and a DLE on 600 regression rows (a numeric and a string feature)."""
    rng = np.random.default_rng(0)
    p = 1 / (1 + np.exp(-rng.normal(0, 2, 1500)))
    cbpe = fit_cbpe(p, (rng.random(1500) < p).astype(int), [0, 1])
    x = pd.DataFrame({"x": rng.normal(0, 1, 600), "shop": rng.choice(["north", "south"], 600)})
    predictions = 3 + x["x"].to_numpy()
    dle = fit_dle(x, predictions, predictions + rng.normal(0, 1 + (x["shop"] == "south"), 600))
    return cbpe, dle, p, x, predictions


def keep(folder, stem: str, estimator, warnings: list[str]):
    return stored_or_fitted(folder, stem, lambda: (estimator, {"metric": "m", "model_version": "v"}),
                            warnings.append)


@pytest.mark.parametrize("kind", ["cbpe", "dle"])
def test_the_artifact_round_trips_and_a_tampered_one_is_refitted(tmp_path: Path, kind: str, fitted) -> None:
    cbpe, dle, p, x, predictions = fitted
    estimator = cbpe if kind == "cbpe" else dle
    folder, stem, warnings = LocalObjectStore(root=str(tmp_path)).scoped("m"), f"estimators/v1-{kind}", []
    _, manifest, was_fitted = keep(folder, stem, estimator, warnings)
    assert was_fitted and manifest["artifact"] == f"{stem}.{'cbpe.json' if kind == 'cbpe' else 'dle.skops'}"
    stored = folder.read_bytes(manifest["artifact"])
    assert manifest["bytes"] == len(stored) and manifest["format"] == f"{kind}/1" and manifest["fitted_at"]
    again, _, was_fitted = keep(folder, stem, None, warnings)  # read back: fit() would return None
    assert not was_fitted and warnings == []
    if kind == "cbpe":
        assert again == cbpe and estimate_cbpe(again, p[:300]) == estimate_cbpe(cbpe, p[:300])
    else:
        assert estimate_dle(again, x, predictions) == estimate_dle(dle, x, predictions)

    folder.write_bytes(manifest["artifact"], stored[:-40] + bytes(40))  # tampered: same size, other bytes
    with pytest.raises(EstimatorIntegrityError, match="does not match the manifest"):
        load_estimator(folder, stem)
    refit, manifest, was_fitted = keep(folder, stem, estimator, warnings)
    assert was_fitted and refit is estimator and len(warnings) == 1 and "refitted" in warnings[0]
    assert load_estimator(folder, stem) is not None  # the refit replaced the tampered artifact

    folder.write_bytes(manifest_key(stem), b"{not json")
    assert keep(folder, stem, estimator, warnings)[2] and "cannot be read" in warnings[1]


def test_a_dle_file_naming_an_untrusted_type_is_never_built(tmp_path: Path, fitted) -> None:
    """A file whose manifest sha256 matches but whose content names a type off the list (a Ridge in place of the
    booster): refused before anything is built, then refitted."""
    import hashlib

    import skops.io
    from sklearn.linear_model import Ridge

    _, dle, *_ = fitted
    folder, stem, warnings = LocalObjectStore(root=str(tmp_path)).scoped("m"), "estimators/v1-dle", []
    manifest = keep(folder, stem, dle, warnings)[1]
    forged = skops.io.dumps({"format": "dle/1", "model": Ridge()})
    folder.write_bytes(manifest["artifact"], forged)
    folder.write_bytes(manifest_key(stem), json.dumps(
        {**manifest, "sha256": hashlib.sha256(forged).hexdigest(), "bytes": len(forged)}).encode())
    with pytest.raises(EstimatorIntegrityError, match="sklearn.linear_model._ridge.Ridge"):
        load_estimator(folder, stem)
    assert keep(folder, stem, dle, warnings)[2] and "outside the trusted list" in warnings[0]


# --- the check on real runs -------------------------------------------------------------------------------------
def churn(**attributes):
    """The shipped churn monitor (its defs.yaml's attributes) on the shipped spec and source."""
    import yaml

    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.settings import Monitor

    shipped = yaml.safe_load((REPO / "drift_platform" / "defs" / "monitors" / "churn" / "defs.yaml").read_text())
    return Monitor.model_validate({
        **shipped["attributes"], "name": "churn", "spec": DatasetSpec.from_yaml(REPO / "data" / "churn.yaml"),
        "source": str(REPO / "data" / "churn_snapshots.csv"), "retry": {"delay_seconds": 0.5}, **attributes})


def predictions_meta(result, platform: Platform) -> dict:
    [materialization] = result.asset_materializations_for_node(platform.op("predictions"))
    return {name: value.value for name, value in materialization.metadata.items()}


def fit_messages(instance, result) -> int:
    return sum("fitted for model" in (entry.user_message or "") for entry in instance.all_logs(result.run_id))


@pytest.fixture(scope="module")
def churn_runs(tmp_path_factory):
    """The churn monitor's first week (no champion), the retrain job, then the quiet and the price-rise week."""
    import dagster as dg

    root = tmp_path_factory.mktemp("estimated")
    with dg.instance_for_test() as instance:
        platform = Platform(local_resources(root), instance, monitor=churn(estimation={"enabled": True, "bound": BOUND},
                                                                        multivariate={"enabled": False}))
        before = platform.run_week("2023-02-13", run_config=LOGS)
        assert platform.retrain(run_config=LOGS).success
        runs = {week: platform.run_week(week, run_config=LOGS) for week in (QUIET_WEEK, PRICE_RISE_WEEK)}
        yield platform, before, runs


def test_a_covariate_shift_week_fails_the_estimate_and_a_quiet_week_passes(churn_runs) -> None:
    from drift_platform.core.ml.model_registry import champion_version

    platform, before, runs = churn_runs
    [skipped] = check_evaluations(before, "no_estimated_degradation") or [None]
    assert skipped is None or (skipped.passed and "not evaluated" in skipped.description)
    version = champion_version(platform.models())["version"]
    verdicts = {}
    for week, result in runs.items():
        meta = predictions_meta(result, platform)
        [check] = check_evaluations(result, "no_estimated_degradation")
        assert check.severity.value == "WARN" and check.metadata["model_version"].value == version
        assert check.metadata["estimated"].value == meta["estimated_log_loss"]
        assert meta["estimated_log_loss_lower"] < meta["estimated_log_loss"] < meta["estimated_log_loss_upper"]
        assert check.metadata["bound"].value == BOUND and check.metadata["method"].value == "CBPE (isotonic)"
        assert meta["estimator"].startswith(f"estimators/{version}-") and meta["estimator"].endswith(".cbpe.json")
        assert check.metadata["rows"].value == meta["rows"] and check.metadata["labels"].value == "in the batch"
        assert check.description.endswith("(estimated)")
        verdicts[week] = (check.passed, round(meta["estimated_log_loss"], 3), round(meta["log_loss"], 3))
    print(f"(passed, estimated, realized log loss) by week: {verdicts}")
    assert verdicts[QUIET_WEEK][0] and verdicts[QUIET_WEEK][1] < BOUND - 0.02, verdicts
    assert not verdicts[PRICE_RISE_WEEK][0] and verdicts[PRICE_RISE_WEEK][1] > BOUND + 0.01, verdicts
    # the realized log loss, known here because the churn sample's labels come with the features, rose too
    assert verdicts[PRICE_RISE_WEEK][2] > verdicts[QUIET_WEEK][2] + 0.05, verdicts


def test_the_derived_bound_is_no_model_degradations_and_it_shows_the_estimate(churn_runs) -> None:
    """Without estimation.bound the check takes the bound no_model_degradation judges the week by (the
    champion's walk-forward baseline), and no_model_degradation carries the week's estimate beside the realized
    value."""
    from drift_platform.core.ml.model_registry import champion_version, read_manifest
    from drift_platform.core.ml.quality import quality_bound

    platform, _, runs = churn_runs
    [quality] = check_evaluations(runs[QUIET_WEEK], "no_model_degradation")
    meta = predictions_meta(runs[QUIET_WEEK], platform)
    assert quality.metadata["estimated_log_loss"].value == meta["estimated_log_loss"]
    assert quality.metadata["log_loss"].value == meta["log_loss"]
    manifest = read_manifest(platform.models(), champion_version(platform.models())["version"])
    derived = quality_bound(manifest, platform.monitor.quality)
    assert derived.method == "baseline" and derived.value == pytest.approx(quality.metadata["bound_log_loss"].value)


def test_the_estimator_is_kept_and_refitted_when_the_champion_changes(churn_runs) -> None:
    from drift_platform.core.ml.model_registry import champion_version, latest_version, set_champion

    platform, _, runs = churn_runs
    instance, models = platform.instance, platform.models()
    first = champion_version(models)["version"]
    # fitted in the first week's run; the next week's, with the same champion and reference, read it back
    assert [fit_messages(instance, runs[week]) for week in (QUIET_WEEK, PRICE_RISE_WEEK)] == [1, 0]

    assert platform.retrain(run_config=LOGS).success
    newest = latest_version(models)["version"]
    if champion_version(models)["version"] != newest:  # the gate kept the old one: promote the new one by hand
        set_champion(models, newest, action="test", reason="a new champion for the estimator")
    changed = platform.run_week(QUIET_WEEK, run_config=LOGS)
    assert newest != first and fit_messages(instance, changed) == 1
    meta = predictions_meta(changed, platform)
    assert meta["model_version"] == newest and meta["estimator"].startswith(f"estimators/{newest}-")
    kept = sorted(k for k in models.list_keys("estimators") if k.endswith(".manifest.json"))
    assert [k.split("/")[1].rsplit("-", 1)[0] for k in kept] == sorted([first, newest])
    assert len({k.rsplit("-", 1)[1] for k in kept}) == 1  # the same reference: the same digest
    [check] = check_evaluations(changed, "no_estimated_degradation")
    assert check.passed and check.metadata["model_version"].value == newest


def test_a_monitor_that_does_not_estimate_has_no_check_and_no_estimate(tmp_path: Path) -> None:
    import dagster as dg

    platform = Platform(local_resources(tmp_path), dg.DagsterInstance.ephemeral(), monitor=churn())
    checks = {key.name for key in platform.defs.get_repository_def().asset_graph.asset_check_keys}
    assert "no_model_degradation" in checks and "no_estimated_degradation" not in checks


def test_an_external_models_logged_probabilities_are_estimated_against_its_reference_bound(tmp_path: Path) -> None:
    """The shipped external lead-scoring monitor (data/lead_scoring.yaml: the sales team's logged probability)
    with estimation on and no bound of its own: a quiet week's CBPE estimate, fitted on the reference's logged
    outputs (key `estimators/external-...`), judged by the bound no_model_degradation takes from the reference's
    periods, which the same run's no_model_degradation shows."""
    import dagster as dg

    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.settings import Monitor

    monitor = Monitor.model_validate({
        "name": "lead_scoring", "spec": DatasetSpec.from_yaml(REPO / "data" / "lead_scoring.yaml"),
        "source": str(REPO / "data" / "lead_scoring_leads.csv"), "model": {"source": "external"},
        "quality": {"bound": "baseline"}, "multivariate": {"enabled": False}, "estimation": {"enabled": True},
        "retry": {"delay_seconds": 0.5}})
    with dg.instance_for_test() as instance:
        platform = Platform(local_resources(tmp_path), instance, monitor)
        result = platform.run_week("2024-05-06", run_config=LOGS)
    meta = predictions_meta(result, platform)
    assert meta["estimator"].startswith("estimators/external-") and meta["estimation_method"] == "CBPE (isotonic)"
    [check] = check_evaluations(result, "no_estimated_degradation")
    [quality] = check_evaluations(result, "no_model_degradation")
    assert check.passed and check.metadata["bound"].value == quality.metadata["bound_log_loss"].value
    assert check.metadata["bound_method"].value == "baseline" and "reference periods" in check.description
    assert check.metadata["estimated"].value == quality.metadata["estimated_log_loss"].value < 0.411
    assert abs(check.metadata["estimated"].value - quality.metadata["log_loss"].value) < 0.1


def test_a_regressor_is_estimated_by_dle_stored_with_skops(tmp_path: Path) -> None:
    """The bike monitor (RMSLE) on a reference of the first 26 weeks of 2011 (DLE needs 100 rows: the shipped
    28-day reference is too short): the champion's DLE estimate of a week, its booster kept as `.dle.skops` with
    a manifest whose sha256 is the file's, and the check's figures the predictions' own."""
    import hashlib

    import dagster as dg
    import yaml

    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform_tests.conftest import BIKE_SPEC, bike_monitor

    spec = yaml.safe_load(BIKE_SPEC.read_text())
    spec.update(reference_window={"start": "2011-01-01", "end": "2011-07-02"}, first_week="2011-07-04")
    (tmp_path / "bike.yaml").write_text(yaml.safe_dump(spec))
    spec = DatasetSpec.from_yaml(tmp_path / "bike.yaml")
    with dg.instance_for_test() as instance:
        platform = Platform(local_resources(tmp_path), instance, bike_monitor(
            spec=spec, estimation={"enabled": True}, multivariate={"enabled": False}))
        platform.run_week("2011-07-04", run_config=LOGS)
        assert platform.retrain(run_config=LOGS).success
        result = platform.run_week("2011-07-11", run_config=LOGS)
    meta = predictions_meta(result, platform)
    assert meta["estimation_method"] == "DLE" and meta["estimator"].endswith(".dle.skops")
    assert 0 < meta["estimated_rmsle_lower"] < meta["estimated_rmsle"] < meta["estimated_rmsle_upper"]
    manifest = json.loads(platform.models().read_bytes(meta["estimator"].replace(".dle.skops", ".manifest.json")))
    stored = platform.models().read_bytes(meta["estimator"])
    assert manifest["sha256"] == hashlib.sha256(stored).hexdigest() and manifest["rows"] >= 180
    assert manifest["metric"] == "rmsle" and manifest["calibration"] is None
    [check] = check_evaluations(result, "no_estimated_degradation")
    assert check.metadata["method"].value == "DLE" and check.metadata["estimated"].value == meta["estimated_rmsle"]


def test_the_bound_and_the_verdict_turn_with_the_metric() -> None:
    """quality_bound's ratio bound of a greater-is-better metric is 1 - max_ratio x (1 - holdout); an estimate
    below it fails, above passes; a baseline too short to judge gives no bound and the check passes, saying why;
    a late-labels monitor's description ends "(estimated, labels pending)"."""
    from drift_platform.core.ml.quality import estimate_verdict, quality_bound
    from drift_platform.core.settings import QualitySettings

    manifest = {"version": "v7", "metric": "roc_auc", "classes": [0, 1], "positive_class": 1,
                "metrics": {"holdout_roc_auc": 0.8, "quality_baseline": {
                    "periods": ["2024-01-01", "2024-01-08"], "errors": [0.8, 0.82], "rows": [300, 300]}}}
    ratio = quality_bound(manifest, QualitySettings(bound="ratio", max_ratio=1.5))
    assert (ratio.metric, ratio.method) == ("roc_auc", "ratio") and ratio.value == pytest.approx(0.7)
    passed, text = estimate_verdict("roc_auc", (0.65, 0.6, 0.7), ratio.value, ratio.note, "2024-02-05", "v7", True)
    assert passed is False and "below the bound 0.7000" in text and text.endswith("(estimated, labels pending)")
    assert estimate_verdict("roc_auc", (0.75, 0.7, 0.8), ratio.value, ratio.note, "2024-02-05", "v7", False)[0]
    short = quality_bound(manifest, QualitySettings(bound="baseline", min_baseline_periods=5))
    assert short.value is None and "not judged" in short.note
    passed, text = estimate_verdict("roc_auc", (0.1, 0.0, 0.2), short.value, short.note, "2024-02-05", "v7", False)
    assert passed and "not judged" in text
