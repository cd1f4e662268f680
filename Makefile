# The two commands of the README: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config.toml
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
STAMP_BENCH := $(VENV)/.installed-bench

.PHONY: run test lint typecheck pytest migrate clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[speedups]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN)

## run: install, migrate the database, and serve $(CONFIG) on its host and port.
run: $(STAMP_RUN)
	$(BIN)/fedserver --config $(CONFIG) migrate
	$(BIN)/fedserver --config $(CONFIG) serve

migrate: $(STAMP_RUN)
	$(BIN)/fedserver --config $(CONFIG) migrate

## test: ruff, mypy strict on the five packages, and the whole pytest suite.
test: lint typecheck pytest

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP_DEV)
	$(BIN)/mypy

pytest: $(STAMP_DEV)
	$(BIN)/pytest -q

$(STAMP_BENCH): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@ $(STAMP_RUN)

## bench: the performance scenarios of ../shared/PERF.md, one table, appended to
## bench/RESULTS.md (quick, under 3 minutes; FULL=1 for PERF.md's sizes).
bench: $(STAMP_BENCH)
	$(BIN)/python -m bench.run $(if $(FULL),--full)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
