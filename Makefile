# Aurora — `make demo` to run it, `make test` to test it. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
TEST_WORKERS ?= auto

.PHONY: help venv services stop status migrate demo-data demo serve test screenshots bench lint format lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(INSTALLED): requirements.lock
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required: install python3.11 (and python3.11-venv)."; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "Python 3.11 is required; $(PYTHON) is $$($(PYTHON) -V)."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	@touch $@

venv: $(INSTALLED) ## create .venv with the locked dependencies

services: ## start the project-local PostgreSQL and Redis under .var/ (unless DATABASE_URL/REDIS_URL are set)
	@scripts/services.sh up

stop: ## stop the local services started by make demo / make test
	@scripts/services.sh down

status: ## show the local services
	@scripts/services.sh status

migrate: venv services ## apply database migrations
	$(PY) manage.py migrate --noinput

DEMO_RECORDINGS := ingestion/recordings/solana-mainnet

DEMO_PIPELINE := --chain solana-mainnet --from-period 850 --to-period 853 --provider replay

demo-data: migrate ## registry, demo validators, users and agreements; the recorded epochs ingested, normalized, recomputed through Celery (safe to re-run)
	$(PY) manage.py sync_registry
	$(PY) manage.py register_validators --chain solana-mainnet --file $(DEMO_RECORDINGS)/validators.json
	scripts/pipeline.sh $(DEMO_PIPELINE) --stages ingest,normalize
	DEBUG=true $(PY) manage.py demo_users
	DEBUG=true $(PY) manage.py demo_agreements
	scripts/pipeline.sh $(DEMO_PIPELINE) --stages recompute
	DEBUG=true $(PY) manage.py demo_ethereum
	DEBUG=true $(PY) manage.py demo_statements

serve: ## serve admin, portal and API on http://$(HOST):$(PORT), with a Celery worker and beat (schedules)
	@echo "Serving on http://$(HOST):$(PORT)/admin/  (Ctrl-C to stop; 'make stop' stops the databases)"
	HOST=$(HOST) PORT=$(PORT) scripts/serve.sh

demo: demo-data serve ## everything: venv, services, migrations, demo data, server

test: venv services ## run the whole test suite against the local PostgreSQL
	$(VENV)/bin/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

screenshots: venv services ## save the portal's pages as PNGs in docs/screenshots/ (its browser tests, needs chromium)
	AURORA_SCREENSHOTS=1 $(VENV)/bin/pytest -p no:cacheprovider tests/portal/test_portal_browser.py

bench: venv services ## run the benchmarks (bench/README.md) against a scratch database aurora_bench_<pid>
	$(PY) -m bench $(BENCH_ARGS)

lint: venv ## ruff, mypy and the import contracts (pyproject.toml [tool.importlinter])
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=true $(VENV)/bin/mypy .  # the django-stubs plugin loads settings; no services needed
	$(VENV)/bin/lint-imports --no-cache

format: venv ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lock: ## re-resolve requirements.lock from pyproject.toml (needs uv)
	uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --generate-hashes -o requirements.lock

clean: stop ## stop services and remove .venv and .var (all local data)
	rm -rf $(VENV) .var
