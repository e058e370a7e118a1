"""A monitor's partitions: Monday-to-Sunday weeks or days, from the spec's first period, in its timezone."""

import dagster as dg

from drift_platform.monitor import Monitor


def partitions_for(monitor: Monitor) -> dg.TimeWindowPartitionsDefinition:
    start = monitor.spec.first_period.isoformat()
    if monitor.cadence == "daily":
        return dg.DailyPartitionsDefinition(start_date=start, timezone=monitor.timezone)
    return dg.WeeklyPartitionsDefinition(start_date=start, day_offset=1, timezone=monitor.timezone)  # Monday


def period_window(context):
    """The partition's [start, end) as naive pandas Timestamps in the monitor's timezone (how sources write time)."""
    import pandas as pd

    return tuple(pd.Timestamp(t.replace(tzinfo=None)) for t in context.partition_time_window)
