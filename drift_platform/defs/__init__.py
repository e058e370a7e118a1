"""The defs folder: one folder per monitor under monitors/, each with a defs.yaml naming drift_platform.DriftMonitor;
and team_jobs/, Python modules of the teams' own jobs (an external monitor's `model.on_failure_job`)."""
