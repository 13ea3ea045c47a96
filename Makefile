# digitnet: `make help` lists the targets. Everything Python runs from the venv in .venv,
# which `make install` creates (every target that needs it depends on it).

PYTHON    ?= python3
VENV      ?= .venv
PY        := $(VENV)/bin/python
MODEL_DIR ?= models
MODEL_NAME ?= mnist
HOST      ?= 127.0.0.1
PORT      ?= 8000
# A folder of labelled images of real handwriting (labels.csv, or subfolders 0/ ... 9/) for
# `make evaluate` and `make bench-quality`: by default the pendigits set beside the checkout.
EVAL_DIR  ?= ../shared/data/pendigits
# Handwritten characters that are not digits, for `make evaluate-not-digits`.
NOT_DIGITS_DIR ?= ../shared/data/not-digits
# Images of whole numbers (labels.csv: file,label[,touching]) for `make evaluate-numbers`.
NUMBERS_DIR ?= ../shared/data/numbers
COMPOSE   ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
export MODEL_DIR MODEL_NAME HOST PORT

.DEFAULT_GOAL := help
.PHONY: help install train train-best evaluate evaluate-not-digits evaluate-numbers serve test test-fast \
        bench bench-train bench-serve bench-quality bench-handwriting bench-paper bench-peers reliability \
        up down logs lock compose-test lint docs audit clean

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

train: install ## train a model and save it as its next version in $(MODEL_DIR)/<dataset or --model-name>
	$(PY) -m trainer $(TRAIN_ARGS)

train-best: install ## the best preset: >= 99.2 % on MNIST in under 15 minutes on 2 cores, as the next version
	$(PY) -m trainer --preset best $(TRAIN_ARGS)

evaluate: install ## $(MODEL_NAME)'s newest version (or MODEL_VERSION=N) on the labelled images in EVAL_DIR
	$(PY) -m trainer.evaluate $(EVAL_DIR) --model-name $(MODEL_NAME) $(if $(MODEL_VERSION),--version $(MODEL_VERSION))

evaluate-not-digits: install ## how many of the images in NOT_DIGITS_DIR (no digits) $(MODEL_NAME) answers as a sure digit
	$(PY) -m trainer.evaluate $(NOT_DIGITS_DIR) --not-digits --model-name $(MODEL_NAME) $(if $(MODEL_VERSION),--version $(MODEL_VERSION))

evaluate-numbers: install ## $(MODEL_NAME) reading whole numbers in NUMBERS_DIR as POST /read does: exact strings, by length, touching
	$(PY) -m trainer.evaluate_numbers $(NUMBERS_DIR) --model-name $(MODEL_NAME) $(if $(MODEL_VERSION),--version $(MODEL_VERSION))

serve: install ## serve every model in $(MODEL_DIR) on $(HOST):$(PORT), training $(MODEL_NAME) first if it has none
	@ls $(MODEL_DIR)/$(MODEL_NAME)/*.npz >/dev/null 2>&1 || $(PY) -m trainer --model-name $(MODEL_NAME) $(TRAIN_ARGS)
	$(VENV)/bin/gunicorn --config service/gunicorn.conf.py "service.app:create_app()"

test: install ## run every test (unit, integration against gunicorn, browser, full MNIST runs, compose with Docker)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install ## the tests that take seconds, not minutes
	$(PY) -m pytest -m "not slow and not docker" $(PYTEST_ARGS)

bench: bench-train bench-serve bench-quality bench-handwriting ## all benchmarks

bench-train: install ## training speed and accuracy against scikit-learn, in one run
	$(PY) -m benchmarks.train

bench-quality: install ## accuracy on MNIST and on real handwriting (EVAL_DIR), calibration, cost of augmentation
	EVAL_DIR=$(EVAL_DIR) $(PY) -m benchmarks.quality

bench-handwriting: install ## the newest model (or BUNDLES="a.npz b.npz", side by side) on pendigits, not-digits and numbers (SETS=pendigits,not-digits: fewer)
	EVAL_DIR=$(EVAL_DIR) NOT_DIGITS_DIR=$(NOT_DIGITS_DIR) NUMBERS_DIR=$(NUMBERS_DIR) $(PY) -m benchmarks.handwriting $(BUNDLES) $(if $(SETS),--sets $(SETS))

bench-paper: install ## pendigits photographed on plain, ruled and boxed paper into data/paper (PAPER_ARGS=--count 2000), read side by side
	$(PY) -m benchmarks.paper_photos --evaluate $(PAPER_ARGS)

bench-serve: install ## requests/s and latency of the service under local load
	$(PY) -m benchmarks.serve

# Not part of `make bench` or CI: the peers install (minutes, once) and a run takes about 10 minutes.
bench-peers: install ## digitnet beside KServe, MLServer and BentoML on the same weights (PEERS_ARGS="--duration 3 --rounds 1": a smoke run)
	$(PY) -m benchmarks.peers $(PEERS_ARGS)

reliability: install ## faults, fuzzing and a soak against a real server: a table of what was tried
	$(PY) -m benchmarks.reliability

up: ## docker: train (one-shot), then serve behind the nginx proxy, in the background
	$(COMPOSE) $(if $(wildcard secrets/api-token),-f docker-compose.yml -f deploy/compose/secrets.yml) up --build --detach

down: ## docker: stop the stack (volumes are kept)
	$(COMPOSE) down

logs: ## docker: follow the logs
	$(COMPOSE) logs --follow

lock: ## the images' lock files: every package of base+train and base+serve, with hashes (needs PyPI)
	$(PY) -m venv /tmp/digitnet-pip-tools && /tmp/digitnet-pip-tools/bin/pip install -q pip-tools
	for list in base train serve; do \
	  PIP_CONSTRAINT= /tmp/digitnet-pip-tools/bin/pip-compile -q --generate-hashes --strip-extras \
	    --allow-unsafe --no-emit-index-url --no-emit-find-links --index-url https://pypi.org/simple \
	    -o requirements/lock/$$list.txt requirements/base.txt $$(test $$list = base || echo requirements/$$list.txt); \
	done

# The tests marked docker: tests/deploy/test_compose.py builds the images and runs the stack once,
# then tests/reliability/test_containers.py checks the images it built. -rP prints what each measured.
compose-test: install ## docker: 3 replicas behind the proxy: predict, faults, slow clients, live retrain
	COMPOSE="$(COMPOSE)" $(PY) -m pytest -m docker -rP --durations=0 $(PYTEST_ARGS)

lint: install ## ruff over the whole tree, and no function (tests aside) over 60 lines
	$(VENV)/bin/ruff check .
	$(PY) scripts/function_lengths.py

docs: install ## the documentation site (mkdocs.yml, docs/) into site/; a broken link or missing page fails it
	$(VENV)/bin/mkdocs build --strict --site-dir site

# Known vulnerabilities we accept: one ID each, with a comment giving package, reason, revisit date.
AUDIT_IGNORE :=
audit: install ## pip-audit of every pinned list: fails on any known vulnerability or unauditable package
	$(VENV)/bin/pip-audit --strict --progress-spinner off $(foreach id,$(AUDIT_IGNORE),--ignore-vuln $(id)) \
		$(foreach f,$(wildcard requirements/*.txt),-r $(f))

clean: ## remove the venv, caches and reports (trained models in $(MODEL_DIR) are kept)
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis reports build site *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
