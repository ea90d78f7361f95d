# Meridian's front door. `make run` and `make test` are all a new developer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help venv run test lint check migrate demo-data bench test-fast test-suite core clean

help:
	@echo "make run        set up, migrate, load demo data, serve on http://$(HOST):$(PORT)"
	@echo "make test       set up, lint (ruff, mypy) and run the whole test suite"
	@echo "make lint       ruff, mypy, the import contracts (lint-imports) and cfn-lint only"
	@echo "make core       build the positioning wheel, test it in a clean venv without Django"
	@echo "make demo-data  (re)load the demo data (idempotent)"
	@echo "make bench      run the benchmarks in bench/"

$(STAMP): requirements.txt requirements-dev.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

migrate: venv
	$(PY) manage.py migrate --noinput

demo-data: migrate
	$(PY) manage.py demo_data

run: demo-data
	@echo ""
	@echo "Meridian is starting on http://$(HOST):$(PORT)/"
	@echo "Demo logins (password: meridian-demo): admin, editor, au-manager, de-manager, reviewer"
	@echo ""
	$(PY) manage.py runserver $(HOST):$(PORT)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/cfn-lint 'deploy/**/*.yaml'

check: venv
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=portal.settings.production SECRET_KEY=$$($(PY) -c "import secrets; print(secrets.token_urlsafe(50))") \
	  DATABASE_URL=sqlite:///tmp/meridian-check.sqlite3 ALLOWED_HOSTS=meridian.example.com SHARED_TABLES_PREFIX=meridian-prod- \
	  DEFAULT_FROM_EMAIL="Meridian <notifications@meridian.example.com>" NOTIFICATIONS_SITE_URL=https://meridian.example.com \
	  $(PY) manage.py check --deploy --fail-level WARNING

test: lint check
	$(PY) -m pytest $(PYTEST_ARGS)

# The suite alone (no lint or checks): what CI runs again on another Python version.
test-suite: venv
	$(PY) -m pytest $(PYTEST_ARGS)

# The positioning core as its consumers get it: a wheel, installed into a clean venv that has no
# Django, whose own tests run against the installed package (not this folder).
# Outside the repository, so that no packaging step (Zappa zips this folder) picks it up.
CORE_DIR ?= $(or $(TMPDIR),/tmp)/meridian-core
CORE_VENV := $(CORE_DIR)/venv
core: venv
	rm -rf $(CORE_DIR)
	$(PY) -m pip wheel --quiet --no-deps -w $(CORE_DIR)/dist ./positioning
	rm -rf positioning/build positioning/*.egg-info  # setuptools' leftovers: nothing to package or commit
	$(PYTHON) -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/python -m pip install --quiet $(CORE_DIR)/dist/*.whl \
	  $$(grep -E '^(pytest|hypothesis|jsonschema)==' requirements-dev.txt)
	cd $(CORE_DIR) && venv/bin/python -c "import positioning, sys; \
	  assert 'site-packages' in positioning.__file__, positioning.__file__; \
	  import positioning.reader, positioning.backends; \
	  assert 'django' not in sys.modules; print('positioning', positioning.__version__, 'from', positioning.__file__)"
	cd $(CORE_DIR) && venv/bin/pytest -q -c $(CURDIR)/positioning/pyproject.toml --rootdir $(CURDIR)/positioning \
	  $(CURDIR)/positioning/tests

test-fast: venv
	$(PY) -m pytest -x -q -m "not e2e and not slow" $(PYTEST_ARGS)

bench: venv
	$(PY) bench/resolver.py

# Publishing 10,000 positions through the real pipeline against raw writes (moto, ≈1 min).
.PHONY: bench-publish
bench-publish: venv
	$(PY) bench/publish.py

# The public API's reader: a 1,000-candidate feed against one BatchGetItem round trip (moto, ≈1 min).
.PHONY: bench-reader
bench-reader: venv
	$(PY) bench/reader.py

# Commit → readable in DynamoDB (moto) under 20 writers for 60 s, gunicorn + PostgreSQL (≈3 min).
.PHONY: bench-freshness
bench-freshness: venv
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} $(PY) bench/freshness.py

# Partner-key enforcement per request (SQLite file, memory, Redis if reachable) against no key check (≈1 min).
# One group position for 10,000 items in a 27-market group: rows and shared-table items written (≈30 s).
.PHONY: bench-group-bulk
bench-group-bulk: venv
	$(PY) bench/group_bulk.py

.PHONY: bench-keys
bench-keys: venv
	$(PY) bench/keys.py

# Content board vs Django admin over 1,000,000 items (PostgreSQL; creates and drops meridian_bench, ≈5 min).
.PHONY: bench-board
bench-board: venv
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} $(PY) bench/board.py

# 50 users × 60 s of board reads, API position writes and partner feed reads against gunicorn -w 3
# on loopback (locust; PostgreSQL; creates and drops meridian_load, ≈2 min). LOAD_USERS=, LOAD_SECONDS= to vary.
.PHONY: bench-load
bench-load: venv
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} $(PY) bench/load.py --users $${LOAD_USERS:-50} --seconds $${LOAD_SECONDS:-60}

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

# --- Lambda (Zappa) packaging and deployment: docs/deploy.md ------------------------------------
# The package must be built by the runtime's Python minor version (python3.12) on Linux x86_64.
# The first candidate that really runs 3.12 (a pyenv shim can exist without a working version).
DEPLOY_PYTHON ?= $(shell for p in python3.12 $$(ls -d /root/.pyenv/versions/3.12.*/bin/python3.12 2>/dev/null); do \
  $$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1 && { command -v $$p; break; }; done)
