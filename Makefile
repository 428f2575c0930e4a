# rectrack: `make run` starts the platform locally, `make test` runs the whole suite.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PARTS := libs/common/pyproject.toml services/bodies/pyproject.toml services/recommendations/pyproject.toml \
         services/notifications/pyproject.toml gateway/pyproject.toml

.PHONY: install run test lint bench bench-quick lock clean

$(STAMP): requirements.lock $(PARTS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "rectrack needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install the locked dependencies

run: install  ## start NATS, the services, the scheduler and the gateway on http://127.0.0.1:8000
	$(BIN)/python deploy/local/run.py

test: install  ## the whole suite (also on PostgreSQL when RECTRACK_TEST_POSTGRES_URL is set)
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy libs/common/rectrack services/bodies/rectrack services/recommendations/rectrack \
	    services/notifications/rectrack gateway/rectrack

bench: install  ## load scenarios on this machine; prints one table
	$(BIN)/python bench/run.py

bench-quick: install
	$(BIN)/python bench/run.py --quick

lock:  ## re-resolve requirements.lock from requirements.in (needs uv in the venv)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile requirements.in -o requirements.lock --python-version 3.11 --no-header

clean:
	rm -rf $(VENV) var
