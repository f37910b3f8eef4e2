PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test lint bench docs clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(VENV)/bin/activate pyproject.toml
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/bin/activate pyproject.toml
	$(PIP) install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

$(VENV)/.installed-docs: $(VENV)/bin/activate pyproject.toml
	$(PIP) install --quiet -e '.[docs]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(VENV)/bin/resode train --out runs/demo --force

test: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PIP) install --quiet -e '.[bench]'
	$(PY) -m benchmarks

# The site, strict (a broken link or a missing reference fails the build), notebooks executed.
docs: $(VENV)/.installed-docs
	DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) runs build site .cache *.egg-info src/*.egg-info
