"""A monitor's retrain sensor after real materializations put real check evaluations into the instance; two
monitors' sensors side by side."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from drift_platform.core.names import TAG_EVALUATION_ID, TAG_MONITOR, TAG_PERIOD
from drift_platform.lib.sensors.retrain import DriftSensorCursor
from drift_platform_tests.conftest import bike_monitor, grid_monitor, local_resources, slack_alerter
from drift_platform_tests.fixtures.slack import SlackRecorder
from drift_platform_tests.helpers import Platform

DRIFTING = ("2011-07-04", "2011-10-10")
QUIET = "2011-01-31"


@pytest.fixture
def platform(tmp_path, instance, slack: SlackRecorder) -> Platform:
    return Platform(local_resources(tmp_path, alerts=slack_alerter(slack, max_retries=0)), instance)


def test_one_retrain_and_one_alert_per_failed_evaluation(platform: Platform, slack: SlackRecorder) -> None:
    platform.run_week(QUIET)
    first = platform.tick()
    assert first.run_requests == [] and "no new failed no_dataset_drift evaluation" in first.skip_reason.skip_message
    assert slack.messages() == []

    platform.run_week(DRIFTING[0])
    second = platform.tick()
    [request] = second.run_requests
    assert request.job_name in (None, "bike_sharing_retrain_job")
    assert request.tags["drift_platform/monitor"] == "bike_sharing"
    assert request.tags[TAG_PERIOD] == DRIFTING[0]
    assert request.run_key == f"no_dataset_drift:{request.tags[TAG_EVALUATION_ID]}"
    [message] = slack.messages()
    assert message["channel"] == "#drift-tests"
    assert f"*[bike_sharing] Data drift* in week {DRIFTING[0]}" in message["text"]
    assert "drift share 0.80" in message["text"] and "`bike_sharing_retrain_job`" in message["text"]
    assert "temp" in message["text"] and "bike_sharing/drift_reports/2011-07-04/" in message["text"]
    assert "http://localhost:3000/runs/" in message["text"]

    third = platform.tick()  # nothing new: no second retrain, no second alert
    assert third.run_requests == [] and len(slack.messages()) == 1

    # the requested run really trains a model, and its gate reports the outcome in one more message, once
    run = platform.retrain(tags=request.tags)
    assert run.success and run.dagster_run.tags[TAG_PERIOD] == DRIFTING[0]
    assert len(slack.messages()) == 2
    outcome = slack.messages()[-1]["text"]
    assert f"*[bike_sharing] Retrain for period {DRIFTING[0]}* (trigger: drift" in outcome
    assert "*promoted* to champion" in outcome
    assert platform.tick().run_requests == [] and len(slack.messages()) == 2


def test_several_failed_weeks_between_ticks_each_get_a_retrain(platform: Platform, slack: SlackRecorder) -> None:
    platform.tick()
    for week in (DRIFTING[0], QUIET, DRIFTING[1]):
        platform.run_week(week)
    result = platform.tick()
    assert sorted(r.tags[TAG_PERIOD] for r in result.run_requests) == sorted(DRIFTING)
    assert len({r.run_key for r in result.run_requests}) == 2
    texts = [m["text"] for m in slack.messages()]
    assert len(texts) == 2 and all(any(f"week {w}" in t for t in texts) for w in DRIFTING)
    assert platform.tick().run_requests == []


def test_rerunning_a_drifting_week_is_a_new_evaluation(platform: Platform, slack: SlackRecorder) -> None:
    platform.run_week(DRIFTING[0])
    [first] = platform.tick().run_requests
    platform.run_week(DRIFTING[0])
    [second] = platform.tick().run_requests
    assert first.run_key != second.run_key
    assert len(slack.messages()) == 2


def test_cursor_survives_a_restart(platform: Platform, tmp_path, instance, slack: SlackRecorder) -> None:
    platform.run_week(DRIFTING[0])
    assert len(platform.tick().run_requests) == 1
    # a fresh sensor process with only the stored cursor (as after a daemon restart)
    restarted = Platform(platform.resources, instance, platform.monitor)
    restarted.cursor = platform.cursor
    assert restarted.tick().run_requests == []
    assert len(slack.messages()) == 1


def test_slack_outage_never_blocks_the_retrain_and_the_alert_is_delivered_later(
    platform: Platform, slack: SlackRecorder
) -> None:
    platform.run_week(DRIFTING[0])
    slack.fail_next(1, status=500)
    result = platform.tick()
    assert len(result.run_requests) == 1  # the retrain is requested anyway
    assert slack.messages() == []
    cursor = DriftSensorCursor.parse(result.cursor)
    assert len(cursor.pending_alerts) == 1

    again = platform.tick()  # Slack is back
    assert again.run_requests == []
    [message] = slack.messages()
    assert f"week {DRIFTING[0]}" in message["text"]
    assert DriftSensorCursor.parse(again.cursor).pending_alerts == []
    assert platform.tick().run_requests == [] and len(slack.messages()) == 1


def test_without_a_slack_token_alerts_go_to_the_log(tmp_path, instance, slack: SlackRecorder) -> None:
    platform = Platform(local_resources(tmp_path), instance)  # default Alerter: log only
    platform.run_week(DRIFTING[0])
    result = platform.tick()
    assert len(result.run_requests) == 1
    assert DriftSensorCursor.parse(result.cursor).pending_alerts == []
    assert slack.requests == []


def test_cursor_is_compact_json(platform: Platform) -> None:
    platform.run_week(DRIFTING[0])
    platform.tick()
    state = json.loads(platform.cursor)
    drift = state["checks"]["no_dataset_drift"]
    assert drift["watermark"] >= 1 and drift["handled"] == [] and state["pending_alerts"] == []


@pytest.mark.parametrize(("monitor", "interval"), [("bike_sharing", 30), ("grid_load", 30)])
def test_each_monitor_has_its_sensor_wired_to_its_retrain_job(monitor: str, interval: int) -> None:
    from drift_platform.definitions import defs

    sensor = defs.resolve_sensor_def(f"{monitor}_retrain_on_drift_sensor")
    assert sensor.job_name == f"{monitor}_retrain_job"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == interval


def test_two_monitors_failing_at_once_get_one_retrain_and_one_alert_each(
    tmp_path, instance, slack: SlackRecorder
) -> None:
    """Both monitors share the instance, the warehouse, the store and Slack: each sensor acts on its own
    monitor's failed evaluation only, and its alert names the monitor and goes to the monitor's channel."""
    resources = local_resources(tmp_path, alerts=slack_alerter(slack, max_retries=0))
    bike = Platform(resources, instance)
    grid = Platform(resources, instance, grid_monitor(slack_channel="#grid-alerts"))
    bike.run_week(DRIFTING[0])
    grid.run_period("2011-02-08")  # the storm: humidity stuck at 0, gale, rain
    [bike_request] = bike.tick().run_requests
    [grid_request] = grid.tick().run_requests
    assert bike_request.tags["drift_platform/monitor"] == "bike_sharing" and bike_request.tags[TAG_PERIOD] == DRIFTING[0]
    assert grid_request.tags["drift_platform/monitor"] == "grid_load" and grid_request.tags[TAG_PERIOD] == "2011-02-08"
    messages = {m["channel"]: m["text"] for m in slack.messages()}
    assert set(messages) == {"#drift-tests", "#grid-alerts"} and len(slack.messages()) == 2
    assert f"*[bike_sharing] Data drift* in week {DRIFTING[0]}" in messages["#drift-tests"]
    assert "*[grid_load] Data drift* in day 2011-02-08" in messages["#grid-alerts"]
    assert "`grid_load_retrain_job`" in messages["#grid-alerts"]
    # nothing more on the next ticks, and each retrain trains its own monitor's model from its own history
    assert bike.tick().run_requests == [] and grid.tick().run_requests == [] and len(slack.messages()) == 2
    assert grid.retrain(tags=grid_request.tags).success
    assert grid.models().exists("models/champion.json") and not bike.models().exists("models/champion.json")
    assert len(grid.history()) == 28 * 24 + 24 and len(bike.history()) == 28 + 7


def test_a_lost_cursor_never_resends_an_alert(platform: Platform, slack: SlackRecorder) -> None:
    """The daemon dies after the alert went out but before the tick's cursor was saved: the next tick sees the
    same failure again; the run key keeps the retrain single and the alert ledger keeps the alert single."""
    platform.run_week(DRIFTING[0])
    before = platform.cursor
    [first] = platform.tick().run_requests
    assert len(slack.messages()) == 1
    platform.cursor = before  # the cursor of that tick was never saved
    [again] = platform.tick().run_requests
    assert again.run_key == first.run_key  # Dagster launches a run key once
    assert len(slack.messages()) == 1


def test_a_lost_cursor_never_retrains_an_evaluation_again(platform: Platform, slack: SlackRecorder) -> None:
    """The retrain of a failed evaluation ran; then the cursor is lost (the sensor re-created, its cursor
    reset, `make dev` after `make demo`): the instance's runs, tagged with the evaluation, keep the evaluation
    from a second retrain and its alert from a second message; a new failed evaluation still gets exactly
    one."""
    platform.run_week(DRIFTING[0])
    [request] = platform.tick().run_requests
    retrain = platform.retrain(tags=request.tags)
    assert retrain.success and len(slack.messages()) == 2  # the drift alert and the retrain's outcome
    evaluation = request.tags[TAG_EVALUATION_ID]

    platform.cursor = None
    lost = platform.tick()
    assert lost.run_requests == [] and len(slack.messages()) == 2
    assert (
        f"retrain for evaluation {evaluation} already ran: run {retrain.run_id}"
        in lost.skip_reason.skip_message
    )
    state = DriftSensorCursor.parse(lost.cursor)
    assert state.check("no_dataset_drift").watermark >= int(evaluation) and state.pending_alerts == []

    platform.run_week(DRIFTING[1])
    platform.cursor = None  # lost again: the old evaluation is read again beside the new one
    [fresh] = platform.tick().run_requests
    assert fresh.tags[TAG_PERIOD] == DRIFTING[1] and fresh.tags[TAG_EVALUATION_ID] != evaluation
    assert len(slack.messages()) == 3 and f"week {DRIFTING[1]}" in slack.messages()[-1]["text"]
    assert platform.tick().run_requests == [] and len(slack.messages()) == 3


def test_a_retrain_without_the_evaluation_does_not_settle_it(platform: Platform) -> None:
    """Only a retrain tagged with the evaluation settles it: a retrain by hand (no evaluation id) does not."""
    platform.run_week(DRIFTING[0])
    assert platform.retrain(tags={TAG_MONITOR: "bike_sharing"}).success
    [request] = platform.tick().run_requests
    assert request.tags[TAG_PERIOD] == DRIFTING[0]


# --- estimated performance and late labels ------------------------------------------------------------------------
ESTIMATED = {"monitor": "bike_sharing", "period": DRIFTING[0], "metric": "rmsle", "model_version": "v-1a2b",
             "estimated": 0.4123, "lower": 0.39, "upper": 0.435, "bound": 0.395, "method": "DLE", "rows": 7,
             "labels": "pending"}


def record_evaluation(platform: Platform, asset: str, check: str, passed: bool, metadata: dict) -> None:
    """A real evaluation of the monitor's check `check` on its asset `asset` in the instance, with the metadata
    the check records (the check itself is tested with its asset: test_estimated_check.py, test_labels.py)."""

    @dg.asset(key=platform.key(asset), check_specs=[dg.AssetCheckSpec(check, asset=platform.key(asset))])
    def recorded():
        yield dg.Output(None)
        yield dg.AssetCheckResult(check_name=check, passed=passed, metadata=metadata,
                                  severity=dg.AssetCheckSeverity.WARN)

    assert dg.materialize([recorded], instance=platform.instance).success


def test_estimated_degradation_retrains_and_alerts_once_only_when_in_retrain_on(
        tmp_path, instance, slack: SlackRecorder) -> None:
    from drift_platform.lib.sensors.retrain import watched_checks

    resources = local_resources(tmp_path, alerts=slack_alerter(slack, max_retries=0))
    quiet = Platform(resources, instance, bike_monitor(estimation={"enabled": True}))
    assert "no_estimated_degradation" not in watched_checks(bike_monitor())  # off: not watched
    assert watched_checks(quiet.monitor)["no_estimated_degradation"].asset_key == quiet.key("predictions")
    record_evaluation(quiet, "predictions", "no_estimated_degradation", True, {**ESTIMATED, "estimated": 0.31})
    record_evaluation(quiet, "predictions", "no_estimated_degradation", False, ESTIMATED)
    tick = quiet.tick()  # not in retrain_on (the default): settled, no retrain, no alert
    assert tick.run_requests == [] and slack.messages() == []
    assert "1 failure(s) of checks not in retrain_on ignored" in tick.skip_reason.skip_message

    acting = Platform(resources, instance, bike_monitor(
        estimation={"enabled": True}, retrain_on=["no_dataset_drift", "no_estimated_degradation"]))
    [request] = acting.tick().run_requests
    assert request.run_key.startswith("no_estimated_degradation:")
    assert request.tags["drift_platform/trigger"] == "estimated_degradation"
    assert request.tags[TAG_PERIOD] == DRIFTING[0]
    assert request.tags["drift_platform/failed_checks"] == "no_estimated_degradation"
    [message] = slack.messages()
    assert message["text"].startswith(
        f":warning: *[bike_sharing] Estimated degradation* (estimated, labels pending) in week {DRIFTING[0]}: "
        "champion `v-1a2b` estimated RMSLE 0.4123 [0.3900, 0.4350] above the bound 0.3950\n")
    assert acting.tick().run_requests == [] and len(slack.messages()) == 1  # exactly once
    acting.cursor = None  # a lost cursor: the same run key, and the ledger keeps the alert single
    [again] = acting.tick().run_requests
    assert again.run_key == request.run_key and len(slack.messages()) == 1


def test_a_late_labels_monitors_quality_check_is_watched_on_its_labels_asset(
        tmp_path, instance, slack: SlackRecorder) -> None:
    """Its no_model_degradation runs when the period's labels land, on the labels asset: an evaluation on the
    predictions (none is made there) is not read; the labels' one retrains and alerts once."""
    from drift_platform.lib.sensors.retrain import watched_checks

    resources = local_resources(tmp_path, alerts=slack_alerter(slack, max_retries=0))
    platform = Platform(resources, instance, bike_monitor(labels={"in_source": True, "label_delay": "2 weeks"}))
    checks = watched_checks(platform.monitor)
    assert checks["no_model_degradation"].asset_key == platform.key("labels")
    assert checks["no_estimated_degradation"].asset_key == platform.key("predictions")  # estimates: on by default
    assert watched_checks(bike_monitor())["no_model_degradation"].asset_key == platform.key("predictions")
    degraded = {"period": DRIFTING[0], "metric": "rmsle", "model_version": "v-1a2b", "rmsle": 0.64,
                "holdout_rmsle": 0.3, "rmsle_ratio": 2.13, "max_ratio": 1.5, "bound_method": "ratio"}
    record_evaluation(platform, "predictions", "no_model_degradation", False, degraded)
    assert platform.tick().run_requests == [] and slack.messages() == []
    record_evaluation(platform, "labels", "no_model_degradation", False, degraded)
    [request] = platform.tick().run_requests
    assert request.tags["drift_platform/trigger"] == "quality" and request.run_key.startswith("no_model_degradation:")
    [message] = slack.messages()
    assert f"*[bike_sharing] Model degradation* in week {DRIFTING[0]}" in message["text"]
    assert platform.tick().run_requests == [] and len(slack.messages()) == 1


