# Two entry points for a fresh machine (Python 3.11, pip, make):
#   make demo   installs into .venv, learns people from LFW and asks whom a photo resembles
#   make test   installs into .venv, runs ruff and the test suite (every test)
#   make test-fast  the same without the tests marked slow (~95 s on 2 idle cores)
#   make bench  the regression suite: HEAD against main, fails on a slowdown beyond noise
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,demo]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/lookalike demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

test: lint
	$(BIN)/python -m pytest -q -ra

# the slowest tests are listed, so that one creeping into the fast run shows in its log
test-fast: lint
	$(BIN)/python -m pytest -q -ra -m "not slow" --durations=15

# BASE / HEAD: any two refs ('.' is the working tree), e.g. make bench BASE=v0.1.0 HEAD=.
BASE ?= main
HEAD ?= HEAD
bench: $(STAMP)
	$(BIN)/python -m bench.suite --base $(BASE) --head $(HEAD)

bench-quick: $(STAMP)
	$(BIN)/python -m bench.suite --quick --base $(BASE) --head $(HEAD)

clean:
	rm -rf $(VENV) build *.egg-info
