# The verbs a newcomer types. `make run` and `make test` set up everything they need.
# aws-sam-cli (and the cfn-lint it brings) lives in its own environment, .venv-sam, so that
# its exact pins never hold the app's packages back.
# Python 3.13, the functions' runtime: a python3.13 on PATH that runs, else pyenv's
PYTHON ?= $(shell for candidate in python3.13 $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13; do \
	"$$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null \
	&& { command -v "$$candidate" || echo "$$candidate"; } && break; done)
export PYTHON
NEED_PYTHON = @test -n "$(PYTHON)" || { echo "Python 3.13 is needed (the functions run on Lambda's python3.13): install it\
 (pyenv install 3.13, or your system's python3.13 package), or name it: make PYTHON=/path/to/python3.13 …"; exit 2; }
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
SAM := $(SAM_VENV)/bin/sam
# checkov, the template's security scanner, in its own environment for the same reason
CHECKOV_VENV := .venv-checkov
ENV ?= dev
PORT ?= 5003
# the internal API (the platform's Fulfillment and Waitlist), an endpoint of its own as on AWS
INTERNAL_PORT ?= 5004
# 0.0.0.0 to let the platform's containers reach the runner (README: Running beside the platform)
HOST ?= 127.0.0.1
export AWS_DEFAULT_REGION ?= us-east-1
# sam's telemetry would try to reach the network
export SAM_CLI_TELEMETRY := 0

.PHONY: setup run test lint typecheck validate unit fuzz build deploy bench capacity onsale clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(NEED_PYTHON)
	@# a venv of another Python (an older checkout's) is made anew
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null || rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(SAM_VENV)/.installed:
	$(NEED_PYTHON)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet 'aws-sam-cli==1.170.0'
	touch $@

$(CHECKOV_VENV)/.installed:
	$(NEED_PYTHON)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==3.3.30'
	touch $@

run: setup
	$(BIN)/ordering-local serve --host $(HOST) --port $(PORT) --internal-port $(INTERNAL_PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy layers/ordering/ordering local functions tests bench

validate: setup $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(SAM) validate --lint --template template.yaml
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --config-file .checkov.yaml --skip-download

unit: setup
	$(BIN)/pytest

# schemathesis against the local runner, every operation of openapi.json (tests/fuzz.py)
fuzz: setup
	$(BIN)/python -m tests.fuzz

test: lint typecheck validate build fuzz unit

# sam's python builder looks for python3.13 on PATH; the layer's Makefile takes $(PYTHON)
build: $(SAM_VENV)/.installed
	$(NEED_PYTHON)
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM) build --template template.yaml

# deploy/$(ENV).parameters holds the stack's surroundings (copy deploy/example.parameters); the
# stage is always named here, so overrides given on the command line cannot lose it
deploy: build
	@test -f deploy/$(ENV).parameters || { echo "deploy/$(ENV).parameters is missing: copy deploy/example.parameters and fill it in"; exit 2; }
	$(SAM) deploy --config-env $(ENV) --parameter-overrides $$(grep -v '^#' deploy/$(ENV).parameters | grep . | tr '\n' ' ') Stage=$(ENV)

bench: setup
	$(BIN)/python -m bench

# the figures docs/capacity.md sizes an on-sale with (about 3 minutes; flags to scale it down:
# .venv/bin/python -m bench.capacity --help)
capacity: setup
	$(BIN)/python -m bench.capacity

# a flash sale around the local stack over Kafka (bench/onsale): figures, timeline, invariants
onsale: setup
	$(BIN)/python -m bench.onsale

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .local .mypy_cache .ruff_cache
