"""The dataset resource: the spec (roles and types of the columns) and the source the batches come from."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from drift_platform.dataset import DatasetSpec
from drift_platform.settings import _load_spec

if TYPE_CHECKING:
    import datetime as dt

    import pandas as pd


class DatasetResource(dg.ConfigurableResource):
    """Dataset spec file and production data source (a CSV at an http(s) URL, a file:// URL or a path)."""

    spec_path: str = Field(description="Path of the dataset spec (YAML)")
    source_url: str = Field(description="CSV source: http(s) URL, file:// URL or local path")

    def spec(self) -> DatasetSpec:
        return _load_spec(self.spec_path)

    def source_label(self, batch_url: str | None = None) -> str:
        from drift_platform.source import describe_source

        return describe_source(batch_url or self.source_url)

    def load_window(
        self, start: dt.datetime, end: dt.datetime, batch_url: str | None = None
    ) -> tuple[pd.DataFrame, list[str]]:
        """Rows in [start, end), checked against the contract, and the unknown columns that were dropped.

        From the source, cut to the window; or from `batch_url`, a file that must hold only that window's rows.
        """
        import pandas as pd

        from drift_platform.source import load_window

        url, strict = (batch_url, True) if batch_url else (self.source_url, False)
        return load_window(url, self.spec(), pd.Timestamp(start), pd.Timestamp(end), whole_file=strict)
