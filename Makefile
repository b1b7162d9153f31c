# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_DB ?= var/omni.db
DEMO_KEY ?= var/demo-admin.key
export OMNI_DATABASE_URL ?= sqlite:///$(abspath $(DEMO_DB))

.PHONY: run test bench lint install install-dev demo clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	@mkdir -p $(dir $(DEMO_DB))
	$(BIN)/omni db upgrade
	$(BIN)/omni demo build --if-absent
	$(BIN)/omni forecast-network --if-absent
	@test -s $(DEMO_KEY) || $(BIN)/omni keys create --scope admin --name demo-admin > $(DEMO_KEY)
	@echo "demo admin key (API: X-API-Key header; dashboard sign-in): $$(cat $(DEMO_KEY))"

run: demo
	$(BIN)/omni serve --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/python -m pytest -q -p no:cacheprovider tests --ignore=tests/benchmarks

bench: install-dev
	$(BIN)/python -m pytest tests/benchmarks --benchmark-only --benchmark-columns=min,median,mean,max,rounds

lint: install-dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache
