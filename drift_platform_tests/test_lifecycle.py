"""Model lifecycle on the embedded default: the registry, the champion/challenger gate, rollback, predictions and
the model-quality check, through the real jobs and the real sensor (SQLite, local folders, a Slack recorder)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from drift_platform.core.ml.model_registry import (
    audit_log,
    champion_version,
    load_champion,
    read_manifest,
    save_model,
    set_champion,
)
from drift_platform.core.ml.predictions import predictions_layout
from drift_platform.core.ml.training import (
    GateComparison,
    GateSettings,
    QualityBaseline,
    build_pipeline,
    compare_models,
    decide,
    history_sha256,
    period_quality,
    rmsle,
    train,
    walk_forward_baseline,
)
from drift_platform.core.names import (
    TAG_EVALUATION_ID,
    TAG_MONITOR,
    TAG_PERIOD,
    TAG_QUALITY_EVALUATION_ID,
    TAG_TRIGGER,
)
from drift_platform.lib.assets.predictions import read_period
from drift_platform.lib.sensors.retrain import DriftSensorCursor, evaluate
from drift_platform.resources import ScopedStore
from drift_platform_tests.conftest import BIKE_SOURCE as DEFAULT_SOURCE_PATH
from drift_platform_tests.conftest import bike_monitor, local_resources, slack_alerter
from drift_platform_tests.fixtures.slack import SlackRecorder
from drift_platform_tests.helpers import Platform

FLAT = {"ops": {"bike_sharing__trained_model": {"config": {"alphas": [100000.0]}}}}  # a heavily flattened Ridge
SENSOR_TAGS = {TAG_TRIGGER: "drift", TAG_PERIOD: "2011-04-11", TAG_EVALUATION_ID: "999"}
ROLLBACK_OP = "bike_sharing_rollback_champion"


def metadata(result, asset: str) -> dict:
    """The metadata of the bike-sharing monitor's asset materialized by the run (op `bike_sharing__<asset>`)."""
    return {k: v for k, v in result.asset_materializations_for_node(f"bike_sharing__{asset}")[0].metadata.items()}


def evaluations(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.event_specific_data.check_name: e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def model_files(store: ScopedStore) -> dict[str, bytes]:
    """Every file of every version (the pointers and the audit log left out)."""
    return {k: store.read_bytes(k) for k in store.list_keys("models") if k.count("/") == 2 and "/audit/" not in k}


# --- the logic, on small frames ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("challenger", "champion", "margin", "promote"),
    [
        (0.20, 0.30, 0.01, True),    # 33 % lower
        (0.297, 0.30, 0.01, True),   # exactly 1 % lower
        (0.298, 0.30, 0.01, False),  # better, but by less than the margin
        (0.30, 0.30, 0.0, False),    # a tie never promotes
        (0.35, 0.30, 0.0, False),    # worse
        (0.305, 0.30, -0.02, True),  # a negative margin tolerates a slightly worse, fresher model
    ],
)
def test_gate_decision_and_its_margin(challenger, champion, margin, promote) -> None:
    comparison = GateComparison(["2011-02-07"], 7, 30, 0, challenger, champion)
    decision = decide(comparison, has_champion=True, min_improvement=margin)
    assert decision.promote is promote and decision.outcome == ("promoted" if promote else "kept")
    assert decision.improvement == pytest.approx((champion - challenger) / champion)
    assert f"{challenger:.4f}" in decision.reason and f"{champion:.4f}" in decision.reason


def test_gate_without_a_champion_or_a_fair_comparison() -> None:
    none = GateComparison([], 3, 0, 0, None, None, problem="only 3 labelled row(s)")
    assert decide(none, has_champion=False, min_improvement=0.5).promote is True
    kept = decide(none, has_champion=True, min_improvement=0.0)
    assert kept.promote is False and "no fair comparison: only 3 labelled row(s)" in kept.reason


