# srtod-bench: the two commands of the README, and the pieces behind them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= all
PYTEST_ARGS ?=
# The rules call `srtod` and `snakemake` by name: put the venv first on PATH.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install doctor test reproduce paper-check bench report clean-results help

help:
	@echo "make reproduce   install, then run every table on the smoke tier (reports/smoke/)"
	@echo "make test        install, then run the test suite (includes a tiny-tier snakemake run)"
	@echo "make paper-check every paper config at paper size, 2 iterations on synthetic images (reports/check/)"
	@echo "make doctor      torch, CUDA, mmcv kernels and GPUs of this machine (run on a GPU node)"
	@echo "make bench       speed figures: SR-TOD inference overhead, AI-TOD metric backends, workflow time"

$(VENV)/.srtod-installed: scripts/install.sh scripts/mmcv_plan.py pyproject.toml $(wildcard requirements/*.txt)
	bash scripts/install.sh
	touch $@

install: $(VENV)/.srtod-installed

# torch build, CUDA, mmcv's kernels and the GPUs seen; exit 1 when a GPU job would fail here.
doctor: install
	$(VENV)/bin/srtod doctor

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

reproduce: install
	snakemake --cores $(CORES) --config tier=smoke

# The check tier: each paper config trains 2 iterations and tests 2 images at the paper's input
# size, randomly initialised; train.json records peak memory and s/iter (srtod plan reads them).
paper-check: install
	snakemake --cores $(CORES) --config tier=check

bench: install
	$(PY) -m srtod.bench

clean-results:
	rm -rf results/check results/smoke results/tiny
