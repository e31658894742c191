# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= config.toml

.PHONY: run test test-pg lint bench clean help

help:
	@echo "make run   - set up, initialise tracker.db, load the COP12 sample and a demo season, run the"
	@echo "             scheduler and the web server (the page's address is printed) until Ctrl-C"
	@echo "make test  - set up (with test tools and ical.js) and run the whole test suite"
	@echo "make test-pg - the test suite again with PostgreSQL as the store (see README)"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

node_modules/.stamp: package.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

run: $(STAMP)
	$(BIN)/tracker --config $(CONFIG) init --sample examples/cop12.toml --demo
	$(BIN)/tracker --config $(CONFIG) deadline list --upcoming
	$(BIN)/tracker --config $(CONFIG) publish
	$(BIN)/tracker --config $(CONFIG) run

test: $(STAMP) node_modules/.stamp
	$(BIN)/ruff check tracker tests scheduler.py bench deploy
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The same tests with PostgreSQL (TRACKER_TEST_PG_URL, default postgres@127.0.0.1:5432/test) as
# the store of every test that takes a database; fails when PostgreSQL does not answer.
test-pg: $(STAMP) node_modules/.stamp
	TRACKER_TEST_DB=postgresql $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules .pytest_cache
