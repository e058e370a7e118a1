"""Documentation that must stay equal to the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_monitor_attribute_reference_is_the_models() -> None:
    """docs/monitors.md's attribute table is what scripts/monitor_attributes.py prints from the models."""
    table = subprocess.run([sys.executable, str(REPO / "scripts" / "monitor_attributes.py")], capture_output=True,
                           text=True, check=True, cwd=REPO).stdout
    assert table.count("\n") > 40
    assert table in (REPO / "docs" / "monitors.md").read_text(), "regenerate the table: scripts/monitor_attributes.py"
