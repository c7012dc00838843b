# The two commands of the README:
#   make run   install everything and start the server on the embedded default
#   make test  install everything the tests need and run lint, types and the suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test check lint typecheck pytest install system-deps format constraints clean

run: $(INSTALLED)
	$(BIN)/inferql serve

test: $(INSTALLED) system-deps check pytest

check: lint typecheck

lint: $(INSTALLED)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

pytest: $(INSTALLED)
	$(BIN)/pytest

install: $(INSTALLED)

# torch first, from the constraints file: installed on its own it resolves to the
# pinned CPU build instead of whatever another package would pull in.
$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt torch
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

# Services and binaries the tests start themselves (redis-server), from Debian's packages.
system-deps:
	bash scripts/install-system-deps

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

constraints: $(INSTALLED)
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu//' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
