# The two commands of the README are `make run` and `make test`; everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench loadtest lock clean

# Dependencies come from the lock (hashes checked), the project itself is installed editable.
$(BIN)/.installed: pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

## Start the API on the embedded default (SQLite, in-process Redis, demo data) on :8000
run: $(BIN)/.installed
	$(BIN)/asoud quickstart

## The whole suite: lint, types, then every test against real PostgreSQL and Redis
test: $(BIN)/.installed lint
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check app operator tests loadtests
	$(BIN)/ruff format --check app operator tests loadtests
	$(BIN)/mypy

## Figures, not assertions: requests/s and latency over loopback
bench: $(BIN)/.installed
	$(BIN)/python loadtests/bench_identity.py
	$(BIN)/python loadtests/bench_catalogue.py
	$(BIN)/python loadtests/bench_search.py
	$(BIN)/python loadtests/bench_marketplace.py
	$(BIN)/python loadtests/bench_background.py
	$(BIN)/python loadtests/bench_operator.py

## Locust journeys + a real Prometheus: every SLO by PromQL, non-zero exit on a miss
loadtest: $(BIN)/.installed
	$(BIN)/python loadtests/slo_check.py

## Re-resolve the locks after changing pyproject.toml (the image installs requirements/app.lock)
lock: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra operator --generate-hashes --python-version 3.11 --no-header -o requirements/app.lock
	$(BIN)/uv pip compile pyproject.toml --extra operator --extra dev --extra load --generate-hashes --python-version 3.11 --no-header -o requirements/dev.lock

clean:
	rm -rf $(VENV) .asoud .mypy_cache .ruff_cache .pytest_cache
