from typing import Any

# pandas is imported inside the asset bodies, not when the code location loads (~1 s saved on every load);
# inputs and outputs that carry a pandas DataFrame are annotated with this alias.
DataFrame = Any
