# envmon — the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv services-up services-down services-status demo test test-unit bench lint clean

help:
	@echo "make demo           set up everything and run the six-hour night demo"
	@echo "make test           the whole test suite (starts the private services)"
	@echo "make services-up    start the private Mosquitto and InfluxDB (loopback, data in .run/)"
	@echo "make services-down  stop exactly the processes services-up started"
	@echo "make bench          the long benchmarks (envmon bench ...)"
	@echo "make lint           ruff and mypy"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

services-up: venv
	$(PY) -m envmon.services up

services-down:
	@if [ -x $(PY) ]; then $(PY) -m envmon.services down; else $(PYTHON) -m envmon.services down; fi

services-status: venv
	$(PY) -m envmon.services status

demo: services-up
	$(VENV)/bin/envmon demo

test: venv
	$(PY) -m envmon.services up --test-deps
	$(PY) -m pytest -q tests envmon ingest analytics firmware_sim dashboards

test-unit: venv
	$(PY) -m pytest -q tests/unit envmon ingest analytics firmware_sim dashboards

bench: services-up
	$(VENV)/bin/envmon bench all

lint: venv
	$(PY) -m ruff check envmon ingest analytics firmware_sim dashboards tests
	$(PY) -m mypy envmon ingest analytics firmware_sim dashboards

clean: services-down
	rm -rf .run out
