# Two commands do all setup on a fresh machine:
#   make reproduce   the reference report from one command (venv, install, train, analyse, report)
#   make test        the test suite
# Real data: set DATA_ROOT (a folder holding CIFAR10/ and MNIST/ in the reference layout);
# without it, the built-in scikit-learn digits are used and every output says so.

PYTHON ?= python3
VENV ?= .venv
PROFILE ?= quick
DATA_ROOT ?= $(CONVSCOPE_DATA_ROOT)
# offline (digits) and real-data outputs never share a folder (same names as `convscope run`)
OUT ?= out/assignment2-$(PROFILE)-$(if $(DATA_ROOT),realdata,digits)
# tests read the real data from DATA_ROOT (or CONVSCOPE_DATA_ROOT), else ../shared/data when it is there
TEST_DATA_ROOT ?= $(if $(DATA_ROOT),$(abspath $(DATA_ROOT)),$(wildcard $(abspath ../shared/data)))

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
	CONVSCOPE_DATA_ROOT=$(TEST_DATA_ROOT) $(BIN)/python -m pytest -q --durations=15

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks experiments tools
	$(BIN)/ruff format --check src tests benchmarks experiments tools

clean:
	rm -rf $(VENV) out
