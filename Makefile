# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint unit e2e bench setup clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## Start Berth on the embedded default (SQLite, filesystem, in-process workers) on 127.0.0.1:5000.
run: $(STAMP)
	@echo "berth is $(abspath $(BIN))/berth (not on PATH: run it by that path, or source $(BIN)/activate)"
	$(BIN)/berth serve

## Install what the tests use (Debian packages when root), then lint, type-check and test everything.
test: $(STAMP)
	bash ops/dev/install-test-deps.sh
	$(MAKE) lint
	$(BIN)/pytest -q -ra --durations=25

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest -q -m "not e2e"

e2e: $(STAMP)
	$(BIN)/pytest -q -m e2e

bench: $(STAMP)
	bench/run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