DEPLOY_VENV := .venv-deploy
DEPLOY_PY := $(DEPLOY_VENV)/bin/python
DEPLOY_STAMP := $(DEPLOY_VENV)/.installed
STAGE ?= dev

.PHONY: deploy-venv package deploy update bench-coldstart

# Runtime requirements + Zappa only: dev tools would bloat the package.
$(DEPLOY_STAMP): requirements.txt
	@test -n "$(DEPLOY_PYTHON)" || { echo "Python 3.12 not found: see docs/deploy.md (pyenv, deadsnakes, uv python install 3.12), or pass DEPLOY_PYTHON=/path/to/python3.12"; exit 1; }
	test -d $(DEPLOY_VENV) || $(DEPLOY_PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_PY) -m pip install --quiet -r requirements.txt zappa==0.63.0
	touch $(DEPLOY_STAMP)

deploy-venv: $(DEPLOY_STAMP)

# Offline: collectstatic (manifest only ships), checked-hash bytecode, `zappa package`.
package: $(DEPLOY_STAMP)
	$(DEPLOY_PY) deploy/package.py $(STAGE)

# First deploy of a stage (needs AWS credentials). Migrations run in the primary region only:
# every stage of one environment shares its database.
deploy: package
	VIRTUAL_ENV=$(abspath $(DEPLOY_VENV)) $(DEPLOY_VENV)/bin/zappa deploy $(STAGE) --zip build/meridian-$(STAGE).zip
	@case "$(STAGE)" in prod_apse2) echo "secondary region: no migrate";; \
	  *) VIRTUAL_ENV=$(abspath $(DEPLOY_VENV)) $(DEPLOY_VENV)/bin/zappa manage $(STAGE) "migrate --noinput";; esac

# Every later release: the tested zip, then migrate with the new code (primary region only;
# migrations must be backward compatible: the other region runs the old code until its update).
update: package
	VIRTUAL_ENV=$(abspath $(DEPLOY_VENV)) $(DEPLOY_VENV)/bin/zappa update $(STAGE) --zip build/meridian-$(STAGE).zip
	@case "$(STAGE)" in prod_apse2) echo "secondary region: no migrate";; \
	  *) VIRTUAL_ENV=$(abspath $(DEPLOY_VENV)) $(DEPLOY_VENV)/bin/zappa manage $(STAGE) "migrate --noinput";; esac

bench-coldstart: package
	$(DEPLOY_PY) bench/coldstart.py --zip build/meridian-$(STAGE).zip
