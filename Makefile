# srtod-bench: the two commands of the README, and the pieces behind them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= all
PYTEST_ARGS ?=
# The rules call `srtod` and `snakemake` by name: put the venv first on PATH.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install test reproduce bench report clean-results help

help:
	@echo "make reproduce   install, then run every table on the smoke tier (reports/smoke/)"
	@echo "make test        install, then run the test suite (includes a tiny-tier snakemake run)"
	@echo "make bench       speed figures: SR-TOD inference overhead, AI-TOD metric backends"

$(VENV)/.srtod-installed: scripts/install.sh pyproject.toml $(wildcard requirements/*.txt)
	bash scripts/install.sh
	touch $@

install: $(VENV)/.srtod-installed

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

reproduce: install
	snakemake --cores $(CORES) --config tier=smoke

bench: install
	$(PY) -m srtod.bench

clean-results:
	rm -rf results/smoke results/tiny
