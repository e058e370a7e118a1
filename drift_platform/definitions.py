"""The one Definitions of the code location: assets, check, jobs, schedule, sensor and resources.

`build_defs` exists so tests can bind the same definitions to resources on temp folders and test servers;
the code location itself is `defs`, with the resources of this deployment's environment.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from drift_platform.assets.ingestion import combined_history, current_batch, reference_data
from drift_platform.assets.lifecycle import champion_model
from drift_platform.assets.monitoring import drift_report
from drift_platform.assets.predictions import predictions
from drift_platform.assets.training import trained_model
from drift_platform.assets.trend import drift_trend, drift_trend_sensor
from drift_platform.checks import no_dataset_drift, no_model_degradation
from drift_platform.jobs import champion_rollback_job, model_versions_job, retrain_job, weekly_drift_job
from drift_platform.landing import landing_zone_sensor
from drift_platform.resources import build_resources
from drift_platform.schedules import weekly_drift_schedule
from drift_platform.sensors import retrain_on_drift_sensor


def build_defs(resources: Mapping[str, Any]) -> dg.Definitions:
    return dg.Definitions(
        assets=[reference_data, current_batch, drift_report, combined_history, trained_model, drift_trend,
                champion_model, predictions],
        asset_checks=[no_dataset_drift, no_model_degradation],
        jobs=[weekly_drift_job, retrain_job, champion_rollback_job, model_versions_job],
        schedules=[weekly_drift_schedule],
        sensors=[retrain_on_drift_sensor, landing_zone_sensor, drift_trend_sensor],
        resources=dict(resources),
    )


defs = build_defs(build_resources())
