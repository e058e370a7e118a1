"""The command line every sample generator shares: `python data/generate_<name>.py [--seed N] [--out PATH]` writes
the sample CSV its seed makes (the same bytes on every run)."""

import argparse
from collections.abc import Callable
from pathlib import Path


def write_sample(generate: Callable, default_seed: int, default_out: Path, doc: str) -> None:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seed", type=int, default=default_seed, help="random seed (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=default_out, help="output CSV (default: %(default)s)")
    args = parser.parse_args()
    df = generate(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False, lineterminator="\n")
    print(f"wrote {len(df)} rows to {args.out} (seed {args.seed})")
