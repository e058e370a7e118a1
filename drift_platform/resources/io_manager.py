"""Dagster's pickle IO managers (filesystem, S3), also for runs of several periods.

Dagster's UPath IO managers refuse an output for several partitions ("does not support persisting an output
associated with multiple partitions"). The monitor's partitioned assets return a dict by period for a run of
several periods (drift_platform/lib/partitions.py `output_for`); each period's object is stored where a run of
that period alone stores it, so inputs load the same way (one object, or a dict by period) whatever wrote them.
"""

from typing import Any

import dagster as dg


def handle_period_outputs(inner, context: dg.OutputContext, obj: Any) -> bool:
    """Store a several-period output one object per period; False if it is a plain output for `inner`."""
    if not context.has_asset_partitions or len(context.asset_partition_keys) < 2:
        return False
    paths = inner._get_paths_for_partitions(context)  # noqa: SLF001 (the paths a one-period run writes)
    if not isinstance(obj, dict) or set(obj) != set(paths):
        raise TypeError(f"an output for {len(paths)} periods must be a dict by period, got {type(obj).__name__}")
    for key, path in paths.items():
        inner.make_directory(path.parent)
        inner.dump_to_path(context=context, obj=obj[key], path=path)
    return True


class FilesystemIOManager(dg.FilesystemIOManager):
    def create_io_manager(self, context):
        from dagster._core.storage.fs_io_manager import PickledObjectFilesystemIOManager

        class PeriodsFilesystemIOManager(PickledObjectFilesystemIOManager):
            def handle_output(self, context, obj):
                if not handle_period_outputs(self, context, obj):
                    super().handle_output(context, obj)

        return PeriodsFilesystemIOManager(base_dir=self.base_dir or context.instance.storage_directory())


def s3_pickle_io_manager(**kwargs):
    from dagster_aws.s3 import S3PickleIOManager

    class PeriodsS3PickleIOManager(S3PickleIOManager):
        def handle_output(self, context, obj):
            inner = self.inner_io_manager()
            if not handle_period_outputs(inner, context, obj):
                inner.handle_output(context, obj)

    return PeriodsS3PickleIOManager(**kwargs)
