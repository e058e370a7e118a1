# drift_platform: `make demo` runs the main job on the embedded default, `make test` runs the tests.
# Both create .venv and install the pinned dependencies (requirements.lock) on first use.

SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: help install system-deps demo test test-fast dev check lint format lock compose-config clean

help:
	@echo "make demo     set up, then run the reference, a sequence of weeks, the sensor and retraining; print a summary"
	@echo "make test     set up, then run the whole test suite (starts PostgreSQL, S3, Slack and Dagster on loopback)"
	@echo "make dev      the Dagster UI (http://127.0.0.1:3000) and Evidently's UI (http://127.0.0.1:8000), embedded default"
	@echo "make check    validate the definitions (dg check defs) and lint"
	@echo "make lock     re-resolve requirements.lock from pyproject.toml"

# --compile-bytecode: every Dagster process (code server, daemon, each run, each test subprocess) imports
# dagster; without .pyc files, and with PYTHONDONTWRITEBYTECODE set (as on CI), each import compiles it anew.
$(BIN)/.installed: requirements.lock pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

install: $(BIN)/.installed

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	printf 'telemetry:\n  enabled: false\n' > $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python scripts/demo.py

system-deps:
	bash scripts/system-deps.sh

test: install system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not e2e and not slow" $(PYTEST_ARGS)

dev: install $(DAGSTER_HOME)/dagster.yaml
	bash scripts/dev.sh

check: install
	$(BIN)/dg check defs
	$(BIN)/ruff check .

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check drift_platform drift_platform_tests loopback

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format drift_platform drift_platform_tests loopback

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra deploy -p 3.11 -o requirements.lock

# docker-compose v1 needs the env file to exist: validate a copy with .env.example as its .env.
compose-config:
	tmp=$$(mktemp -d) && cp docker-compose.yml $$tmp/ && cp .env.example $$tmp/.env && ln -s $(CURDIR)/deploy $$tmp/deploy \
	  && ln -s $(CURDIR)/Dockerfile $$tmp/Dockerfile && docker-compose -f $$tmp/docker-compose.yml config -q && echo "docker-compose.yml is valid"; \
	  rc=$$?; rm -rf $$tmp; exit $$rc

clean:
	rm -rf $(DAGSTER_HOME) .pytest_cache

# Benchmarks side by side (docs/benchmarks.md): ~20 min on 2 cores; results also in benchmarks/results/.
.PHONY: bench bench-smoke
bench: install
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

bench-smoke: install
	$(BIN)/python -m benchmarks --smoke $(BENCH_ARGS)

# False alarms and power of the drift checks by simulation (docs/statistics.md; raw counts in
# benchmarks/results/stats_sim.json): ~15 min on 2 cores (13.5 min on a busy one, 2026-12-02).
.PHONY: bench-stats
bench-stats: install
	$(BIN)/python -m benchmarks.stats_sim $(BENCH_ARGS)

# Estimated performance (CBPE, DLE) against the labels, side by side with NannyML 0.13.1 in its own venv
# (.bench/nannyml-venv, made on first use; docs/estimation.md): seeded; ~6 min on 2 cores (2026-12-03).
.PHONY: bench-estimation
bench-estimation: install
	nice -n 10 $(BIN)/python -m benchmarks.estimation $(BENCH_ARGS)
