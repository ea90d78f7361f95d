# Meridian's front door. `make run` and `make test` are all a new developer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help venv run test lint check migrate demo-data bench test-fast clean

help:
	@echo "make run        set up, migrate, load demo data, serve on http://$(HOST):$(PORT)"
	@echo "make test       set up, lint (ruff, mypy) and run the whole test suite"
	@echo "make lint       ruff + mypy only"
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
	@echo "Demo logins (password: meridian-demo): admin, editor, au-manager, reviewer"
	@echo ""
	$(PY) manage.py runserver $(HOST):$(PORT)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

check: venv
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=portal.settings.production SECRET_KEY=$$($(PY) -c "import secrets; print(secrets.token_urlsafe(50))") \
	  DATABASE_URL=sqlite:///tmp/meridian-check.sqlite3 ALLOWED_HOSTS=meridian.example.com SHARED_TABLES_PREFIX=meridian-prod- \
	  $(PY) manage.py check --deploy --fail-level WARNING

test: lint check
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest -x -q -m "not e2e and not slow" $(PYTEST_ARGS)

bench: venv
	$(PY) bench/resolver.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
