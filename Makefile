# ML pipeline infrastructure (CDKTF, Python). The README documents `make synth` and `make test`; the rest are helpers.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# Package index: yours (PIP_INDEX_URL, or pip's configured index-url), else pip's own default. Pipfile.lock keeps
# ${PIP_INDEX_URL} unexpanded, so the lock names no host and mirrors work.
PIP_INDEX_URL ?= $(shell pip config get global.index-url 2>/dev/null || pip config get install.index-url 2>/dev/null \
	|| $(PYTHON) -c "from pip._internal.models.index import PyPI; print(PyPI.simple_url)")
export PIP_INDEX_URL
export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_VERBOSITY := -1
export PIPENV_NOSPIN := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1
export CDKTF_DISABLE_PLUGIN_CACHE_ENV := 1
# Terraform reads our CLI config (offline provider mirror when the machine has one; see tests/support/terraform_cli.py).
export TF_CLI_CONFIG_FILE := $(CURDIR)/.terraform-cli.tfrc

PIPENV := $(PYTHON) -m pipenv
VENV := .venv
CHECKOV_VENV := .venv-checkov
RUN := $(VENV)/bin/python

.PHONY: help install tf-config synth test test-unit check lint typecheck fmt bench clean docs plan-report demo

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.synced: Pipfile.lock
	@$(PYTHON) -m pipenv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet pipenv
	$(PIPENV) sync --dev
	@touch $@

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

$(CHECKOV_VENV)/.installed: .ci/checkov-requirements.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --requirement .ci/checkov-requirements.txt
	@touch $@

tf-config:  ## write the Terraform CLI config (offline provider mirror if present)
	$(PYTHON) -m tests.support.terraform_cli $(TF_CLI_CONFIG_FILE)

install: $(VENV)/.synced node_modules/.installed $(CHECKOV_VENV)/.installed tf-config  ## install everything (idempotent)

synth: $(VENV)/.synced node_modules/.installed  ## synthesize every stack into cdktf.out/
	$(RUN) main.py

test: install  ## the whole verification ladder on both cores: emulator lane beside unit/validate/checkov lane
	$(RUN) -m tools.ladder

test-unit: $(VENV)/.synced  ## only the fast tests (no terraform, checkov or emulator)
	$(RUN) -m pytest -m "not terraform and not checkov and not emulator"

check: lint typecheck test-unit  ## the gate before every commit: ruff lint + format check + mypy + the fast tests

lint: $(VENV)/.synced  ## ruff lint (incl. complexity) + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Two runs, because the two layers have different module roots: the app imports constructs/<m>.py as constructs.<m>
# (repo root as base), while each function's zip has lambda_src/<fn>/<fn>.py and mlp_common/ at its root.
LAMBDA_MODULES := mlp_common $(foreach fn,preprocess inference stream_consumer evaluate traffic_shift validate approval,$(fn)/$(fn).py)
typecheck: $(VENV)/.synced  ## mypy (pydantic plugin) over stacks/, constructs/, main.py and lambda_src/
	MYPYPATH=. $(VENV)/bin/mypy stacks constructs/*.py main.py tools
	cd lambda_src && ../$(VENV)/bin/mypy --config-file ../pyproject.toml $(LAMBDA_MODULES)

fmt: $(VENV)/.synced  ## ruff fix + format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

demo: install  ## the whole story on the local emulator (no AWS account): deploy, train, flip, predict, shift, destroy
	$(RUN) -m tests.emulator.demo

PLANS ?=
PLAN_REPORT_ARGS ?=
plan-report: $(VENV)/.synced  ## PR plan review of `terraform show -json` files: make plan-report PLANS="a.json b.json"
	@test -n "$(PLANS)" || { echo 'usage: make plan-report PLANS="<stack>.json ..." [PLAN_REPORT_ARGS=...]' >&2; exit 2; }
	$(RUN) -m tools.plan_report $(PLAN_REPORT_ARGS) $(PLANS)

docs: $(VENV)/.synced  ## regenerate the README's configuration reference from the settings models
	$(RUN) -m tools.config_reference

bench: $(VENV)/.synced  ## synth time vs its floor and the naive import, memory, scaling, and the stream path
	$(RUN) -m tests.support.bench

clean:  ## remove generated output (not the virtualenvs)
	rm -rf cdktf.out .pytest_cache .ruff_cache
