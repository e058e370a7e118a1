"""The defs folder: one folder per monitor under monitors/, each with a defs.yaml naming drift_platform.DriftMonitor."""
