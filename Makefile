# Two commands: `make demo` (install, migrate, load the demo data, serve on http://127.0.0.1:8000)
# and `make test` (install, run the whole test suite). Only Python >= 3.11 and make are needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint bench bench-cda clean

demo: install
	$(BIN)/dui demo

test: install
	$(BIN)/python -m pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	@# Debian ships venv without ensurepip unless python3-venv is installed: then bootstrap pip from PyPI.
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); $(PYTHON) -m venv --without-pip $(VENV) && \
		$(BIN)/python -c 'import json, urllib.request, tempfile, runpy, sys; \
		u = [f["url"] for f in json.load(urllib.request.urlopen("https://pypi.org/pypi/pip/json"))["urls"] if f["url"].endswith(".whl")][0]; \
		p = tempfile.mktemp(suffix=".whl"); urllib.request.urlretrieve(u, p); sys.path.insert(0, p); \
		sys.argv = ["pip", "install", "--quiet", p]; runpy.run_module("pip", run_name="__main__")'; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

lint: install
	$(BIN)/ruff check app tests bench fixtures
	$(BIN)/ruff format --check app tests bench fixtures
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/bench_reads.py

bench-cda: install
	$(BIN)/python bench/bench_cda.py

clean:
	rm -rf $(VENV) data .pytest_cache
