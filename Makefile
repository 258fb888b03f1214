# Paystream — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PAYSTREAM := $(VENV)/bin/paystream
PYTEST := $(VENV)/bin/pytest
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help system-deps setup up down status topics demo test unit lint clean compose-up compose-down \
	test-pure test-infra test-spark test-services test-slow java-test

help: ## list the targets
	@grep -hE '^[a-z][a-z -]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed (set PYTHON=...)"; exit 1; }
	@test -x $(VENV)/bin/python || { echo "… creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "… installing the pinned Python packages into $(VENV) (first run: about 3 minutes, 1.6 GB)"
	@$(VENV)/bin/pip install -q --upgrade pip
	@$(VENV)/bin/pip install -e '.[dev]' 2>&1 | grep --line-buffered -E '^(Collecting|Successfully installed|ERROR)' | cut -c1-100; exit $${PIPESTATUS[0]}
	@rm -f $(VENV)/.installed-* && touch $@

system-deps: ## install missing Debian packages (JDK 17, Maven, PostgreSQL)
	bash scripts/install-system-deps.sh

setup: system-deps $(STAMP) ## create .venv, install pinned packages, cache the JVM jars
	$(PAYSTREAM) setup

up: setup ## start Kafka and PostgreSQL and apply the schema
	$(PAYSTREAM) up

down: ## stop everything: producer, stream, dashboard, Airflow, Kafka, PostgreSQL
	$(PAYSTREAM) down

status: ## show what runs where
	$(PAYSTREAM) status

demo: setup ## run the whole platform (services, stream, producer, dashboard, Airflow); `make down` stops it
	$(PAYSTREAM) demo

test: export PAYSTREAM_PROFILE = test
test: setup ## the whole suite on real services, in tiers cheapest first (pure, infra, spark, services, slow), stopping after the first tier that fails
	$(PAYSTREAM) up
	$(PYTEST) -p no:cacheprovider --durations=25; rc=$$?; $(PAYSTREAM) down; exit $$rc

unit: setup ## the tiers that need no services (pure, infra, spark)
	$(PYTEST) -p no:cacheprovider -m "pure or infra or spark"

test-pure test-infra test-spark: test-%: setup ## one tier alone: no JVM / deployment tools / a JVM (Spark, JUnit)
	$(PYTEST) -p no:cacheprovider -m $*

test-services test-slow: export PAYSTREAM_PROFILE = test
test-services test-slow: test-%: setup ## one tier alone on real services (Kafka, PostgreSQL; slow: faults, cluster, demo)
	$(PAYSTREAM) up
	$(PYTEST) -p no:cacheprovider -m $*; rc=$$?; $(PAYSTREAM) down; exit $$rc

java-test: setup ## the Java processor's JUnit tests (tests/jvm), built by the build that compiles it
	$(PYTEST) -p no:cacheprovider tests/unit/test_jvm_unit_tests.py

lint: $(STAMP) ## ruff, mypy and the import floors (import-linter); needs only the Python packages
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

compose-up: ## build the image and start the Docker Compose stack (needs a Docker engine)
	@docker compose version >/dev/null 2>&1 || { echo "docker compose not found: install Docker Engine with the Compose v2 plugin, or run the same platform without it: make demo"; exit 1; }
	@test -f .env || { $(PYTHON) scripts/generate_env.py .env.example .env && echo "… wrote .env from .env.example with a generated value for each change-me secret"; }
	docker compose up -d --build

compose-down: ## stop the Docker Compose stack (volumes kept; add -v by hand to drop them)
	@docker compose version >/dev/null 2>&1 || { echo "docker compose not found"; exit 1; }
	docker compose down

clean: ## stop services and delete the state folder (.paystream)
	-$(PAYSTREAM) down
	-PAYSTREAM_PROFILE=test $(PAYSTREAM) down
	-PAYSTREAM_PROFILE=cluster $(PAYSTREAM) down
	rm -rf .paystream
