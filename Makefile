# digitnet: `make help` lists the targets. Everything Python runs from the venv in .venv,
# which `make install` creates (every target that needs it depends on it).

PYTHON    ?= python3
VENV      ?= .venv
PY        := $(VENV)/bin/python
MODEL_DIR ?= models
MODEL_NAME ?= mnist
HOST      ?= 127.0.0.1
PORT      ?= 8000
COMPOSE   ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
export MODEL_DIR MODEL_NAME HOST PORT

.DEFAULT_GOAL := help
.PHONY: help install train serve test test-fast bench bench-train bench-serve reliability \
        up down logs compose-test lint audit clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(VENV)/.installed ## create .venv and install the project with its pinned dependencies

$(VENV)/.installed: pyproject.toml requirements/*.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements/base.txt -r requirements/train.txt \
		-r requirements/serve.txt -r requirements/client.txt -r requirements/dev.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

train: install ## train the default model and save it as the next version in $(MODEL_DIR)/$(MODEL_NAME)
	$(PY) -m trainer $(TRAIN_ARGS)

serve: install ## serve the newest model on $(HOST):$(PORT), training one first if there is none
	@ls $(MODEL_DIR)/$(MODEL_NAME)/*.npz >/dev/null 2>&1 || $(PY) -m trainer $(TRAIN_ARGS)
	$(VENV)/bin/gunicorn --config service/gunicorn.conf.py "service.app:create_app()"

test: install ## run every test (unit, integration against gunicorn, browser, full MNIST runs)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install ## the tests that take seconds, not minutes
	$(PY) -m pytest -m "not slow and not docker" $(PYTEST_ARGS)

bench: bench-train bench-serve ## all benchmarks

bench-train: install ## training speed and accuracy against scikit-learn, in one run
	$(PY) -m benchmarks.train

bench-serve: install ## requests/s and latency of the service under local load
	$(PY) -m benchmarks.serve

reliability: install ## faults, fuzzing and a soak against a real server: a table of what was tried
	$(PY) -m benchmarks.reliability

up: ## docker: train (one-shot) then serve, in the background
	$(COMPOSE) up --build --detach

down: ## docker: stop the stack (volumes are kept)
	$(COMPOSE) down

logs: ## docker: follow the logs
	$(COMPOSE) logs --follow

compose-test: install ## docker: build, run the stack, predict, retrain, check version 2, tear down
	COMPOSE="$(COMPOSE)" bash scripts/compose-test.sh

lint: install ## ruff over the whole tree
	$(VENV)/bin/ruff check .

# Known vulnerabilities we accept: one ID each, with a comment giving package, reason, revisit date.
AUDIT_IGNORE :=
audit: install ## pip-audit of every pinned list: fails on any known vulnerability or unauditable package
	$(VENV)/bin/pip-audit --strict --progress-spinner off $(foreach id,$(AUDIT_IGNORE),--ignore-vuln $(id)) \
		$(foreach f,$(wildcard requirements/*.txt),-r $(f))

clean: ## remove the venv, caches and reports (trained models in $(MODEL_DIR) are kept)
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis reports build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
