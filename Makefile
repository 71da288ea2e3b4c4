# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Each builds its own virtual environment, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN    := $(VENV)/.installed-run
TESTS  := $(VENV)/.installed-test

.PHONY: demo test bench clean assets browser java lock lowest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The demo installs what the hub runs on; the tests add their tools (test, dev extras).
# Installs follow the lock files (requirements/*.lock, made by `make lock`), so every
# machine runs the versions the suite passed on.
$(RUN): pyproject.toml requirements/run.lock | $(BIN)/python
	$(BIN)/pip install --quiet -c requirements/run.lock -e '.[linkage]'
	touch $(RUN)

$(TESTS): pyproject.toml requirements/test.lock | $(BIN)/python
	$(BIN)/pip install --quiet -c requirements/test.lock -e '.[test,dev,linkage,spark]'
	touch $(TESTS) $(RUN)

tests/http_audit/node_modules: tests/http_audit/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix tests/http_audit

# axe-core, which the console's browser tests inject to check each page's accessibility.
tests/a11y/node_modules: tests/a11y/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix tests/a11y

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

# Spark (the national-scale scoring backend, tested in local mode) runs on Java 17+.
java:
	@command -v java >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

demo: $(RUN) web/node_modules
	@echo "slrt-hub is installed in $(VENV): run $(BIN)/slrt-hub --help, or activate it first"
	@echo "with: source $(BIN)/activate"
	$(BIN)/slrt-hub demo

test: $(TESTS) tests/http_audit/node_modules tests/a11y/node_modules web/node_modules browser java
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# Relock after changing a dependency: the newest versions the bounds allow, and the
# lowest, which `make lowest` installs in a separate environment and tests.
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --python-version 3.11 --quiet
lock: $(TESTS)
	$(BIN)/pip install --quiet uv
	$(UV_COMPILE) --extra linkage -o requirements/run.lock
	$(UV_COMPILE) --extra test --extra dev --extra linkage --extra spark -o requirements/test.lock
	$(UV_COMPILE) --extra test --extra dev --extra linkage --extra spark --resolution lowest-direct \
	  -o requirements/lowest-direct.lock

lowest: tests/http_audit/node_modules tests/a11y/node_modules web/node_modules browser java | $(BIN)/python
	$(BIN)/pip install --quiet uv
	rm -rf .venv-lowest && $(BIN)/uv venv --quiet -p $(PYTHON) .venv-lowest
	VIRTUAL_ENV=.venv-lowest $(BIN)/uv pip install --quiet -r requirements/lowest-direct.lock
	VIRTUAL_ENV=.venv-lowest $(BIN)/uv pip install --quiet --no-deps -e .
	.venv-lowest/bin/python -m pytest -p no:cacheprovider

bench: $(TESTS)
	$(BIN)/python -m bench.person_lookup

clean:
	rm -rf $(VENV) .venv-lowest var tests/http_audit/node_modules tests/a11y/node_modules web/node_modules
