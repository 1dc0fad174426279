# pgy-pipeline. `make help` lists the targets. Needs only python3 (3.11+) and make:
# the first target that needs it creates .venv from uv.lock.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export PGY_DATA_DIR ?= $(abspath data)
export DAGSTER_HOME ?= $(PGY_DATA_DIR)/dagster_home

.DEFAULT_GOAL := help
.PHONY: help install run ui test lint fmt bench bench-full e2e clean lock

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: uv writes no .pyc by default, and where PYTHONDONTWRITEBYTECODE is set
# (common in containers) Python never writes them either, so every `pgy` would compile
# Dagster from source again (~8 s). Compiled once here, each command starts in ~1 s. uv compiles
# site-packages only, not this editable project: compileall does (0.2-0.3 s less at each start;
# Python still checks each .pyc against its source, so an edited module is never run stale).
$(BIN)/pgy: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	$(BIN)/python -m compileall -q pgy_pipeline
	@touch $@

install: $(BIN)/pgy ## Create .venv with the locked dependencies (done by every target that needs it)

lock: $(UV) ## Re-resolve uv.lock after editing pyproject.toml
	$(UV) lock --python $(PYTHON)

run: install ## Refresh the sample roster against the bundled simulator and print an engagement summary
	$(BIN)/pgy demo

ui: install ## Start the Dagster UI and daemon (sensors, schedule) on http://127.0.0.1:3000
	$(BIN)/pgy ui

test: install ## Run the whole test suite (real Dagster, loopback HTTP, real DuckDB)
	$(BIN)/pytest -n 2 --dist worksteal -q

lint: install ## ruff and mypy
	$(BIN)/ruff check pgy_pipeline pgy_pipeline_tests bench
	$(BIN)/ruff format --check pgy_pipeline pgy_pipeline_tests bench
	$(BIN)/mypy

fmt: install ## Format the code with ruff
	$(BIN)/ruff format pgy_pipeline pgy_pipeline_tests bench
	$(BIN)/ruff check --fix pgy_pipeline pgy_pipeline_tests bench

bench: install ## Benchmarks (normalise 1M notes, refresh 200 KOLs, soak); figures go to bench/RESULTS.md
	$(BIN)/python -m bench.run_all

bench-full: install ## make bench plus the 1,000-KOL refresh (about 10 minutes, bound by the API rate)
	$(BIN)/python -m bench.run_all --full

e2e: install ## End-to-end tests: dagster dev + GraphQL, the UI and the report in headless Chromium (installs Debian's chromium and CJK fonts)
	@# fonts-noto-cjk: without it the screenshots show the KOLs' Chinese labels as boxes.
	@(command -v chromium && dpkg -s fonts-noto-cjk) >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk)
	PGY_UI_SHOTS=$(abspath bench/out) $(BIN)/pytest -q -m e2e

clean: ## Remove the virtual environments and generated data (keeps data/kols.csv)
	rm -rf $(VENV) $(TOOLS) data/pgy.duckdb* data/raw data/dagster_home data/.state
