# The two commands that matter: `make run` and `make test`. See README.md.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# First interpreter among python3.13, python3.12, python3 that is >= 3.12 (Django 6 needs it).
PYTHON := $(shell for p in python3.13 python3.12 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; \
	then echo $$p; break; fi; done)

.DEFAULT_GOAL := help
.PHONY: help run test lint format install migrate seed worker check-python bench soak

help:
	@echo "make run     install, migrate, load demo data, serve on http://$(HOST):$(PORT) with a task worker"
	@echo "make test    the whole test suite (DATABASE_URL=postgres://... for PostgreSQL)"
	@echo "make lint    ruff check + format check;  make format  fix them"
	@echo "make worker  run a task worker alone (make run starts one); it re-runs tasks whose worker died"
	@echo "make bench   1M sessions in PostgreSQL, timed reads, gunicorn + wrk; writes bench/results.*"
	@echo "make soak    2 app servers + 1 worker on PostgreSQL, 50 customers paying at once; checks each paid once"

check-python:
	@if [ -z "$(PYTHON)" ]; then \
		echo "error: Python 3.12 or newer is required (Django 6.1). Tried python3.13, python3.12, python3."; \
		echo "       Install one (e.g. 'pyenv install 3.12') and run make again."; \
		exit 1; fi

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# A plain (not editable) install: the project runs from this folder; pip installs only what
# pyproject.toml depends on.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt '.[dev]'
	@touch $@

install: $(VENV)/.installed

migrate: install
	@mkdir -p var
	$(BIN)/python manage.py migrate --no-input

seed: migrate
	$(BIN)/python manage.py seed_demo

# Links in API responses, emails and callbacks point at the server make run starts. Callback
# retries come after 5 s, 15 s, 30 s … so a demo shows them (production: 1 min, 5 min, …).
run: export SITE_URL ?= http://$(HOST):$(PORT)
run: export CALLBACK_RETRY_SCHEDULE ?= 5,15,30,60,300,1800,3600
run: export HOST := $(HOST)
run: seed
	@$(BIN)/python manage.py demo_urls --base $(SITE_URL)
	@$(BIN)/honcho --no-colour start --procfile Procfile --port $(PORT)

# checkout's db_worker: the library's worker, which also re-runs tasks whose worker died
# (TASK_STALE_AFTER_SECONDS); every db_worker option works, e.g. make worker WORKER_ARGS=--batch.
worker: migrate
	$(BIN)/python manage.py db_worker --interval 1 $(WORKER_ARGS)

test: install
	@mkdir -p var test-artifacts
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The benchmark (README, "Benchmark"): its own PostgreSQL database, emptied on every run (the
# name must contain "bench"), production settings plus a bare view (bench/settings.py).
bench: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/checkout_bench
bench: export DJANGO_SETTINGS_MODULE := bench.settings
bench: export BENCH_SESSIONS ?= 1000000
bench: install
	$(BIN)/python -m bench createdb
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python -m bench

# The soak (README, "Soak"): two gunicorn servers (production settings, bench/settings.py) and one
# db_worker on one PostgreSQL database, dropped and created again on every run (the name must
# contain "soak"); a callback receiver and an SMTP server on 127.0.0.1. Exits 1 on any violation.
soak: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/checkout_soak
soak: export SOAK_CUSTOMERS ?= 50
soak: export SOAK_DOUBLE_SUBMITS ?= 10
soak: install
	$(BIN)/python -m bench soak
