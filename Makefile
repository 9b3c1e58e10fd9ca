# Two commands do all the set-up on a fresh machine:
#   make quickstart   creates .venv, installs mlfactory, runs `mlfactory quickstart`
#   make test         creates .venv, installs with test extras, runs the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
QUICKSTART_DIR ?= quickstart
# Azurite, Microsoft's Azure Storage emulator, serves the az:// tests; from the npm registry into .ci/node
AZURITE_VERSION := 3.37.0
AZURITE := .ci/node/.azurite-$(AZURITE_VERSION)

.PHONY: quickstart test install install-dev lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

# torch first, pinned: this exact version resolves to the CPU build here, and `.[dev]` then finds torch
# satisfied instead of pulling the multi-GB CUDA build
install-dev: $(BIN)/python $(AZURITE)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"

# once per version; without npm the Azure Blob tests skip (and fail where MLFACTORY_REQUIRE_SERVICES=1)
$(AZURITE):
	@if command -v npm >/dev/null; then \
	  npm install --prefix .ci/node --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION) && touch $@; \
	else echo "npm not found: the Azure Blob (az://) tests will skip"; fi

quickstart: install
	$(BIN)/mlfactory quickstart $(QUICKSTART_DIR)

test: install-dev
	$(BIN)/python -m pytest tests

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy src/mlfactory

bench: install-dev
	$(BIN)/python benchmarks/tracking.py

clean:
	rm -rf $(VENV) $(QUICKSTART_DIR) .pytest_cache
