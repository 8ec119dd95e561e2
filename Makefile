# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CUSTOMERS ?= 5000
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test fuzz serve worker lint typecheck contracts migrate migration bench clean help

help:
	@echo "make demo       create the environment, load demo data, start API + console on $(HOST):$(PORT)"
	@echo "                (two years of orders, 20 per customer; ORDERS=0 skips them, ORDERS=20000 for fewer)"
	@echo "make test       lint, type-check, layering contracts, whole suite on SQLite and PostgreSQL"
	@echo "make fuzz       randomised schemathesis pass against a throwaway server; report in test-output/fuzz"
	@echo "make serve      start API + console on the existing data"
	@echo "make worker     a separate job consumer, for scale (serve and demo already run one in-process)"
	@echo "make bench      run the benchmarks (see docs/benchmarks.md); SUITE=orders,expiry,card for some"
	@echo "make migration m='what changed'   autogenerate an Alembic revision"

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.dev-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/.installed $@

demo: $(BIN)/.installed
	$(BIN)/guanxi demo --customers $(CUSTOMERS) $(if $(ORDERS),--orders $(ORDERS)) --host $(HOST) --port $(PORT)

serve: $(BIN)/.installed
	$(BIN)/guanxi serve --host $(HOST) --port $(PORT)

worker: $(BIN)/.installed
	$(BIN)/guanxi worker

migrate: $(BIN)/.installed
	$(BIN)/guanxi db upgrade

test: $(BIN)/.dev-installed
	bash scripts/test.sh

fuzz: $(BIN)/.dev-installed
	bash scripts/fuzz.sh

lint: $(BIN)/.dev-installed
	$(BIN)/ruff check src tests benchmarks

typecheck: $(BIN)/.dev-installed
	$(BIN)/mypy

contracts: $(BIN)/.dev-installed
	$(BIN)/lint-imports

migration: $(BIN)/.dev-installed
	$(BIN)/python -c "from guanxi.kit.db import get_database; from guanxi.migrations import runner; \
	  runner.upgrade(get_database().engine); runner.revision(get_database().engine, '$(m)')"

bench: $(BIN)/.dev-installed
	$(BIN)/python -m benchmarks $(if $(SUITE),--suite $(SUITE))

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
