"""Schedules: the weekly monitoring, Mondays at 11:00 in the configured timezone, for the week that just ended."""


import dagster as dg

from drift_platform.jobs import weekly_drift_job

weekly_drift_schedule = dg.build_schedule_from_partitioned_job(
    weekly_drift_job,
    name="weekly_drift_schedule",
    hour_of_day=11,
    description="Mondays 11:00: run weekly_drift_job for the week that ended on Sunday.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
