# FineRAG developer commands. `make demo` and `make test` create the environment when missing.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
PROFILE ?= smoke
# The local stack's ports and settings (`make up-local`, `make load`): KEY=VALUE lines.
LOCAL_ENV ?= infra/local/local.env
local_env = $(shell sed -n 's/^$(1)=//p' $(LOCAL_ENV))
LOAD_KB      ?= acme
LOAD_REPORTS ?= .finerag/loadtests
LOAD_SAMPLE  ?= .finerag/loadtests/sample-domain
LOAD_ARGS    ?=
LOAD_SEED    ?= 1

# Nothing in the demo or the tests may reach for the Hugging Face Hub.
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-unit test-integration test-alone lint fmt up up-cpu down up-local load clean

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
	$(BIN)/pytest -m "not integration and not quality"

test-integration: setup
	$(BIN)/pytest -m integration

test-alone: setup  ## every test in a process of its own (tests/alone.py): an hour or more
	$(BIN)/python -m tests.alone

lint: setup  ## ruff check, ruff format --check, mypy, the import contracts (pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

fmt: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

up:  ## the distributed stack under Docker Compose (NVIDIA GPU for the trainer and the gateway)
	docker compose --profile gpu up -d --build

up-cpu:  ## the same stack on a machine without a GPU (slow: for trying it out)
	docker compose --profile cpu up -d --build

down:
	docker compose --profile gpu --profile cpu down

up-local: setup  ## every service as a local process on 127.0.0.1 (honcho; Redis as found)
	@model="$(call local_env,FINERAG_BASE_MODEL)"; \
	if [ "$$model" = "$(call local_env,FINERAG_DATA_DIR)/tiny-model" ] && [ ! -f "$$model/config.json" ]; then \
		$(BIN)/finerag model tiny --out "$$model"; fi
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho --procfile infra/local/Procfile --env $(LOCAL_ENV) start

# LOAD_SEED=0: a stack with its own data (set LOAD_KB): no sample documents, no job created.
load: setup  ## Locust, headless, against `make up-local` (PROFILE=smoke|stress|soak); reports in .finerag/loadtests
	@if [ "$(LOAD_SEED)" = 1 ]; then \
		test -d $(LOAD_SAMPLE) || $(BIN)/finerag sample-domain --out $(LOAD_SAMPLE); \
		FINERAG_INGESTION_URL=http://127.0.0.1:$(call local_env,LOCAL_INGESTION_PORT) \
			$(BIN)/finerag ingest $(LOAD_SAMPLE)/kb --kb $(LOAD_KB); fi
	@mkdir -p $(LOAD_REPORTS)
	$(BIN)/python -m locust -f loadtests/locustfile.py --headless --load-profile $(PROFILE) \
		--host http://127.0.0.1:$(call local_env,LOCAL_GATEWAY_PORT) \
		--retrieval-host http://127.0.0.1:$(call local_env,LOCAL_RETRIEVAL_PORT) --kb $(LOAD_KB) \
		--csv $(LOAD_REPORTS)/$(PROFILE) --html $(LOAD_REPORTS)/$(PROFILE).html \
		$(if $(filter 1,$(LOAD_SEED)),,--no-job-seed) $(LOAD_ARGS)

clean:
	rm -rf .finerag .pytest_cache .mypy_cache .ruff_cache
