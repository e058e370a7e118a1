#!/usr/bin/env bash
# Run once by the postgres image on its first start (mounted into /docker-entrypoint-initdb.d; it is skipped
# when the data volume already holds a cluster). Creates, from the variables in .env:
#   - the role DAGSTER_POSTGRES_USER (password DAGSTER_POSTGRES_PASSWORD), used by Dagster and the runs;
#   - the database DAGSTER_POSTGRES_DB: Dagster's runs, event logs, schedules and sensor cursors;
#   - the database drift_warehouse: the platform's tables (DRIFT_WAREHOUSE_URL points at it).
# Both databases belong to that role; the superuser (POSTGRES_USER / POSTGRES_PASSWORD) is used only here.
# Re-running it is harmless: what exists is kept (only the owner is set again).
set -euo pipefail

: "${DAGSTER_POSTGRES_USER:?set DAGSTER_POSTGRES_USER in .env}"
: "${DAGSTER_POSTGRES_PASSWORD:?set DAGSTER_POSTGRES_PASSWORD in .env}"
: "${DAGSTER_POSTGRES_DB:?set DAGSTER_POSTGRES_DB in .env}"
WAREHOUSE_DB=drift_warehouse  # the database named in DRIFT_WAREHOUSE_URL (.env.example)

# psql's :'name' / :"name" quote the values as literal / identifier; \gexec runs the generated statement.
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v app_user="$DAGSTER_POSTGRES_USER" -v app_password="$DAGSTER_POSTGRES_PASSWORD" \
  -v dagster_db="$DAGSTER_POSTGRES_DB" -v warehouse_db="$WAREHOUSE_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'app_user')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \gexec
ALTER ROLE :"app_user" WITH LOGIN PASSWORD :'app_password';

SELECT format('CREATE DATABASE %I OWNER %I', db, :'app_user')
FROM unnest(ARRAY[:'dagster_db', :'warehouse_db']) AS db
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = db) \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', db, :'app_user')
FROM unnest(ARRAY[:'dagster_db', :'warehouse_db']) AS db \gexec
SQL