def test_comparison_scores_both_models_only_on_rows_neither_fit_saw(spec, source_frame) -> None:
    from sklearn.base import clone

    history = source_frame[source_frame["dteday"] < "2011-04-04"]  # ... up to the week of 2011-03-28
    champion = train(source_frame[source_frame["dteday"] < "2011-03-07"], spec)
    challenger = train(history, spec, _settings(alphas=(10.0,)))
    seen_until = champion.train_end
    comparison = compare_models(challenger.model, history, spec, GateSettings(eval_periods=4), champion.model,
                                seen_until, "weekly")

    assert comparison.problem is None
    assert comparison.periods == ["2011-03-07", "2011-03-14", "2011-03-21", "2011-03-28"]
    assert comparison.eval_start > seen_until  # the champion never saw a row it is scored on
    rows = history[history["dteday"] >= "2011-03-07"]
    assert comparison.eval_rows == len(rows) == 28 and comparison.excluded_seen_rows == 0
    assert comparison.fit_rows == (history["dteday"] < "2011-03-07").sum()
    # the challenger's recipe, walk-forward: refitted before each week, scored on it
    predicted = []
    for week in comparison.periods:
        start = pd.Timestamp(week)
        fit = history[history["dteday"] < start]
        refit = clone(challenger.model).fit(fit[spec.features], fit[spec.target].astype(float))
        predicted.append(refit.predict(history[(history["dteday"] >= start) & (history["dteday"] < start + pd.Timedelta(days=7))][spec.features]))
    assert comparison.challenger_rmsle == pytest.approx(rmsle(rows[spec.target], np.concatenate(predicted)))
    assert comparison.champion_rmsle == pytest.approx(rmsle(rows[spec.target], champion.model.predict(rows[spec.features])))


def test_comparison_leaves_out_rows_the_champion_saw_and_needs_enough_rows(spec, source_frame) -> None:
    history = source_frame[source_frame["dteday"] < "2011-03-14"]
    champion = train(history, spec)  # trained on this very history: only its holdout is unseen
    comparison = compare_models(champion.model, history, spec, GateSettings(eval_periods=4), champion.model,
                                champion.train_end)
    assert comparison.eval_rows == champion.holdout_rows == 7 and comparison.excluded_seen_rows == 21
    strict = compare_models(champion.model, history, spec, GateSettings(eval_periods=4, min_eval_rows=8),
                            champion.model, champion.train_end)
    assert strict.problem and "only 7 labelled row(s)" in strict.problem and strict.challenger_rmsle is None
    assert decide(strict, True, 0.0).outcome == "kept"


def test_period_quality_ratio_and_bound() -> None:
    actual = [100.0, 200.0, None, 400.0]
    quality = period_quality(actual, [100.0, 200.0, 300.0, 400.0], holdout=0.1, max_ratio=2.0)
    assert quality.rows == 3 and quality.rmsle == 0.0 and not quality.degraded
    scaled = period_quality([150.0, 300.0, 600.0], [100.0, 200.0, 400.0], holdout=0.1, max_ratio=2.0)
    assert scaled.ratio == pytest.approx(np.log(1.5) / 0.1, rel=0.01) and scaled.degraded
    assert period_quality([None], [1.0], 0.1, 2.0).rmsle is None


BASELINE = QualityBaseline(periods=tuple(f"2011-0{m}-0{d}" for m in (2, 3) for d in (1, 2, 3)),
                           errors=(0.10, 0.14, 0.12, 0.08, 0.11, 0.13), rows=(7, 7, 2, 7, 7, 7))


def test_period_quality_against_the_walk_forward_baseline() -> None:
    """bound="baseline": mean + sigmas x std of the periods with enough rows (the 2-row period is left out)."""
    kept = BASELINE.kept(5)
    assert kept.n == 5 and kept.errors == (0.10, 0.14, 0.08, 0.11, 0.13)
    limit = np.mean(kept.errors) + 3 * np.std(kept.errors, ddof=1)
    settings = {"bound": "baseline", "sigmas": 3.0, "min_period_rows": 5, "min_baseline_periods": 5}
    actual = [100.0, 120.0, 140.0, 160.0, 180.0]
    within = period_quality(actual, [a * 1.15 for a in actual], 0.01, 2.0, baseline=BASELINE, **settings)
    assert within.judged and not within.degraded and within.bound == pytest.approx(limit)
    assert within.rmsle / within.holdout_rmsle > 2.0  # the holdout ratio would have failed it (holdout said 0.01)
    above = period_quality(actual, [a * 1.6 for a in actual], 0.01, 2.0, baseline=BASELINE, **settings)
    assert above.judged and above.degraded and above.rmsle > limit and above.method == "baseline"


