# The two commands of the README: `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8311
# The project's shared folder (docs, schemas, real city data): beside the checkout, or set
# OPEN311_SHARED_DIR. Aurora's official limits (Census TIGER/Line 2023, GEOID 1703012) come
# from there when present.
SHARED ?= $(or $(OPEN311_SHARED_DIR),../shared)
LIMITS ?= $(SHARED)/data/aurora-il-boundary.geojson

.PHONY: run test install install-test web postgis browser lint format

$(BIN)/python:
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python web
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python web
	$(BIN)/pip install -q -e '.[test]'

## The /map page's Leaflet, from the npm registry, exactly as package-lock.json pins it.
web: web/node_modules/.package-lock.json

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --loglevel=error

## Install, create the embedded SQLite database, load Aurora's catalogue, print a key, serve.
run: install
	$(BIN)/open311 db upgrade
	$(BIN)/open311 services import fixtures/aurora-catalogue.yaml
	if [ -f "$(LIMITS)" ]; then $(BIN)/open311 boundary import --jurisdiction aurora-il.org "$(LIMITS)"; fi
	$(BIN)/open311 keys create --name "local demo"
	$(BIN)/open311 serve --host $(HOST) --port $(PORT)

## Install, make sure PostgreSQL/PostGIS is up, run every test on SQLite and PostgreSQL.
test: install-test postgis browser
	$(BIN)/pytest

postgis:
	bash scripts/ensure-postgis.sh

browser:
	bash scripts/ensure-browser.sh

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
