"""Jobs: the weekly monitoring, the retraining (with the champion/challenger gate), and the model registry's
hand operations (rolling the champion back, listing the versions)."""

import dagster as dg

from drift_platform.assets.ingestion import combined_history, current_batch
from drift_platform.assets.lifecycle import champion_model, list_model_versions, rollback_champion
from drift_platform.assets.monitoring import drift_report
from drift_platform.assets.predictions import predictions
from drift_platform.assets.training import trained_model
from drift_platform.constants import TAG_RETRAIN
from drift_platform.settings import retry_delay_seconds

# Transient faults (the warehouse restarting, S3 or the source unreachable) are retried with backoff:
# after delay, then 2 x delay. Bad data is not retried (the assets raise Failure(allow_retries=False)).
RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=retry_delay_seconds(), backoff=dg.Backoff.EXPONENTIAL)

# Selecting the assets selects their checks too: no_dataset_drift runs with drift_report, no_model_degradation
# with predictions (skipped, like predictions, while no model is in service).
weekly_drift_job = dg.define_asset_job(
    "weekly_drift_job",
    selection=dg.AssetSelection.assets(current_batch, drift_report, combined_history, predictions),
    description="One week: fetch the batch, report its drift against the reference, predict it with the champion "
    "and check the champion's error on it, append it to the history.",
    op_retry_policy=RETRY_POLICY,
    # One process per run, steps one after another: a week's steps are small and would each pay the
    # code location's and Evidently's import (~10 s) in a process of their own.
    executor_def=dg.in_process_executor,
)

retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.assets(trained_model, champion_model),
    description="Train a new model version on the whole history (the challenger), then let the champion/challenger "
    "gate decide whether it goes into service.",
    # dagster.yaml limits runs with this tag to one at a time: versions are trained one after another.
    tags={TAG_RETRAIN: "true"},
    op_retry_policy=RETRY_POLICY,
    executor_def=dg.in_process_executor,
)


@dg.job(
    description="Put an earlier model version back in service. Config: ops.rollback_champion.config.version "
    "(a version id, or 'previous') and .reason. Verifies the artifact's sha256, moves models/champion.json, "
    "appends to models/audit/ and records a materialization of champion_model.",
    # The same tag as retrain_job: the gate and a rollback never move the champion pointer at the same time.
    tags={TAG_RETRAIN: "true"},
)
def champion_rollback_job():
    rollback_champion()


@dg.job(description="List every model version (window, rows, alpha, holdout RMSLE, data hash, code version), the "
        "champion, the latest and the audit log, as an observation of champion_model.")
def model_versions_job():
    list_model_versions()
