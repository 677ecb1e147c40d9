# slackclone: two commands to know, `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run serve test services stop status migrate seed lint schema clean-data

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
	$(PY) manage.py seed_demo

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
