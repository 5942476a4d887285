# momix: two set-up commands on a fresh machine -- `make demo` and `make test`.
#
# Both install from the lock, constraints.txt (exact versions, refreshed by `make lock`);
# `make test-latest` installs the newest versions pyproject.toml allows, in its own venv.
PYTHON ?= python3
VENV   ?= .venv
LATEST_VENV ?= .venv-latest
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
LOCK   := constraints.txt
EXTRAS := dev,dask,data,parquet,torch
DEMO_OUT ?= momix-demo

.PHONY: demo test test-all test-latest lint bench lock clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip

# stamps record which extras are installed; they are redone when pyproject.toml or the lock changes
$(VENV)/.demo-installed: pyproject.toml $(LOCK) | $(PY)
	$(PIP) install -c $(LOCK) -e ".[data]"
	touch $@

$(VENV)/.test-installed: pyproject.toml $(LOCK) | $(PY)
	$(PIP) install -c $(LOCK) -e ".[$(EXTRAS)]"
	touch $@

demo: $(VENV)/.demo-installed
	$(VENV)/bin/momix demo --out $(DEMO_OUT) --force

test: $(VENV)/.test-installed
	$(PY) -m pytest -q

test-all: $(VENV)/.test-installed
	$(PY) -m pytest -q -m "slow or not slow"

# the newest versions pyproject.toml allows, resolved now, in a venv of their own
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip --disable-pip-version-check -q install -U pip
	$(LATEST_VENV)/bin/python -m pip --disable-pip-version-check -q install -U \
		--upgrade-strategy eager -e ".[$(EXTRAS)]"
	$(LATEST_VENV)/bin/python -m pip --disable-pip-version-check list --format=freeze
	$(LATEST_VENV)/bin/python -m pytest -q

# re-resolve the lock from pyproject.toml's ranges in a throw-away venv
lock:
	d=$$(mktemp -d) && $(PYTHON) -m venv $$d/venv \
	&& $$d/venv/bin/python -m pip --disable-pip-version-check -q install -U pip \
	&& $$d/venv/bin/python -m pip --disable-pip-version-check -q install -e ".[$(EXTRAS)]" \
	&& { echo "# momix's lock: the exact versions 'make demo' and 'make test' install (pip constraints)."; \
	     echo "# Ranges live in pyproject.toml; refresh this file with 'make lock' (see README)."; \
	     $$d/venv/bin/python -m pip --disable-pip-version-check freeze --exclude-editable \
	     | sed 's/+cpu$$//'; } > $(LOCK) && rm -rf $$d
	@echo "wrote $(LOCK); run 'make test' and 'make test-latest', then commit it"

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(VENV)/.test-installed
	$(VENV)/bin/momix bench --help

clean:
	rm -rf $(VENV) $(LATEST_VENV) $(DEMO_OUT) .pytest_cache
