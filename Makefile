# README's two commands: `make demo` and `make test`. Both create (once) and
# reuse a virtual environment in .venv with the package installed in editable
# mode (with the extras the tests and the demo's continuous recording need);
# it is rebuilt when setup.cfg changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Where `make demo` writes, passed as --output_dir (README: `WORKDIR=... make demo`).
WORKDIR ?= workdir/demo
PYTEST_ARGS ?=

.PHONY: demo reproduce test test-fast lint docs clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,waveforms,docs]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m techtonics.demo --output_dir=$(WORKDIR)

# The original's experiments on a synthetic STEAD (docs/RESULTS.md); about two hours on 2 cores.
reproduce: $(VENV)/.installed
	$(BIN)/python -m techtonics.reproduce --output_dir=workdir/reproduce \
		--real_metadata=$(wildcard ../shared/data/stead_metadata_100_real.csv)

lint: $(VENV)/.installed
	$(BIN)/ruff check techtonics tools tests
	$(BIN)/ruff format --check techtonics tools tests

# The documentation site, in workdir/site; --strict turns every warning, a broken link or anchor among
# them, into a failure. NO_MKDOCS_2_WARNING silences mkdocs-material's banner about its successor.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir workdir/site

test: lint docs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) workdir .pytest_cache