def test_period_quality_does_not_judge_on_too_few_rows() -> None:
    actual = [100.0, 120.0, 140.0, 160.0, 180.0]
    wild = [a * 5 for a in actual]
    thin = period_quality(actual, wild, 0.01, 2.0, baseline=BASELINE, bound="baseline", min_period_rows=5,
                          min_baseline_periods=6)
    assert not thin.judged and not thin.degraded and thin.bound is None
    assert "the baseline rests on 5 period(s) of >= 5 rows (35 rows), fewer than min_baseline_periods=6" in thin.note
    few = period_quality(actual[:3], wild[:3], 0.01, 2.0, baseline=BASELINE, bound="baseline", min_period_rows=5)
    assert not few.judged and not few.degraded and "3 labelled row(s), fewer than min_period_rows=5" in few.note
    old_model = period_quality(actual, wild, 0.01, 2.0, baseline=None, bound="baseline")
    assert old_model.judged and old_model.degraded and old_model.method == "ratio" and "no walk-forward" in old_model.note


def test_walk_forward_baseline_refits_before_each_period(spec, source_frame) -> None:
    history = source_frame[source_frame["dteday"] < pd.Timestamp("2011-03-07")]
    baseline = walk_forward_baseline(history, spec, alpha=1.0, min_fit_rows=14, max_periods=4)
    assert baseline.periods == ("2011-02-07", "2011-02-14", "2011-02-21", "2011-02-28") and baseline.rows == (7,) * 4
    week = history[(history["dteday"] >= pd.Timestamp("2011-02-21")) & (history["dteday"] < pd.Timestamp("2011-02-28"))]
    before = history[history["dteday"] < pd.Timestamp("2011-02-21")]
    model = build_pipeline(spec, 1.0).fit(before[spec.features], before["cnt"].astype(float))
    assert baseline.errors[2] == pytest.approx(rmsle(week["cnt"], model.predict(week[spec.features])))
    assert QualityBaseline.from_dict(baseline.to_dict()) == baseline


def test_history_hash_is_canonical(spec, source_frame) -> None:
    week = source_frame.head(14)
    shuffled = week.sample(frac=1.0, random_state=3).astype({"cnt": "Int64"})
    assert history_sha256(week, spec) == history_sha256(shuffled, spec)
    changed = week.assign(cnt=week["cnt"] + 1)
    assert history_sha256(changed, spec) != history_sha256(week, spec)


@pytest.mark.parametrize(
    "retrain_on",
    [None, ["no_dataset_drift"], ["no_model_degradation"], ["no_dataset_drift", "no_model_degradation"], []],
)
def test_retrain_on_names_the_checks_acted_on(retrain_on) -> None:
    monitor = bike_monitor() if retrain_on is None else bike_monitor(retrain_on=retrain_on)
    expected = ["no_dataset_drift", "no_model_degradation"] if retrain_on is None else retrain_on  # default: both
    assert monitor.retrain_on == expected and monitor.problems() == []


@pytest.mark.parametrize("value", [["nope"], ["no_dataset_drift", "maybe"], "no_dataset_drift", [True]])
def test_retrain_on_refuses_nonsense(value) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="retrain_on"):
        bike_monitor(retrain_on=value)


def test_sensor_cursor_is_kept_per_check_name() -> None:
    raw = json.dumps({"checks": {"no_dataset_drift": {"watermark": 12, "handled": [14]}},
                      "pending_alerts": [{"evaluation_id": 14, "text": "x", "since": 1.0}]})
    state = DriftSensorCursor.parse(raw)
    assert state.check("no_dataset_drift").watermark == 12 and state.check("no_dataset_drift").handled == [14]
    assert len(state.pending_alerts) == 1
    assert state.check("no_model_degradation").watermark == 0  # a check seen for the first time starts at 0
    again = DriftSensorCursor.parse(state.serialize())
    assert again == state


def _settings(**kwargs):
    from drift_platform.core.ml.training import TrainingSettings

    return TrainingSettings(**kwargs)


