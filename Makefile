# FineRAG developer commands. `make demo` and `make test` create the environment when missing.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
PROFILE ?= smoke

# Nothing in the demo or the tests may reach for the Hugging Face Hub.
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-unit test-integration lint fmt up down load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed  ## create .venv and install FineRAG with every extra

demo: setup  ## run the pipeline end to end on the embedded default (no Docker, no servers)
	$(BIN)/finerag demo

test: setup  ## the whole test suite (unit + integration; needs Redis on 127.0.0.1:6379)
	$(BIN)/pytest

test-unit: setup
	$(BIN)/pytest -m "not integration"

test-integration: setup
	$(BIN)/pytest -m integration

lint: setup  ## ruff check, ruff format --check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

fmt: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

up:  ## the distributed stack under Docker Compose
	docker compose up -d --build

down:
	docker compose down

load: setup  ## Locust load profiles (arrive with the load-test issue)
	@test -f loadtests/locustfile.py || { echo "make load: no load tests yet (loadtests/ is empty)"; exit 2; }
	$(BIN)/locust -f loadtests/locustfile.py --config loadtests/$(PROFILE).conf

clean:
	rm -rf .finerag .pytest_cache .mypy_cache .ruff_cache
