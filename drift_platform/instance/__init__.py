"""What the production Dagster instance and its daemon load from drift_platform (dagster.yaml, docker-compose.yml):
`storage.PooledPostgresStorage`, Dagster's PostgreSQL storage keeping a connection per process, and `daemon`, the
`dagster-daemon` entry point with backfills taken up every few seconds. Dagster and dagster-postgres only: nothing
of the monitors' code."""
