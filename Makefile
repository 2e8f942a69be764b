# mlops-pipeline: the commands a newcomer and CI run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHECKOV_VENV ?= .venv-checkov

.PHONY: setup postgres-server contract-venv test lint typecheck unit functional asl faults contract terraform-check e2e demo demo-rollback bench clean

setup: $(BIN)/mlops-pipeline $(CHECKOV_VENV)/bin/checkov postgres-server contract-venv  ## install everything into ./.venv (and checkov into its own venv)

$(BIN)/mlops-pipeline: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# tests/contract runs the MLflow server against a real PostgreSQL server (initdb/pg_ctl of this
# machine). Installed with apt when missing and we are root; otherwise the tier says what to do
# (a skip, or a failure under CI=true).
postgres-server:
	@if [ -n "$$PG_BIN" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "setup: installing the PostgreSQL server for tests/contract (apt-get install postgresql)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1 \
		|| { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1; } \
		|| echo "setup: warning: apt-get could not install postgresql; tests/contract needs it"; \
	else \
		echo "setup: no PostgreSQL server; tests/contract needs one: apt-get install postgresql (as root)"; \
	fi

# The MLflow server's own environment for tests/contract, from docker/mlflow/requirements.lock
# (cached by the lock's hash; a no-op when current). Built here so that a failure shows at setup,
# with pip's own reason, not 20 minutes into the tests.
contract-venv: $(BIN)/mlops-pipeline
	$(BIN)/python tests/contract/server_venv.py

# checkov pins many libraries of its own; a separate venv keeps them off ours.
$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/pip install -q "checkov==3.3.30"

# Two workers (the machine has two cores), each running whole tiers (tests/conftest.py puts every
# test in its tier's xdist group), so a tier's shared stack is started once.
test: setup lint typecheck  ## the whole test suite (what CI runs)
	$(BIN)/pytest -q -n 2 --dist loadgroup tests

lint:
	$(BIN)/ruff check src tests benchmarks seed_code
	$(BIN)/ruff format --check src tests benchmarks seed_code

typecheck:
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -q tests/unit

functional: setup
	$(BIN)/pytest -q tests/functional

asl: setup
	$(BIN)/pytest -q tests/asl

contract: setup
	$(BIN)/pytest -q tests/contract

faults: setup
	$(BIN)/pytest -q tests/faults

terraform-check: setup
	$(BIN)/pytest -q tests/terraform

e2e: setup
	$(BIN)/pytest -q -m e2e tests/e2e

demo: setup  ## run the whole flow locally (then: .venv/bin/mlops-pipeline local down)
	$(BIN)/mlops-pipeline demo --auto-approve

demo-rollback: setup  ## push twice (prod gets a previous version), then roll prod back from Slack
	$(BIN)/mlops-pipeline demo --auto-approve
	$(BIN)/mlops-pipeline demo --auto-approve --roll-back

bench: setup
	$(BIN)/python benchmarks/serving.py

clean:
	rm -rf .mlops-local dist .pytest_cache .mypy_cache .ruff_cache
