# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Each builds its own virtual environment, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN    := $(VENV)/.installed-run
TESTS  := $(VENV)/.installed-test

.PHONY: demo test bench clean assets browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The demo installs what the hub runs on; the tests add their tools (test, dev extras).
$(RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(RUN)

$(TESTS): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(TESTS) $(RUN)

tests/http_audit/node_modules: tests/http_audit/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix tests/http_audit

# The browser files the hub serves itself (GraphiQL, React), pinned by the lock file.
# Without npm the hub still runs; its GraphiQL page then says how to install them.
assets: web/node_modules
web/node_modules: web/package-lock.json
	@if command -v npm >/dev/null; then npm ci --silent --no-audit --no-fund --prefix web; \
	else echo "npm not found: GraphiQL needs 'make assets' once npm is installed"; fi

# The browser tests drive Debian's Chromium (Playwright's own download is not reachable).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: $(RUN) web/node_modules
	@echo "slrt-hub is installed in $(VENV): run $(BIN)/slrt-hub --help, or activate it first"
	@echo "with: source $(BIN)/activate"
	$(BIN)/slrt-hub demo

test: $(TESTS) tests/http_audit/node_modules web/node_modules browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: $(TESTS)
	$(BIN)/python -m bench.person_lookup

clean:
	rm -rf $(VENV) var tests/http_audit/node_modules web/node_modules
