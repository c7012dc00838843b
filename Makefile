# The two commands of the README:
#   make run   install everything and start the server on the embedded default
#   make test  install everything the tests need and run lint, types and the suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DASHBOARD := inferql/static/dashboard/index.html

.PHONY: run test check lint typecheck pytest install dashboard system-deps format constraints clean builtins

run: $(INSTALLED) dashboard
	$(BIN)/inferql serve

# System packages first: the dashboard build needs npm, the browser test chromium.
test: system-deps $(INSTALLED) dashboard check pytest

check: lint typecheck

lint: $(INSTALLED)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

pytest: $(INSTALLED)
	$(BIN)/pytest

install: $(INSTALLED) dashboard

# torch first, from the constraints file: installed on its own it resolves to the
# pinned CPU build instead of whatever another package would pull in.
$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt torch
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

# The /dashboard page: bundled from dashboard/ into the package's static files
# (git-ignored; wheels carry them). Without npm the server runs and /dashboard
# says how to build it.
dashboard: $(DASHBOARD)

$(DASHBOARD): dashboard/package.json dashboard/package-lock.json dashboard/build.mjs $(wildcard dashboard/src/*)
	@if command -v npm >/dev/null 2>&1; then \
		cd dashboard && npm ci --no-audit --no-fund && npm run build; \
	else \
		echo "npm not found: /dashboard is not built (install Node.js and npm, then make install)"; \
	fi

# Services and binaries the tests use (redis-server, chromium, npm), from Debian's packages.
system-deps:
	bash scripts/install-system-deps

# Rebuild the trained built-in classifiers (sentiment@2, intent@1) from
# ../shared/data with fixed seeds: ~10-20 minutes on 2 cores.
builtins: $(INSTALLED)
	OPENBLAS_NUM_THREADS=1 BIN=$(BIN) bash scripts/build-builtins

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

constraints: $(INSTALLED)
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu//' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache dashboard/node_modules inferql/static/dashboard
