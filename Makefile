# Furusato Registry — `make run` serves, `make test` runs the whole suite on SQLite and PostgreSQL.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
FLASK := $(BIN)/flask --app wsgi
PO := $(wildcard registry/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

.PHONY: run serve test test-fast test-sqlite test-postgres install migrate clean bench install-bench bench-writes bench-launch bench-recommendations bench-roster browser-deps pgbouncer-deps

install: $(VENV)/.installed $(MO)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

%.mo: %.po $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@ >/dev/null

migrate: install
	$(FLASK) db upgrade
	$(FLASK) load-reference-data

run: migrate
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

# Production-like: gunicorn with config/gunicorn.py (workers per core, JSON logs when REGISTRY_ENV=production).
serve: migrate
	PORT=$(PORT) exec $(BIN)/gunicorn -c config/gunicorn.py wsgi:app

test: browser-deps pgbouncer-deps test-sqlite test-postgres

# The browser tests drive Debian's chromium (no browser download); CI runs as root and installs it.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "chromium or fonts-noto-cjk missing: browser tests will be skipped (apt-get install chromium fonts-noto-cjk)"; fi; \
	fi

# The PgBouncer test (transaction pooling) starts Debian's pgbouncer; CI runs as root and installs it.
pgbouncer-deps:
	@if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; \
	  else echo "pgbouncer missing: the PgBouncer test will be skipped (apt-get install pgbouncer)"; fi; \
	fi

# While iterating: the suite without the tests marked `slow` (browsers, fuzzing, processes and servers,
# an outage, anything over a few seconds; pyproject.toml `markers`), on SQLite then PostgreSQL.
# `make test` runs everything.
FAST := -m "not slow"
test-fast: install
	@echo "== fast tests on SQLite =="
	$(BIN)/pytest -p no:cacheprovider $(FAST) $(PYTEST_ARGS)
	@echo "== fast tests on PostgreSQL =="
	scripts/with-postgres.sh $(BIN)/pytest -p no:cacheprovider $(FAST) $(PYTEST_ARGS)

test-sqlite: install
	@echo "== tests on SQLite =="
	$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

test-postgres: install
	@echo "== tests on PostgreSQL =="
	scripts/with-postgres.sh $(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance/registry.db* $(MO)

# Benchmark of the national figures at 1 k and 1 M people and of seed-demo, on a throwaway PostgreSQL
# (BENCH_PEOPLE=50000 for a quicker run; see bench/README.md). Never part of `make test`.
# Every benchmark in one run on one throwaway PostgreSQL, then one summary table (bench/run.py).
# The server gets a production-sized buffer cache (the default 128 MB holds little of a 1 M-person
# database's indexes); the test server keeps PostgreSQL's defaults.
BENCH_PG_OPTS ?= -c shared_buffers=2GB
bench: install-bench
	PG_REPLICA=0 PG_SERVER_OPTS="$(BENCH_PG_OPTS)" scripts/with-postgres.sh sh -c 'DATABASE_URL="$$TEST_DATABASE_URL" $(BIN)/python bench/run.py'

# The benchmarks' own tools (locust, pyinstrument), never needed to run or test the service.
install-bench: install
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,bench]'

bench-writes: install-bench
	PG_REPLICA=0 PG_SERVER_OPTS="$(BENCH_PG_OPTS)" scripts/with-postgres.sh sh -c 'DATABASE_URL="$$TEST_DATABASE_URL" $(BIN)/python bench/writes.py'

bench-launch: install-bench
	PG_REPLICA=0 PG_SERVER_OPTS="$(BENCH_PG_OPTS)" scripts/with-postgres.sh sh -c 'DATABASE_URL="$$TEST_DATABASE_URL" $(BIN)/python bench/launch_day.py'

bench-recommendations: install
	PG_REPLICA=0 PG_SERVER_OPTS="$(BENCH_PG_OPTS)" scripts/with-postgres.sh sh -c 'DATABASE_URL="$$TEST_DATABASE_URL" $(BIN)/python bench/recommendations.py'

# import-roster at 100,000 rows (BENCH_ROSTER_ROWS) on a throwaway PostgreSQL.
bench-roster: install
	PG_REPLICA=0 PG_SERVER_OPTS="$(BENCH_PG_OPTS)" scripts/with-postgres.sh sh -c 'DATABASE_URL="$$TEST_DATABASE_URL" $(BIN)/python bench/roster.py'
