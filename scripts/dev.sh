#!/usr/bin/env bash
# `make dev`: the Dagster UI (dagster dev: webserver + daemon, http://127.0.0.1:3000) and Evidently's UI over the
# embedded default's workspace (http://127.0.0.1:8000), where every drift report is a run of its monitor's project.
# One command; Ctrl-C (or the end of either) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
data_dir="${DRIFT_DATA_DIR:-${DAGSTER_HOME:-$PWD/.dagster_home}/drift_data}"
mkdir -p "$data_dir/evidently"
"$BIN/evidently" ui --workspace "$data_dir/evidently" --host 127.0.0.1 --port "${EVIDENTLY_PORT:-8000}" &
viewer=$!
trap 'kill "$viewer" 2>/dev/null || true; wait "$viewer" 2>/dev/null || true' EXIT
echo "Evidently UI: http://127.0.0.1:${EVIDENTLY_PORT:-8000} (workspace $data_dir/evidently)"
"$BIN/dagster" dev -m drift_platform.definitions -h 127.0.0.1 -p "${DAGSTER_PORT:-3000}"
