"""Weekly partitions: weeks start on Monday; the first week comes from the dataset spec."""

from __future__ import annotations

import dagster as dg

from drift_platform.settings import load_spec, schedule_timezone

weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=load_spec().first_week.isoformat(),
    day_offset=1,  # Monday
    timezone=schedule_timezone(),
)
