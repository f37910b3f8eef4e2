PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

# The standard image sets' tests need torchvision, which does not import beside the CPU build
# of torch in .venv; a second environment holds a torch/torchvision pair built together.
VISION_VENV := .venv-vision
VISION_PY   := $(VISION_VENV)/bin/python

.PHONY: demo test test-vision lint bench docs clean

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

$(VISION_VENV)/.installed: pyproject.toml
	test -x $(VISION_PY) || $(PYTHON) -m venv $(VISION_VENV)
	$(VISION_PY) -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(VISION_PY) -m pip install --quiet -e '.[dev,vision]'
	touch $@

test-vision: $(VISION_VENV)/.installed
	RESODE_REQUIRE_VISION=1 $(VISION_PY) -m pytest -m vision

bench: $(VENV)/.installed
	$(PIP) install --quiet -e '.[bench]'
	$(PY) -m benchmarks

# The site, strict (a broken link or a missing reference fails the build), notebooks executed.
docs: $(VENV)/.installed-docs
	DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) $(VISION_VENV) runs build site .cache *.egg-info src/*.egg-info