# --- the gate, versions and rollback through the real jobs ---------------------------------------------------------
@dataclass
class Lifecycle:
    platform: Platform
    slack: SlackRecorder
    store: ScopedStore
    versions: list[str] = field(default_factory=list)
    trained: list[dict] = field(default_factory=list)  # trained_model metadata, per retrain
    gates: list[dict] = field(default_factory=list)  # champion_model metadata, per retrain
    files: list[dict[str, bytes]] = field(default_factory=list)  # every version's files after each retrain
    histories: list[str] = field(default_factory=list)  # sha256 of the history each retrain saw
    champions: list[str] = field(default_factory=list)  # champion pointer after each retrain
    messages: list[list[str]] = field(default_factory=list)  # texts of the Slack messages each retrain sent


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory, slack_server: SlackRecorder):
    """Three retrains: a flattened model (first: promoted, nothing to compare with), a good one (promoted), a
    flattened one again, requested as the sensor would (kept, and the alert says so)."""
    root = tmp_path_factory.mktemp("lifecycle")
    slack_server.reset()
    with dg.instance_for_test() as instance:
        platform = Platform(local_resources(root, alerts=slack_alerter(slack_server, max_retries=0)), instance)
        state = Lifecycle(platform, slack_server, platform.models())
        spec = platform.monitor.spec
        for weeks, config, tags in (
            (["2011-01-31", "2011-02-07"], FLAT, None),
            (["2011-02-14", "2011-02-21"], None, None),
            (["2011-04-11"], FLAT, SENSOR_TAGS),
        ):
            for week in weeks:
                platform.run_week(week)
            state.histories.append(history_sha256(platform.history(), spec))
            before = len(slack_server.messages())
            result = platform.retrain(tags=tags, run_config=config)
            state.trained.append(metadata(result, "trained_model"))
            state.gates.append(metadata(result, "champion_model"))
            state.versions.append(state.trained[-1]["model_version"].value)
            state.files.append(model_files(state.store))
            state.champions.append(champion_version(state.store)["version"])
            state.messages.append([m["text"] for m in slack_server.messages()[before:]])
        yield state


def test_first_model_goes_into_service_without_a_comparison(lifecycle: Lifecycle) -> None:
    gate = lifecycle.gates[0]
    assert gate["decision"].value == "promoted" and gate["promoted"].value is True
    assert "no champion yet" in gate["reason"].value and "champion_rmsle" not in gate
    assert gate["champion_version"].value == lifecycle.versions[0] == lifecycle.champions[0]
    assert gate["previous_champion"].value == "-"


def test_a_better_challenger_is_promoted(lifecycle: Lifecycle) -> None:
    gate = lifecycle.gates[1]
    assert isinstance(gate["challenger_rmsle"], dg.FloatMetadataValue)
    assert isinstance(gate["champion_rmsle"], dg.FloatMetadataValue)
    challenger, champion = gate["challenger_rmsle"].value, gate["champion_rmsle"].value
    assert challenger < champion * (1 - gate["min_improvement"].value)
    assert gate["relative_improvement"].value == pytest.approx((champion - challenger) / champion)
    assert gate["decision"].value == "promoted" and gate["promoted"].value is True
    assert gate["previous_champion"].value == lifecycle.versions[0]
    assert gate["champion_version"].value == lifecycle.versions[1] == lifecycle.champions[1]
    weeks = gate["eval_periods"].value.split(", ")
    assert weeks and all(pd.Timestamp(w).weekday() == 0 and w <= "2011-02-21" for w in weeks)
    assert gate["eval_period_count"].value == len(weeks) and gate["eval_rows"].value >= 7
    assert Path(gate["audit_entry"].value).is_file()
    assert gate["champion_holdout_rmsle"].value == lifecycle.trained[1]["holdout_rmsle"].value
    assert lifecycle.messages[:2] == [[], []]  # manual retrains alert nobody


def test_a_worse_challenger_is_not_promoted_and_the_alert_says_so(lifecycle: Lifecycle) -> None:
    gate = lifecycle.gates[2]
    challenger, champion = gate["challenger_rmsle"].value, gate["champion_rmsle"].value
    assert challenger > champion
    assert gate["decision"].value == "kept" and gate["promoted"].value is False
    assert gate["champion_version"].value == lifecycle.versions[1] == lifecycle.champions[2]
    assert gate["challenger_version"].value == lifecycle.versions[2]
    assert "audit_entry" not in gate and gate["alert_delivered"].value is True
    [text] = lifecycle.messages[2]  # one outcome message for the retrain the sensor would have requested
    assert "*[bike_sharing] Retrain for period 2011-04-11* (trigger: drift, evaluation 999)" in text
    assert f"champion `{lifecycle.versions[1]}` *kept*" in text
    assert f"RMSLE challenger {challenger:.4f} vs champion {champion:.4f}" in text


