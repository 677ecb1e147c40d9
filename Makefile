# slackclone: two commands to know, `make run` and `make test`. See README.md; `make help` lists every target.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
# Local data of scripts/services.sh (PostgreSQL, Redis, MongoDB, logs, pid files).
DATA_DIR ?= $(CURDIR)/.data
export DATA_DIR

.PHONY: help run serve test services stop status migrate seed static lint schema clean-data browser screenshots \
	bench bench-quick fuzz chaos soak venv

help: ## List every target with what it does
	@echo "slackclone: make <target> [VAR=value ...]   (README.md, docs/deployment.md)"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'
	@echo "Variables: PORT=$(PORT) HOST=$(HOST) DATA_DIR=$(DATA_DIR) PG_PORT MONGO_PORT REDIS_PORT PYTEST_ARGS"

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

venv: $(VENV)/.installed ## Create .venv and install requirements.txt (again when it changes)

services: ## Start PostgreSQL, Redis and MongoDB (FerretDB) if they are not running; install what is missing
	@scripts/services.sh start

stop: ## Stop the services this checkout started (by their pid files)
	@scripts/services.sh stop

status: ## One line per service and for the web server of `make run`
	@scripts/services.sh status

migrate: venv services ## Apply PostgreSQL migrations and create the MongoDB indexes
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_mongo_indexes

seed: migrate ## Demo users, channels and messages (idempotent); prints the demo login
	$(PY) manage.py seed_demo --second-workspace

# Collected, hashed and compressed static files (whitenoise serves them); again when
# the installed packages change (the admin's and Swagger UI's files come from them).
staticfiles/staticfiles.json: $(VENV)/.installed
	$(PY) manage.py collectstatic --noinput -v 0

static: venv staticfiles/staticfiles.json ## Collect static files into staticfiles/ (make run does)

run: seed static ## Start everything and serve on http://$(HOST):$(PORT) until stopped (Ctrl-C)
	@mkdir -p $(DATA_DIR)/run
	@echo "slackclone on http://$(HOST):$(PORT)/ (API docs /api/v1/docs/, admin /admin/)"
	@printf '%s\n%s\n' $$$$ $(PORT) >$(DATA_DIR)/run/web.pid; \
		exec $(PY) -m slackclone.serve --host $(HOST) --port $(PORT)

serve: venv services ## Another server process against the same services, e.g. `make serve PORT=8001`
	$(PY) -m slackclone.serve --host $(HOST) --port $(PORT)

browser: ## Install Debian's chromium and chromium-driver if missing (for the browser test)
	@scripts/services.sh browser

test: venv services browser ## The whole test suite against real services (separate test databases)
	$(PY) -m pytest $(PYTEST_ARGS)

screenshots: venv services browser ## Run the browser tests and save their screenshots to docs/img/ (for the README)
	SLACKCLONE_SCREENSHOTS=docs/img $(PY) -m pytest tests/e2e/test_browser.py tests/e2e/test_webclient.py -q

lint: venv ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

schema: venv ## Validate the OpenAPI schema (warnings fail)
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

clean-data: ## Stop the services and DELETE all local data (database, messages, logs): a fresh start
	@scripts/services.sh clean
	rm -rf staticfiles

## Performance (docs/performance.md): every goal of issue 8 against a baseline measured
## in the same run, one table at the end. Uses the dev services and database.
bench: venv services ## All benchmarks with same-run baselines, one table (docs/performance.md)
	$(PY) manage.py migrate --noinput -v 0
	@uptime
	$(PY) bench/run_all.py

bench-quick: venv services ## The same benchmark scripts at small sizes (under a minute)
	$(PY) manage.py migrate --noinput -v 0
	$(PY) bench/run_all.py --quick

## Reliability (docs/reliability.md): schema fuzzing with many examples, fault injection, soak.
FUZZ_EXAMPLES ?= 200
fuzz: venv services ## Schema fuzzing with FUZZ_EXAMPLES (200) examples per operation
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/reliability/test_schema_fuzz.py -q -s -p no:cacheprovider --timeout=3600

chaos: venv ## Stop and restart each store under two server processes (private services)
	$(PY) bench/chaos.py

soak: venv ## Zero-loss soak: 200 clients for 5 minutes (SOAK_ARGS=...)
	$(PY) bench/soak.py $(SOAK_ARGS)
