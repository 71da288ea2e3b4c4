# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Each builds its own virtual environment, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

tests/http_audit/node_modules: tests/http_audit/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix tests/http_audit

demo: $(STAMP)
	$(BIN)/slrt-hub demo

test: $(STAMP) tests/http_audit/node_modules
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench.person_lookup

clean:
	rm -rf $(VENV) var tests/http_audit/node_modules
