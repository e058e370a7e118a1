"""A monitor's ops: the hand operations of its jobs (model registry, viewer sync)."""
