# momix: two set-up commands on a fresh machine -- `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
DEMO_OUT ?= momix-demo

.PHONY: demo test test-all lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip

# stamps record which extras are installed; they are redone when pyproject.toml changes
$(VENV)/.demo-installed: pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(PY)
	$(PIP) install -e ".[dev,dask,data,parquet,torch]"
	touch $@

demo: $(VENV)/.demo-installed
	$(VENV)/bin/momix demo --out $(DEMO_OUT)

test: $(VENV)/.test-installed
	$(PY) -m pytest -q

test-all: $(VENV)/.test-installed
	$(PY) -m pytest -q -m "slow or not slow"

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(VENV)/.test-installed
	@echo "benchmarks: $(VENV)/bin/momix bench <name> (see benchmarks/)"

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
