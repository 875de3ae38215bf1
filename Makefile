# Two commands do all setup on a fresh machine:
#   make reproduce   the reference report from one command (venv, install, train, analyse, report)
#   make test        the test suite
# Real data: set DATA_ROOT (a folder holding CIFAR10/ and MNIST/ in the reference layout);
# without it, the built-in scikit-learn digits are used and every output says so.

PYTHON ?= python3
VENV ?= .venv
PROFILE ?= quick
OUT ?= out/assignment2-$(PROFILE)
DATA_ROOT ?= $(CONVSCOPE_DATA_ROOT)
# tests read the reference data from ../shared/data when it is there
TEST_DATA_ROOT ?= $(if $(CONVSCOPE_DATA_ROOT),$(CONVSCOPE_DATA_ROOT),$(wildcard $(abspath ../shared/data)))

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: reproduce test lint install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,ray]'
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/convscope run experiments/assignment2.toml --profile $(PROFILE) --out $(OUT) \
		$(if $(DATA_ROOT),--data-root $(DATA_ROOT),)

test: $(STAMP)
	CONVSCOPE_DATA_ROOT=$(TEST_DATA_ROOT) $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) out
