#!/usr/bin/env bash
# `make dev`: the Dagster UI (dagster dev: webserver + daemon, http://127.0.0.1:3000) and Evidently's UI over the
# embedded default's workspace (http://127.0.0.1:8000), where every drift report is a run of its monitor's project.
# One command; Ctrl-C, a SIGTERM, or the end of either stops both.
set -euo pipefail
set -m  # job control: each server in a process group of its own, which takes SIGINT/SIGTERM (dagster dev ignores
        # them as a plain background job of a non-interactive shell)
cd "$(dirname "$0")/.."
BIN=.venv/bin
data_dir="${DRIFT_DATA_DIR:-${DAGSTER_HOME:-$PWD/.dagster_home}/drift_data}"
mkdir -p "$data_dir/evidently"
"$BIN/evidently" ui --workspace "$data_dir/evidently" --host 127.0.0.1 --port "${EVIDENTLY_PORT:-8000}" &
viewer=$!
"$BIN/dagster" dev -m drift_platform.definitions -h 127.0.0.1 -p "${DAGSTER_PORT:-3000}" &
dagster=$!
stop() {
  trap - INT TERM EXIT
  kill -TERM -- "-$dagster" "-$viewer" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT
echo "Dagster UI: http://127.0.0.1:${DAGSTER_PORT:-3000}   Evidently UI: http://127.0.0.1:${EVIDENTLY_PORT:-8000}"
wait -n  # the first of the two to end ends both