def test_manifest_records_what_the_model_saw(lifecycle: Lifecycle) -> None:
    trained = lifecycle.trained[1]
    manifest = read_manifest(lifecycle.store, lifecycle.versions[1])
    assert manifest["version"] == lifecycle.versions[1] and manifest["created_at"]
    assert manifest["data_sha256"] == lifecycle.histories[1] == trained["data_sha256"].value
    assert manifest["history_rows"] == 28 + 4 * 7
    assert manifest["train_rows"] + manifest["holdout_rows"] == manifest["history_rows"]
    assert manifest["window_start"].startswith("2011-01-01") and manifest["window_end"].startswith("2011-02-27")
    assert manifest["train_end"] < manifest["window_end"]
    assert manifest["code_version"].startswith("0.1.0") and manifest["code_version"] == trained["code_version"].value
    assert manifest["hyperparameters"]["alpha"] == trained["best_alpha"].value
    assert manifest["hyperparameters"]["alphas_searched"] == [0.1, 1.0, 2.0, 3.0, 4.0, 10.0, 100.0]
    assert manifest["metrics"]["holdout_rmsle"] == trained["holdout_rmsle"].value
    artifact = lifecycle.store.read_bytes(manifest["artifact"])
    assert hashlib.sha256(artifact).hexdigest() == manifest["sha256"] == trained["sha256"].value


def test_versions_are_never_overwritten(lifecycle: Lifecycle) -> None:
    assert len(set(lifecycle.versions)) == 3
    final = model_files(lifecycle.store)
    for snapshot in lifecycle.files:  # what a version had when it was written, it has at the end: byte for byte
        assert {k: final[k] for k in snapshot} == snapshot
    assert len(final) == 3 * 2
    with pytest.raises(FileExistsError, match="never overwritten"):
        save_model(lifecycle.store, object(), {}, version=lifecycle.versions[0])
    assert model_files(lifecycle.store) == final

    listing = lifecycle.platform.run_job("model_versions_job")
    [observation] = [e.event_specific_data.asset_observation for e in listing.all_events
                     if e.event_type_value == "ASSET_OBSERVATION"]
    assert observation.asset_key == dg.AssetKey(["bike_sharing", "champion_model"])
    assert observation.metadata["version_count"].value == 3
    table = observation.metadata["versions"].value
    assert all(v in table for v in lifecycle.versions)
    assert f"| {lifecycle.versions[1]} | champion |" in table and f"| {lifecycle.versions[2]} | latest |" in table


def test_rollback_restores_the_earlier_artifact_byte_for_byte(lifecycle: Lifecycle) -> None:
    first, second = lifecycle.versions[0], lifecycle.versions[1]
    store, platform = lifecycle.store, lifecycle.platform
    assert champion_version(store)["version"] == second
    before = len(lifecycle.slack.messages())
    config = {"ops": {ROLLBACK_OP: {"config": {"version": first, "reason": "test: back to the first"}}}}
    result = platform.run_job("rollback_job", run_config=config)

    pointer = champion_version(store)
    assert pointer["version"] == first and pointer["previous"] == second and pointer["action"] == "rollback"
    model, manifest = load_champion(store)
    restored = store.read_bytes(manifest["artifact"])
    assert restored == lifecycle.files[0][f"models/{first}/model.skops"]  # byte for byte
    assert hashlib.sha256(restored).hexdigest() == lifecycle.trained[0]["sha256"].value == pointer["sha256"]

    [materialization] = [e.event_specific_data.materialization for e in result.all_events
                         if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert materialization.asset_key == dg.AssetKey(["bike_sharing", "champion_model"])
    meta = materialization.metadata
    assert meta["decision"].value == "rolled back" and meta["champion_version"].value == first
    assert meta["previous_champion"].value == second and meta["reason"].value == "test: back to the first"
    entry = audit_log(store)[-1]
    assert (entry["action"], entry["from"], entry["to"], entry["reason"]) == (
        "rollback", second, first, "test: back to the first")
    assert entry["run_id"] == result.run_id and Path(meta["audit_entry"].value).is_file()
    [message] = lifecycle.slack.messages()[before:]
    assert f"*[bike_sharing] Champion rolled back* from `{second}` to `{first}`" in message["text"]

    # the week's predictions now come from the version rolled back to
    week = platform.run_week("2011-02-21")
    assert metadata(week, "predictions")["model_version"].value == first

    # and back again, by the pointer's memory; rolling back to the champion itself changes nothing
    platform.run_job("rollback_job", run_config={"ops": {ROLLBACK_OP: {"config": {"version": "previous"}}}})
    assert champion_version(store)["version"] == second
    entries = len(audit_log(store))
    platform.run_job("rollback_job", run_config={"ops": {ROLLBACK_OP: {"config": {"version": second}}}})
    assert champion_version(store)["version"] == second and len(audit_log(store)) == entries


def test_rollback_refuses_unknown_and_tampered_versions(tmp_path, instance) -> None:
    from sklearn.linear_model import Ridge

    platform = Platform(local_resources(tmp_path), instance)
    store = platform.models()
    x, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)
    for version, alpha in (("v1", 1.0), ("v2", 2.0)):
        save_model(store, Ridge(alpha=alpha).fit(x, y), {"alpha": alpha}, version=version)
    set_champion(store, "v1", action="promote", reason="test")
    pointer = store.read_bytes("models/champion.json")

    def rollback(version: str):
        config = {"ops": {ROLLBACK_OP: {"config": {"version": version}}}}
        result = platform.run_job("rollback_job", run_config=config, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        return failure.event_specific_data.error.message

    assert "no previous champion" in rollback("previous")
    assert "'v9' has no manifest" in rollback("v9")
    artifact = store.read_bytes("models/v2/model.skops")
    store.write_bytes("models/v2/model.skops", artifact[:-1] + bytes([artifact[-1] ^ 0xFF]))
    assert "does not match the manifest's" in rollback("v2")
    assert store.read_bytes("models/champion.json") == pointer  # the champion never moved
    assert [e["action"] for e in audit_log(store)] == ["promote"]


# --- predictions and the model-quality check --------------------------------------------------------------------
def scaled_source(tmp_path: Path, week: str, factor: float) -> Path:
    """The sample source with the target of one week multiplied (the features untouched): concept drift."""
    frame = pd.read_csv(DEFAULT_SOURCE_PATH)
    start = pd.Timestamp(week)
    when = pd.to_datetime(frame["dteday"])
    rows = (when >= start) & (when < start + pd.Timedelta(days=7))
    frame.loc[rows, "cnt"] = (frame.loc[rows, "cnt"] * factor).round().astype(int)
    path = tmp_path / f"scaled_{week}.csv"
    frame.to_csv(path, index=False)
    return path


def test_target_relation_change_fails_the_quality_check_not_the_drift_check(
    tmp_path, instance, slack: SlackRecorder
) -> None:
    alerts = slack_alerter(slack, max_retries=0)
    # (the multivariate check, which sees March differ from January, is left out: this is about the other two)
    monitor = bike_monitor(source=scaled_source(tmp_path, "2011-03-14", 2.5), multivariate={"enabled": False})
    platform = Platform(local_resources(tmp_path, alerts=alerts), instance, monitor=monitor)
    warehouse, spec = platform.resources["warehouse"], platform.monitor.spec

    # no champion yet: the week's predictions are skipped, cleanly, and so is the quality check
    first = platform.run_week("2011-01-31")
    assert first.success and not first.asset_materializations_for_node(platform.op("predictions"))
    [observation] = [e.event_specific_data.asset_observation for e in first.all_events
                     if e.event_type_value == "ASSET_OBSERVATION"]
    assert "no champion model yet" in observation.metadata["skipped"].value
    assert set(evaluations(first)) == {"no_dataset_drift", "no_data_quality_regression", "no_prediction_drift"}
    assert not warehouse.table_exists(monitor.table("predictions"))
    assert platform.tick().run_requests == []

    for earlier in ("2011-02-07", "2011-02-14", "2011-02-21", "2011-02-28", "2011-03-07"):
        platform.run_week(earlier)
    trained = metadata(platform.retrain(), "trained_model")  # the first model goes into service
    version, holdout = trained["model_version"].value, trained["holdout_rmsle"].value
    assert trained["baseline_periods"].value >= 5  # enough walk-forward periods to judge by
    platform.tick()  # settles the drift checks of the weeks before the model (none is acted on twice)
    slack.reset()

    # the week's target is 2.5x what the same features used to give: its data has not drifted, the model's error has
    week = platform.run_week("2011-03-14")
    checks = evaluations(week)
    assert checks["no_dataset_drift"].passed is True
    quality = checks["no_model_degradation"]
    assert quality.passed is False and quality.severity == dg.AssetCheckSeverity.ERROR
    assert quality.metadata["model_version"].value == version and quality.metadata["holdout_rmsle"].value == holdout
    assert quality.metadata["bound_method"].value == "baseline" and quality.metadata["judged"].value is True
    assert quality.metadata["rmsle"].value > quality.metadata["bound_rmsle"].value == pytest.approx(
        quality.metadata["baseline_mean_rmsle"].value + 3 * quality.metadata["baseline_std_rmsle"].value)
    predictions = metadata(week, "predictions")
    assert predictions["rmsle"].value == pytest.approx(quality.metadata["rmsle"].value)  # the same numbers
    assert predictions["rows"].value == predictions["labelled_rows"].value == 7
    stored = read_period(warehouse, monitor, pd.Timestamp("2011-03-14"), pd.Timestamp("2011-03-21"))
    assert len(stored) == 7 and set(stored["model_version"]) == {version}
    batch = platform.history().set_index("dteday").loc["2011-03-14":"2011-03-20", "cnt"]
    assert list(stored["cnt"]) == list(batch)  # the scaled labels, as the history has them

    # a monitor whose retrain_on leaves the quality check out settles a failure without a retrain or an alert
    drift_only = bike_monitor(source=monitor.source, retrain_on=["no_dataset_drift"], multivariate={"enabled": False})
    with dg.build_sensor_context(instance=instance, cursor=platform.cursor, resources=platform.resources) as context:
        off = evaluate(context, drift_only, alerts)
    assert off.run_requests == []
    reason = off.skip_reason.skip_message
    # March's warmer days lie outside January's reference range: no_data_quality_regression failed too, and the
    # champion predicts more rentals for them than for January's days: no_prediction_drift (both WARN, not in
    # retrain_on by default) failed too; both are settled the same way
    assert "3 failure(s) of checks not in retrain_on ignored" in reason
    assert re.search(r"no new failed no_data_quality_regression evaluation since id \d+ \(not acted on: not in "
                     r"retrain_on\)", reason), reason
    assert re.search(r"no new failed no_model_degradation evaluation since id \d+ \(not acted on: not in retrain_on\)",
                     reason), reason
    assert re.search(r"no new failed no_dataset_drift evaluation since id \d+(;|$)", reason), reason
    assert slack.messages() == []

    # both checks (the default): one retrain with the quality run key and one alert, once
    [request] = platform.tick().run_requests
    assert request.run_key == f"no_model_degradation:{request.tags[TAG_EVALUATION_ID]}"
    assert request.tags[TAG_TRIGGER] == "quality" and request.tags[TAG_PERIOD] == "2011-03-14"
    assert request.tags[TAG_MONITOR] == "bike_sharing"
    assert request.tags[TAG_QUALITY_EVALUATION_ID] == request.tags[TAG_EVALUATION_ID]
    [alert] = slack.messages()
    assert "*[bike_sharing] Model degradation* in week 2011-03-14" in alert["text"] and f"`{version}`" in alert["text"]
    assert "above the bound" in alert["text"] and "walk-forward periods" in alert["text"]
    assert "Data drift" not in alert["text"] and "no_model_degradation:" in alert["text"]
    assert platform.tick().run_requests == [] and len(slack.messages()) == 1

    # the same week with its real labels: both checks pass, and its predictions are replaced, not added
    control = Platform(local_resources(tmp_path, alerts=alerts), instance,
                       monitor=bike_monitor(multivariate={"enabled": False}, data_quality={"enabled": False},
                                            prediction_drift={"enabled": False})).run_week("2011-03-14")
    assert {name: e.passed for name, e in evaluations(control).items()} == {
        "no_dataset_drift": True, "no_model_degradation": True}
    assert metadata(control, "predictions")["replaced_rows"].value == 7
    stored = warehouse.read(monitor.table("predictions"), predictions_layout(spec))
    assert len(stored) == 7 and stored["dteday"].is_unique
    assert platform.tick().run_requests == [] and len(slack.messages()) == 1

    # the retrain the sensor asked for reports its outcome, once
    platform.retrain(tags=request.tags)
    assert len(slack.messages()) == 2
    assert "*[bike_sharing] Retrain for period 2011-03-14* (trigger: quality" in slack.messages()[-1]["text"]


def test_a_failed_check_not_in_retrain_on_neither_retrains_nor_alerts(tmp_path, instance, slack: SlackRecorder) -> None:
    monitor = bike_monitor(retrain_on=["no_model_degradation"], multivariate={"enabled": False})
    platform = Platform(local_resources(tmp_path, alerts=slack_alerter(slack, max_retries=0)), instance, monitor=monitor)
    assert "no_dataset_drift" not in platform.sensor().description
    week = platform.run_week("2011-07-04")
    assert evaluations(week)["no_dataset_drift"].passed is False

    result = platform.tick()
    assert result.run_requests == [] and slack.messages() == []
    reason = result.skip_reason.skip_message
    # March's warmer days lie outside January's reference range: no_data_quality_regression (WARN, not in
    # retrain_on by default) failed too, and is settled the same way
    assert "2 failure(s) of checks not in retrain_on ignored" in reason
    assert re.search(r"no new failed no_data_quality_regression evaluation since id \d+ \(not acted on: not in "
                     r"retrain_on\)", reason), reason
    assert re.search(r"no new failed no_dataset_drift evaluation since id \d+ \(not acted on: not in retrain_on\)",
                     reason), reason
    # settled: the next tick neither acts on it nor counts it again
    again = platform.tick()
    assert again.run_requests == [] and "ignored" not in again.skip_reason.skip_message
    assert slack.messages() == []


def test_both_checks_failing_in_one_run_make_one_retrain_and_one_alert(
    tmp_path, instance, slack: SlackRecorder
) -> None:
    platform = Platform(local_resources(tmp_path, alerts=slack_alerter(slack, max_retries=0)), instance)
    platform.run_week("2011-01-31")
    platform.retrain()
    platform.tick()
    # the bound and the severity are run config of the check
    config = {"ops": {platform.op("predictions_no_model_degradation"): {
        "config": {"bound": "ratio", "max_ratio": 1.2, "severity": "WARN"}}}}
    week = platform.run_week("2011-07-04", run_config=config)
    checks = evaluations(week)
    assert checks["no_dataset_drift"].passed is False
    assert checks["no_model_degradation"].passed is False
    assert checks["no_model_degradation"].severity == dg.AssetCheckSeverity.WARN
    assert checks["no_model_degradation"].metadata["max_ratio"].value == 1.2

    [request] = platform.tick().run_requests
    assert request.run_key == f"no_dataset_drift:{request.tags[TAG_EVALUATION_ID]}"  # the drift check's scheme
    assert request.tags[TAG_TRIGGER] == "drift+quality" and request.tags[TAG_QUALITY_EVALUATION_ID]
    [alert] = slack.messages()
    assert "*[bike_sharing] Data drift* in week 2011-07-04" in alert["text"]
    assert "*[bike_sharing] Model degradation* in week 2011-07-04" in alert["text"]
    assert alert["text"].count("Check run:") == 1
    assert platform.tick().run_requests == [] and len(slack.messages()) == 1


def test_the_sensor_cursor_read_back_neither_repeats_nor_loses_a_retrain(tmp_path, instance) -> None:
    platform = Platform(local_resources(tmp_path), instance)
    platform.run_week("2011-07-04")
    assert len(platform.tick().run_requests) == 1
    platform.cursor = DriftSensorCursor.parse(platform.cursor).serialize()  # stored and read back, as the daemon does
    assert platform.tick().run_requests == []
    platform.run_week("2011-10-10")
    [request] = platform.tick().run_requests
    assert request.tags[TAG_PERIOD] == "2011-10-10"
    assert set(json.loads(platform.cursor)["checks"]) == {"no_dataset_drift", "no_model_degradation",
                                                          "no_multivariate_drift", "no_data_quality_regression",
                                                          "no_prediction_drift"}
