# Shipyard: `make run` starts the embedded default; `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
# Byte-code caching makes repeated runs several seconds faster; some shells turn it off globally.
export PYTHONDONTWRITEBYTECODE :=
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help run idp test lint test-sqlite test-postgres bench bench-compare install test-deps clean cluster cluster-down

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	@# uv is the recommended installer; without it, bootstrap it with pip into a private venv.
	@$(PYTHON) -m venv .tools 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null; \
	  else echo "python3-venv is missing: sudo apt-get install python3-venv" >&2; exit 1; fi; \
	  $(PYTHON) -m venv .tools; }
	.tools/bin/pip install --quiet uv

$(BIN)/shipyard: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen
	@touch $@

install: $(BIN)/shipyard ## Create the virtualenv from the lockfile

# `make run PORT=8001` (or PORT/SHIPYARD_PORT in the environment) picks another port; `make idp` follows it.
APP_PORT = $(or $(PORT),$(SHIPYARD_PORT),8000)

run: install ## Migrate ./var/shipyard.db and start Shipyard on http://127.0.0.1:8000 (PORT=... for another)
	$(BIN)/shipyard migrate
	SHIPYARD_PORT=$(APP_PORT) SHIPYARD_PUBLIC_URL="$${SHIPYARD_PUBLIC_URL:-http://127.0.0.1:$(APP_PORT)}" $(BIN)/shipyard serve

idp: install ## Run a local OpenID provider on http://127.0.0.1:9400 so that `make run` can sign people in
	@PORT=$(APP_PORT) bash scripts/dev-idp.sh

test-deps: ## Install the Debian packages the test servers need (as root)
	@bash scripts/install-test-deps.sh

lint: install ## ruff, ruff format, mypy --strict and bandit
	$(BIN)/ruff check src tests bench deploy
	$(BIN)/ruff format --check src tests bench deploy
	$(BIN)/mypy
	$(BIN)/mypy --explicit-package-bases deploy/cluster
	$(BIN)/bandit -q -ll -r src

test-sqlite: install test-deps
	SHIPYARD_TEST_DB=sqlite $(BIN)/pytest

test-postgres: install test-deps
	SHIPYARD_TEST_DB=postgres $(BIN)/pytest

test: lint test-sqlite test-postgres ## The whole suite: lint, then every test on SQLite and on PostgreSQL

# `make bench BENCH_SCALE=quick` smoke-tests every phase in a few minutes; BENCH_SCALE=0.1 runs the
# scale phase at a tenth of its 1M invoices. Command-line variables reach bench/run.py's environment.
bench: install test-deps ## Issue 17's targets as PASS/MISS: routes under gunicorn on PostgreSQL (wrk), deliveries, a 1M-invoice tenant
	$(BIN)/python bench/run.py

BASELINE ?= HEAD~1
bench-compare: install test-deps ## CPU per request of the read and list routes, this code against BASELINE=<git ref>, alternated
	$(BIN)/python bench/compare.py --baseline $(BASELINE)

cluster: install test-deps ## Start the six-host Debian cluster (deploy/cluster/README.md), apply deploy/ansible/site.yml, print how to reach it
	$(BIN)/python -m deploy.cluster up

cluster-down: ## Stop the cluster and remove its network namespace
	$(BIN)/python -m deploy.cluster down

clean: ## Remove the virtualenv, caches and the local database
	rm -rf $(VENV) .tools var .pytest_cache .mypy_cache .ruff_cache
