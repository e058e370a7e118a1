"""Dagster's UPath IO managers (filesystem, S3) storing outputs in formats that run no code when loaded, also for
runs of several periods.

What passes between the monitor's steps is a pandas DataFrame (a period's batch) or plain data (a period's drift
summary: dicts, lists, numbers, strings). A DataFrame is stored as Parquet, plain data as JSON, each behind a
short header naming the format; anything else is refused when it is stored, naming its type. Loading never
unpickles: an object an earlier release stored as a pickle, in the same bucket others may write to, is refused with
a message that says to re-materialize it, since unpickling runs whatever code the file carries.

Dagster's UPath IO managers refuse an output for several partitions ("does not support persisting an output
associated with multiple partitions"). The monitor's partitioned assets return a dict by period for a run of
several periods (drift_platform/lib/partitions.py `output_for`); each period's object is stored where a run of
that period alone stores it, so inputs load the same way (one object, or a dict by period) whatever wrote them.
A several-period input logs one line, not one event a period; on S3 a run's later steps read what it wrote from
the bytes it kept (`WrittenObjects`) instead of downloading them again.
"""

import io
import json
from typing import Any

import dagster as dg

PARQUET_HEADER = b"DRIFTIO1 parquet\n"
JSON_HEADER = b"DRIFTIO1 json\n"


class UnsafeStoredObjectError(ValueError):
    """A stored step output in a format whose loading could run code (a pickle), or in no format we know."""


def _plain(value: Any) -> Any:
    """`json.dumps`'s fallback: numpy scalars and arrays, tuples' elements and timestamps as plain JSON values."""
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if hasattr(value, "isoformat"):  # datetime, date, pandas Timestamp
        return value.isoformat()
    raise TypeError(f"a step output holds a {type(value).__name__}, which is stored neither as Parquet nor as JSON")


def dump_bytes(obj: Any) -> bytes:
    """A step output as bytes that load without running code: Parquet for a DataFrame, JSON for plain data."""
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        buffer = io.BytesIO()
        obj.to_parquet(buffer, engine="pyarrow", index=True)
        return PARQUET_HEADER + buffer.getvalue()
    return JSON_HEADER + json.dumps(obj, default=_plain, allow_nan=True).encode()


def load_bytes(data: bytes, where: str) -> Any:
    """What `dump_bytes` wrote; anything else (a pickle of an earlier release) is refused, naming `where`."""
    if data.startswith(PARQUET_HEADER):
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data[len(PARQUET_HEADER):]), engine="pyarrow")
    if data.startswith(JSON_HEADER):
        return json.loads(data[len(JSON_HEADER):])
    kind = "a pickle (an earlier release's format)" if data[:1] == b"\x80" else "in no format this release writes"
    raise UnsafeStoredObjectError(
        f"the stored step output {where} is {kind}; it is not loaded, since unpickling runs whatever code the file "
        "carries and the store may be written by others. Re-materialize that asset's partition to store it again "
        "as Parquet or JSON."
    )


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


def load_period_inputs(inner, context: dg.InputContext) -> dict | None:
    """A several-period input as a dict by period, each period's object loaded from where a one-period run stores
    it, with one debug line for the input instead of Dagster's one a period (each a write to the event log);
    None for one period (Dagster's own path)."""
    if len(context.asset_partition_keys) < 2:
        return None
    paths = inner._get_paths_for_partitions(context)  # noqa: SLF001 (as handle_period_outputs)
    context.log.debug(f"Loading {len(paths)} periods of {context.asset_key.to_user_string()} "
                      f"({min(paths)} .. {max(paths)})")
    return {key: inner.load_from_path(context=context, path=path) for key, path in paths.items()}


class WrittenObjects:
    """The bytes the current run stored (up to `budget` bytes in all), by key: a run of several periods reads each
    period's batch and report back in later steps (the history, the report, each check), and those reads need
    not download from S3 what this process has just uploaded. Only the run that wrote them reads them (another
    run starts afresh); an input is parsed from them anew each time, as from the store."""

    def __init__(self, budget: int = 256 * 2**20) -> None:
        self.budget, self.run_id, self.objects = budget, None, {}

    def keep(self, run_id: str, key: str, data: bytes) -> None:
        if run_id != self.run_id:
            self.run_id, self.objects = run_id, {}
        self.objects.pop(key, None)
        if len(data) + sum(map(len, self.objects.values())) <= self.budget:
            self.objects[key] = data

    def get(self, run_id: str | None, key: str) -> bytes | None:
        return self.objects.get(key) if run_id is not None and run_id == self.run_id else None


def input_run_id(context: dg.InputContext) -> str | None:
    """The run loading the input (None for a context made outside a run)."""
    from dagster._core.errors import DagsterInvariantViolationError

    try:
        return context.step_context.run_id
    except DagsterInvariantViolationError:
        return None


class FilesystemIOManager(dg.FilesystemIOManager):
    def create_io_manager(self, context):
        from dagster._core.storage.fs_io_manager import PickledObjectFilesystemIOManager

        class PeriodsFilesystemIOManager(PickledObjectFilesystemIOManager):
            def dump_to_path(self, context, obj, path):
                path.write_bytes(dump_bytes(obj))

            def load_from_path(self, context, path):
                return load_bytes(path.read_bytes(), str(path))

            def handle_output(self, context, obj):
                if not handle_period_outputs(self, context, obj):
                    super().handle_output(context, obj)

            def load_partitions(self, context):
                loaded = load_period_inputs(self, context)
                return super().load_partitions(context) if loaded is None else loaded

        return PeriodsFilesystemIOManager(base_dir=self.base_dir or context.instance.storage_directory())


def s3_io_manager(**kwargs):
    from dagster._utils.cached_method import cached_method
    from dagster_aws.s3 import S3PickleIOManager
    from dagster_aws.s3.io_manager import PickledObjectS3IOManager

    class SafeS3IOManager(PickledObjectS3IOManager):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.written = WrittenObjects()  # this run's own outputs, read back by its later steps

        def dump_to_path(self, context, obj, path):
            data = dump_bytes(obj)
            self.s3.upload_fileobj(io.BytesIO(data), self.bucket, path.as_posix())
            self.written.keep(context.run_id, path.as_posix(), data)

        def load_from_path(self, context, path):
            data = self.written.get(input_run_id(context), path.as_posix())
            try:
                data = data or self.s3.get_object(Bucket=self.bucket, Key=path.as_posix())["Body"].read()
            except self.s3.exceptions.NoSuchKey:
                raise FileNotFoundError(f"Could not find file {path} in S3 bucket {self.bucket}") from None
            return load_bytes(data, f"s3://{self.bucket}/{path.as_posix()}")

        def load_partitions(self, context):
            loaded = load_period_inputs(self, context)
            return super().load_partitions(context) if loaded is None else loaded

    class PeriodsS3IOManager(S3PickleIOManager):
        @cached_method
        def inner_io_manager(self):
            return SafeS3IOManager(s3_bucket=self.s3_bucket, s3_session=self.s3_resource.get_client(),
                                   s3_prefix=self.s3_prefix)

        def handle_output(self, context, obj):
            inner = self.inner_io_manager()
            if not handle_period_outputs(inner, context, obj):
                inner.handle_output(context, obj)

    return PeriodsS3IOManager(**kwargs)
