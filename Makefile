# safeguard-dags: every set-up step a fresh machine needs lives here.
#   make demo   install, generate the demo world, materialize the whole graph, print where to look
#   make test   install, lint (ruff) and run the test suite (what CI runs)
#   make ui     the Dagster UI on http://127.0.0.1:3000
SHELL := /bin/bash
.DEFAULT_GOAL := help

export SAFEGUARD_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(SAFEGUARD_HOME)/dagster_home
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
# Every target runs the project's own tools (dbt, dagster, safeguard) first, activated venv or not.
export PATH := $(BIN):$(PATH)
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)

# The demo world: small enough for a laptop, long enough to train (label horizon 14 days) and roll out.
DEMO_ACCOUNTS ?= 5000
DEMO_DAYS ?= 70
DEMO_START ?= 2026-09-01
DEMO_SEED ?= 7

.PHONY: help install dbt-manifest dagster-home demo test ui bench clean

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	@echo "installing the locked environment (uv.lock) into $(VENV)"
	@$(UV) sync --frozen --extra dev --extra spark --extra deploy --python 3.11 --quiet
	@touch $@

install: $(VENV)/.installed

# dbt's manifest is built here, never parsed when the code location is imported.
dbt-manifest: install
	@echo "parsing the dbt project into the manifest Dagster loads (python -m orchestration.dbt)"
	@$(BIN)/python -m orchestration.dbt

dagster-home:
	@mkdir -p $(DAGSTER_HOME)
	@cp -n deploy/dagster.local.yaml $(DAGSTER_HOME)/dagster.yaml 2>/dev/null || true

demo: dbt-manifest dagster-home
	@BIN=$(BIN) DEMO_ACCOUNTS=$(DEMO_ACCOUNTS) DEMO_DAYS=$(DEMO_DAYS) DEMO_START=$(DEMO_START) DEMO_SEED=$(DEMO_SEED) \
		bash scripts/demo.sh

# The tests need the machine's PostgreSQL (started here, idempotently) besides the embedded defaults.
# First ruff: the lint rules, then the formatting (pyproject.toml [tool.ruff]; `$(BIN)/ruff format .` fixes the latter).
# Then the dependency audit (security/audit.py): fails on a known vulnerability not in security/audit-allowlist.txt;
# says DEPENDENCY AUDIT NOT RUN, without failing, when no vulnerability service is reachable (SAFEGUARD_AUDIT_REQUIRED=1,
# or a configured SAFEGUARD_AUDIT_OSV_URL, makes that fatal). Its one-line outcome is printed again after pytest.
AUDIT_STATUS := $(SAFEGUARD_HOME)/dependency-audit.txt
# Two workers (pytest-xdist), a test module per worker at a time, longest modules first (tests/conftest.py): the slow
# tests spend much of their time waiting on subprocesses (dbt, dagster dev, the daemon's ticks), so the other worker
# fills the cores. `make test PYTEST_WORKERS=` runs them one by one, in the same order.
PYTEST_WORKERS ?= -n 2 --dist loadfile --no-loadscope-reorder
test: dbt-manifest
	@rm -f $(AUDIT_STATUS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SAFEGUARD_AUDIT_STATUS_FILE=$(AUDIT_STATUS) $(BIN)/python security/audit.py
	SAFEGUARD_TEST_POSTGRES_URL="$$(bash scripts/postgres-up.sh)" $(BIN)/pytest $(PYTEST_WORKERS); status=$$?; cat $(AUDIT_STATUS); exit $$status

ui: dbt-manifest dagster-home
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: dbt-manifest
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(SAFEGUARD_HOME) dbt_project/target dbt_project/logs
