# Debate tutor. `make help` lists the targets.
SHELL := /bin/bash
PYTHON_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
INDEX := build/index/manifest.json

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONWARNINGS := ignore
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: help setup train index run test test-fast lint validate eval bench compare report clean train-matcher train-stance judge-passages

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

WIDGET := node_modules/rasa-webchat/lib/index.js
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

setup: $(INSTALLED) $(WIDGET) $(CHROMIUM) ## create .venv, install the pinned Python and npm dependencies and chromium (idempotent)

$(WIDGET): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(INSTALLED): requirements.lock requirements-rasa.txt
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --no-compile -q -r requirements.lock
	$(PY) -m pip install --disable-pip-version-check --no-compile -q --no-deps --ignore-requires-python -r requirements-rasa.txt
	$(PY) -m pip install --disable-pip-version-check --no-compile -q --no-deps setuptools==70.3.0
	touch $@

TRAIN_INSTALLED := $(VENV)/.installed-train

$(TRAIN_INSTALLED): $(INSTALLED) requirements-train.txt
	$(PY) -m pip install --disable-pip-version-check --no-compile -q --no-deps -r requirements-train.txt
	touch $@

train-matcher: $(TRAIN_INSTALLED) ## train the key point judge (ArgKP-2021, then our rebuttals) and re-calibrate (about an hour; not in make test)
	$(PY) -m bot train-matcher $(TRAIN_ARGS)
	$(PY) -m bot calibrate --write
	$(PY) -m bot judge-passages

train-stance: setup ## retrain the stance reader into models/stance-reader/ (after editing data/nlu or eval/stance_pairs.yml; about 8 minutes)
	$(PY) -m bot train-stance

judge-passages: index ## judge every passage for every claim's key points into models/judged-passages/ (after editing knowledge/; minutes)
	$(PY) -m bot judge-passages

index: setup ## build the passage index if knowledge/ changed
	$(PY) -m bot build --if-stale

train: index ## build the index; the Rasa model: models/tutor/ if trained from these inputs, else rasa train (13-21 min)
	$(PY) -m bot train-model

run: train ## set up, train if needed and serve the assistant on http://localhost:5005
	$(PY) -m bot serve $(SERVE_ARGS)

lint: setup ## ruff
	$(VENV)/bin/ruff check bot actions tests

validate: setup ## rasa data validate (responses used by actions are not reported as unused)
	$(PY) -m bot validate-data

test: train ## set up, train if needed, lint, validate the data and run every test
	$(MAKE) --no-print-directory lint validate
	$(PY) -m pytest

test-fast: index ## lint and the unit tests: no servers, no trained model, no model-loading commands (the edit-test loop; about 90 s)
	$(VENV)/bin/ruff check bot actions tests
	$(PY) -m pytest -q -m "not e2e and not model and not slow and not command"

eval: train ## held-out NLU and passage figures; the matcher on ArgKP dev and on our labelled rebuttals
	$(PY) -m bot eval
	$(PY) -m bot kpa --split dev --precision float32,auto trained zero-shot
	$(PY) -m bot calibrate

bench: train ## speed figures: search, REST load beside Rasa's starter bot, memory, start-up, training (~15 min; BENCH_ARGS="--help")
	$(PY) -m bot bench $(BENCH_ARGS)

clean: ## remove built artefacts (not .venv)
	rm -rf build results

report: setup ## teacher report of the practice rounds -> build/report/ (ARGS="--hash-ids" or "--db URL")
	$(PY) -m bot report $(ARGS)

compare: index ## train and evaluate config.yml and the pipelines in eval/pipelines/ side by side
	$(PY) -m bot compare config.yml eval/pipelines/*.yml
