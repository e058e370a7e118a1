"""The command line every sample generator shares: `python data/generate_<name>.py [--seed N] [--out PATH]` writes
the sample CSV its seed makes (the same bytes on every run); `--measure`, for a generator that has a `measure`,
prints the figures its docstring quotes instead."""

import argparse
from collections.abc import Callable
from pathlib import Path


def write_sample(generate: Callable, default_seed: int, default_out: Path, doc: str,
                 measure: Callable | None = None) -> None:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seed", type=int, default=default_seed, help="random seed (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=default_out, help="output CSV (default: %(default)s)")
    if measure is not None:
        parser.add_argument("--measure", action="store_true", help="print the figures of the docstring, write nothing")
    args = parser.parse_args()
    df = generate(args.seed)
    if measure is not None and args.measure:
        print(measure(df).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False, lineterminator="\n")
    print(f"wrote {len(df)} rows to {args.out} (seed {args.seed})")
