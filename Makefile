# README's two commands: `make demo` and `make test`. Both create (once) and
# reuse a virtual environment in .venv with the package installed in editable
# mode (with the extras the tests and the demo's continuous recording need);
# it is rebuilt when setup.cfg changes.
#
# The Python: python3 when it is one of the versions setup.cfg lists, else the newest python3.N of them
# on PATH; PYTHON=python3.12 make demo names one. The s3 extra's set (make test-s3) needs 3.12 or older,
# since tensorflow-io has no wheel for 3.13: S3_PYTHON names it. Each is looked for once, when used.
SUPPORTED := $(shell sed -n 's/^ *Programming Language :: Python :: \(3\.[0-9]*\)$$/\1/p' setup.cfg | sort -t. -k2 -nr)
S3_SUPPORTED := $(filter-out 3.13,$(SUPPORTED))
is_one_of = $(1) -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] not in "$(2)".split())'
find_python = $(shell for p in python3 $(addprefix python,$(1)); do \
	$(call is_one_of,$$p,$(1)) 2>/dev/null && { echo $$p; break; }; done)
PYTHON ?= $(eval PYTHON := $(call find_python,$(SUPPORTED)))$(PYTHON)
S3_PYTHON ?= $(eval S3_PYTHON := $(call find_python,$(S3_SUPPORTED)))$(S3_PYTHON)
VENV ?= .venv
S3_VENV ?= .venv-s3
comma := ,
BIN := $(VENV)/bin
# Where `make demo` writes, passed as --output_dir (README: `WORKDIR=... make demo`).
WORKDIR ?= workdir/demo
PYTEST_ARGS ?=

.PHONY: demo reproduce test test-s3 test-fast lint docs clean

# $(call venv,PYTHON,VERSIONS,EXTRAS,NAME): the virtual environment of the target's folder, made anew
# with PYTHON (one of VERSIONS, else one line naming the variable NAME that chooses it), and the package
# installed in editable mode with EXTRAS.
define venv
@$(if $(1),$(call is_one_of,$(1),$(2)),false) 2>/dev/null || { echo "error: this needs Python $(lastword $(2))-$(firstword $(2)): $(if $(1),$(1) is not one,none is on PATH); install one, or name it: $(4)=python3.12 make $(or $(MAKECMDGOALS),demo)" >&2; exit 1; }
$(1) -m venv --clear $(@D)
$(@D)/bin/pip install --quiet --upgrade pip
$(@D)/bin/pip install --quiet -e '.[$(3)]'
touch $@
endef

$(VENV)/.installed: setup.cfg pyproject.toml
	$(call venv,$(PYTHON),$(SUPPORTED),test$(comma)waveforms$(comma)docs,PYTHON)

# The s3 extra's set: TensorFlow 2.17 with tensorflow-io, for s3://, hdfs://, az:// (docs/storage.md).
$(S3_VENV)/.installed: setup.cfg pyproject.toml
	$(call venv,$(S3_PYTHON),$(S3_SUPPORTED),s3$(comma)test,S3_PYTHON)

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

# The storage tests against a local S3 server (moto), on the s3 extra's set; CI runs them after make test.
test-s3: $(S3_VENV)/.installed
	$(S3_VENV)/bin/python -m pytest tests/test_storage.py $(PYTEST_ARGS)

test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(S3_VENV) workdir .pytest_cache
