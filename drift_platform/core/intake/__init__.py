"""A dataset's rows, from where they live to a checked DataFrame: the spec (`dataset.py`), where a period's rows
come from (`source.py`) and the data contract they must keep (`contract.py`)."""
