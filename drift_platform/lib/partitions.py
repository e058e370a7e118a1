"""A monitor's partitions: Monday-to-Sunday weeks or days, from the spec's first period, in its timezone."""

import warnings

import dagster as dg

from drift_platform.core.settings import Monitor

# BackfillPolicy is a beta parameter of @asset in Dagster 1.13; this project relies on it knowingly
# (drift_platform_tests/test_backfill_runs.py guards what it needs).
warnings.filterwarnings("ignore", message=r"\s*Parameter `backfill_policy` of function `asset`", category=Warning)


def partitions_for(monitor: Monitor) -> dg.TimeWindowPartitionsDefinition:
    start = monitor.spec.first_period.isoformat()
    if monitor.cadence == "daily":
        return dg.DailyPartitionsDefinition(start_date=start, timezone=monitor.timezone)
    return dg.WeeklyPartitionsDefinition(start_date=start, day_offset=1, timezone=monitor.timezone)  # Monday


def period_window(context):
    """The partition's [start, end) as naive pandas Timestamps in the monitor's timezone (how sources write time)."""
    import pandas as pd

    return tuple(pd.Timestamp(t.replace(tzinfo=None)) for t in context.partition_time_window)


# --- runs of several periods (a backfill under the assets' BackfillPolicy) ----------------------------------------
# A backfill launched from the asset graph (or the API) runs up to `backfill_periods_per_run` periods per run
# (default 13 weeks, 31 days) instead of one run per period (each run pays a process start and the imports, ~7 s
# cold). Bounded, not single_run: a period that breaks the contract fails its whole run, a run holds its periods'
# batches in memory, and the retrain sensor acts on a run's failed checks when the run has finished.
def backfill_policy(monitor: Monitor) -> dg.BackfillPolicy:
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=monitor.periods_per_backfill_run)


def period_step_args(monitor: Monitor) -> dict:
    """What the monitor's partitioned assets and checks share beyond the drift job: the backfill policy, and the
    drift job's retry policy, which the runs of an asset backfill (Dagster's implicit asset job) do not get."""
    from drift_platform.lib.jobs import retry_policy

    return {"backfill_policy": backfill_policy(monitor), "retry_policy": retry_policy(monitor)}


def run_periods(context) -> list[str]:
    """The periods (partition keys) the run covers: one for a scheduled run, several for a backfill run."""
    context = getattr(context, "op_execution_context", context)  # an asset check's context
    return list(context.partition_keys)


def period_windows(context, partitions: dg.TimeWindowPartitionsDefinition) -> dict[str, tuple]:
    """Each period of the run with its [start, end), as `period_window` gives them."""
    import pandas as pd

    return {
        key: tuple(pd.Timestamp(t.replace(tzinfo=None)) for t in partitions.time_window_for_partition_key(key))
        for key in run_periods(context)
    }


def by_period(context, value) -> dict:
    """An upstream period's input as {period: value}: the IO manager gives the value itself for one period and
    a dict by period for several."""
    periods = run_periods(context)
    return dict(value) if len(periods) > 1 else {periods[0]: value}


def output_for(values: dict):
    """What an asset returns for its periods: the value for one period, a dict by period for several (stored one
    object per period by drift_platform.resources.io_manager)."""
    return values if len(values) > 1 else next(iter(values.values()))
