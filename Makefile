# Two commands for a fresh machine:
#   make quickstart   create .venv, install edgedet with everything, run the main job on the built-in data
#   make test         create .venv if needed, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.edgedet-installed

.PHONY: install quickstart test lint clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch and torchvision come from this machine's local wheel store (CUDA build, runs on CPU too)
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e ".[all]"
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/edgedet quickstart

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check edgedet tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
