# Two commands matter: `make lab` (open the notebooks) and `make test` (run every test).
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV ?= .venv
TORCH ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.alignkit-installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install lab test test-fast lint format browser-deps bench site clean

$(STAMP): pyproject.toml scripts/bootstrap.py jupyter-config/alignkit.json
	$(PYTHON) scripts/bootstrap.py --venv $(VENV) --torch "$(TORCH)"
	$(PY) -m pip install --progress-bar off -q -e ".[dev]"
	# editable installs skip data files: enable the server extension (alignkit_server/__init__.py)
	mkdir -p $(VENV)/etc/jupyter/jupyter_server_config.d
	cp jupyter-config/alignkit.json $(VENV)/etc/jupyter/jupyter_server_config.d/alignkit.json
	touch $(STAMP)

install: $(STAMP)

lab: install
	$(VENV)/bin/alignkit lab

browser-deps:
	$(PY) scripts/ensure_chromium.py

lint: install
	$(VENV)/bin/ruff check alignkit alignkit_server tests benchmarks scripts notebooks
	$(VENV)/bin/ruff format --check alignkit alignkit_server tests benchmarks scripts notebooks
	$(VENV)/bin/mypy alignkit alignkit_server

# The README's test command: lint, unit, notebook and browser tests, fast mode.
test: install browser-deps lint
	ALIGNKIT_FAST=1 $(PY) -m pytest -ra

test-fast: install
	ALIGNKIT_FAST=1 $(PY) -m pytest -ra -m "not browser"

format: install
	$(VENV)/bin/ruff format alignkit alignkit_server tests benchmarks scripts notebooks
	$(VENV)/bin/ruff check --fix alignkit alignkit_server tests benchmarks scripts notebooks

# The offline site: every notebook executed, one page each plus an index, in ./site.
site: install
	$(VENV)/bin/alignkit render --out site

# Speed comparisons, written to benchmarks/results/*.json (hessian.py: see its docstring).
bench: install browser-deps
	$(PY) benchmarks/explorers.py
	$(PY) benchmarks/sweep.py --threads 1
	$(PY) benchmarks/latency.py
	$(PY) benchmarks/summary.py
	$(PY) benchmarks/figure_draw.py
	$(PY) benchmarks/figure_floor.py
	$(PY) benchmarks/divergences.py
	$(PY) benchmarks/manifold.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
