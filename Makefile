# slackclone: two commands to know, `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run serve test services stop status migrate seed lint schema clean-data bench bench-quick

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

services:
	@scripts/services.sh start

stop:
	@scripts/services.sh stop

status:
	@scripts/services.sh status

migrate: venv services
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_mongo_indexes

seed: migrate
	$(PY) manage.py seed_demo --second-workspace

## Start everything and serve on http://$(HOST):$(PORT) until stopped.
run: seed
	$(PY) manage.py collectstatic --noinput -v 0
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) slackclone.asgi:application

## Another server process against the same services, e.g. `make serve PORT=8001`.
serve: venv services
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) slackclone.asgi:application

## The whole test suite against real services (separate test databases).
test: venv services
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

schema: venv
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

## Performance (README "Performance"): every goal of issue 8 against a baseline measured
## in the same run, one table at the end. Uses the dev services and database.
bench: venv services
	$(PY) manage.py migrate --noinput -v 0
	@uptime
	$(PY) bench/run_all.py

bench-quick: venv services
	$(PY) manage.py migrate --noinput -v 0
	$(PY) bench/run_all.py --quick

## Reliability (README "Reliability"): schema fuzzing with many examples, fault injection, soak.
FUZZ_EXAMPLES ?= 200
fuzz: venv services
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/reliability/test_schema_fuzz.py -q -s -p no:cacheprovider --timeout=3600

chaos: venv
	$(PY) bench/chaos.py

soak: venv
	$(PY) bench/soak.py $(SOAK_ARGS)
