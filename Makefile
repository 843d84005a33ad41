# The two commands of the README: `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8311
# Aurora's official limits (Census TIGER/Line 2023, GEOID 1703012), when present beside us.
LIMITS ?= ../shared/data/aurora-il-boundary.geojson

.PHONY: run test install install-test postgis lint format

$(BIN)/python:
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

## Install, create the embedded SQLite database, load Aurora's catalogue, print a key, serve.
run: install
	$(BIN)/open311 db upgrade
	$(BIN)/open311 services import fixtures/aurora-catalogue.yaml
	if [ -f "$(LIMITS)" ]; then $(BIN)/open311 boundary import --jurisdiction aurora-il.org "$(LIMITS)"; fi
	$(BIN)/open311 keys create --name "local demo"
	$(BIN)/open311 serve --host $(HOST) --port $(PORT)

## Install, make sure PostgreSQL/PostGIS is up, run every test on SQLite and PostgreSQL.
test: install-test postgis
	$(BIN)/pytest

postgis:
	bash scripts/ensure-postgis.sh

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