def test_a_real_estimated_degradation_is_acted_on_once(tmp_path, instance, slack: SlackRecorder) -> None:
    """Through the real jobs: a champion, then a day whose estimate (DLE on the grid monitor's hourly reference)
    is past a configured bound fails no_estimated_degradation; the sensor retrains and alerts once, saying it is
    estimated."""
    monitor = grid_monitor(estimation={"enabled": True, "bound": 0.0001}, retrain_on=["no_estimated_degradation"])
    platform = Platform(local_resources(tmp_path, alerts=slack_alerter(slack, max_retries=0)), instance, monitor)
    platform.run_period("2011-02-01")
    assert platform.retrain().success
    assert platform.tick().run_requests == []
    before = len(slack.messages())  # the retrain's outcome
    platform.run_period("2011-02-03")
    [request] = platform.tick().run_requests
    assert request.run_key.startswith("no_estimated_degradation:") and request.tags[TAG_PERIOD] == "2011-02-03"
    [alert] = slack.messages()[before:]
    assert "*[grid_load] Estimated degradation* (estimated) in day 2011-02-03: champion `" in alert["text"]
    assert "above the bound 0.0001" in alert["text"]
    assert platform.tick().run_requests == [] and len(slack.messages()) == before + 1


def test_a_run_finishing_during_a_tick_has_its_failures_acted_on_together(
        tmp_path, instance, slack: SlackRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two watched checks fail in one run; the run is still going when the tick first asks and finished by the
    time it could ask again: both failures wait for the next tick and make ONE request naming both (never one
    acted on alone and the other later)."""
    resources = local_resources(tmp_path, alerts=slack_alerter(slack, max_retries=0))
    acting = Platform(resources, instance, bike_monitor(
        estimation={"enabled": True}, retrain_on=["no_model_degradation", "no_estimated_degradation"]))
    checks = ["no_model_degradation", "no_estimated_degradation"]

    @dg.asset(key=acting.key("predictions"),
              check_specs=[dg.AssetCheckSpec(c, asset=acting.key("predictions")) for c in checks])
    def predictions():
        yield dg.Output(None)
        for check in checks:
            yield dg.AssetCheckResult(check_name=check, passed=False, metadata=ESTIMATED,
                                      severity=dg.AssetCheckSeverity.WARN)

    assert dg.materialize([predictions], instance=instance).success
    real, asked = instance.get_run_by_id, []

    def still_going_at_first(run_id: str):  # the run's status as a tick that began before it ended sees it
        asked.append(run_id)
        run = real(run_id)
        return run.with_status(dg.DagsterRunStatus.STARTED) if len(asked) == 1 else run

    monkeypatch.setattr(instance, "get_run_by_id", still_going_at_first)
    first = acting.tick()
    assert first.run_requests == [] and slack.messages() == []  # in flight: both wait
    [request] = acting.tick().run_requests
    assert set(request.tags["drift_platform/failed_checks"].split(",")) == set(checks)
    assert len(slack.messages()) == 1 and acting.tick().run_requests == []
