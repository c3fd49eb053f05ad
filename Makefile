# tagmail — the two commands are `make run` and `make test`; the rest are their parts.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
PYTEST_ARGS ?=

export SAM_CLI_TELEMETRY := 0
export POWERTOOLS_METRICS_DISABLED ?= true

# `sam build` needs the template's runtime (python3.12) on PATH; pyenv can provide it beside 3.11.
PYENV_312 := $(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$$' | tail -n 1)
ifneq ($(PYENV_312),)
export PYENV_VERSION := $(shell pyenv version-name 2>/dev/null):$(PYENV_312)
endif

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint unit integration e2e build bench venv sam chromium clean

run: venv ## start the local stack with a demo project (Ctrl-C stops it)
	$(BIN)/python -m local

test: lint build chromium ## lint, then the whole suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: venv
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: venv sam
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	for handler in functions/*/app.py; do $(BIN)/mypy --config-file pyproject.toml "$$handler" || exit 1; done
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint

build: sam ## sam build: the layer and every function, as deployed
	$(SAM) build --cached --parallel

bench: venv
	$(BIN)/python -m bench

venv: $(BIN)/.installed

$(BIN)/.installed: layers/core/requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r layers/core/requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# SAM CLI pins its own boto3, so it lives in a virtual environment of its own.
sam: $(SAM)

$(SAM):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)

# The end-to-end tests drive Debian's chromium (Playwright's own browser download needs the internet).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .tagmail .pytest_cache .mypy_cache .ruff_cache
