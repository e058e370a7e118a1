"""Write `football_matches/`, the football sample as a Parquet folder by month, from `football_matches.csv`.

The shipped `football` monitor reads this folder (drift_platform/defs/monitors/football/defs.yaml): the same rows
as the CSV, one folder a month, `month=YYYY-MM/part-0.parquet`, the month of the kickoff as the export writes it
(London time); a month without matches has a file of no rows. A week's run opens only its month files (one, or
two across a month's end). Columns keep the export's names ("Home Team", "Temp (°C)"; the spec's source_names)
and get Parquet types: the kickoff an instant, timestamp[us, tz=UTC] (the reader shows it in the monitor's
timezone, Europe/London, as the CSV path does with its +00:00 / +01:00 / Z offsets), the ratings, odds and
temperature doubles, the counts int64, the rest strings.

The output depends only on the CSV and the pyarrow version: rows in the CSV's order, one row group per file, zstd,
no pandas metadata; month folders no longer in the CSV are removed. Regenerate after the CSV changes:
    python data/generate_football_parquet.py [--csv data/football_matches.csv] [--out data/football_matches]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
DEFAULT_CSV = HERE / "football_matches.csv"
DEFAULT_OUT = HERE / "football_matches"
TIME_COLUMN = "Kickoff"
PART = "part-0.parquet"


def months(csv: Path = DEFAULT_CSV) -> dict[str, pa.Table]:
    """The CSV's rows by month of their kickoff as written ("2021-08-06T19:45:00+01:00" is in 2021-08), every
    month from the first to the last: a month without matches (June, July) is a file of no rows, so a week
    there reads as empty, as it does from the CSV, not as a missing partition folder."""
    frame = pd.read_csv(csv, dtype={TIME_COLUMN: str}, keep_default_na=False, na_values=[""])
    month = frame[TIME_COLUMN].str[:7]
    frame[TIME_COLUMN] = pd.to_datetime(frame[TIME_COLUMN], format="ISO8601", utc=True)
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    schema = pa.schema([pa.field(f.name, pa.timestamp("us", tz="UTC") if f.name == TIME_COLUMN else f.type)
                        for f in table.schema])
    table = table.cast(schema)
    every = pd.period_range(month.min(), month.max(), freq="M").strftime("%Y-%m")
    return {value: table.filter(pa.array(month == value)) for value in every}


def write(parts: dict[str, pa.Table], out: Path = DEFAULT_OUT) -> None:
    """One file a month under `out`, replacing what was there."""
    if out.exists():
        shutil.rmtree(out)
    for value, table in parts.items():
        folder = out / f"month={value}"
        folder.mkdir(parents=True)
        pq.write_table(table, folder / PART, row_group_size=max(len(table), 1), compression="zstd")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="the sample CSV (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    args = parser.parse_args()
    parts = months(args.csv)
    write(parts, args.out)
    rows = sum(t.num_rows for t in parts.values())
    print(f"wrote {rows} rows in {len(parts)} month folders to {args.out}")


if __name__ == "__main__":
    main()
