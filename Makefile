# Furusato Registry — `make run` serves, `make test` runs the whole suite on SQLite and PostgreSQL,
# each pass beside a throwaway Redis (scripts/with-redis.sh); the PostgreSQL pass keeps its rate limits
# in it. The evidence tests start moto's S3 server themselves (tests/servers.py).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
FLASK := $(BIN)/flask --app wsgi
PO := $(wildcard registry/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

.PHONY: run serve test test-fast browser-deps test-sqlite test-postgres lint-imports install install-production migrate clean bench install-bench bench-writes bench-launch bench-recommendations bench-roster bench-emergency debian-deps

install: $(VENV)/.installed $(MO)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# Production (docs/operations.md "Deploying"): the service's own dependencies only, no dev extras;
# the translations compiled and the bytecode written, since the service may not write its release.
install-production:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check .
	$(BIN)/pybabel compile --use-fuzzy -d registry/translations >/dev/null
	$(BIN)/python -m compileall -q registry config wsgi.py

%.mo: %.po $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@ >/dev/null

migrate: install
	$(FLASK) db upgrade
	$(FLASK) load-reference-data

run: migrate
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

# A quick try of the production server: gunicorn with config/gunicorn.py (workers per core, JSON logs
# when REGISTRY_ENV=production), after the migrations, on the dev install. A real deployment installs
# with install-production, runs migrations as their own step and has systemd supervise gunicorn
# (docs/operations.md).
serve: migrate
	PORT=$(PORT) exec $(BIN)/gunicorn -c config/gunicorn.py wsgi:app

test: debian-deps browser-deps lint-imports test-sqlite test-postgres

# What the browser tests inject into every page they visit (axe-core, pinned in tests/browser/
# package-lock.json), installed by npm ci into tests/browser/node_modules (not committed).
AXE := tests/browser/node_modules/axe-core/axe.min.js
browser-deps: $(AXE)
$(AXE): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	touch $@

# The real parts the tests start, from Debian's packages: chromium and its CJK fonts (browser tests),
# pgbouncer, redis-server, nginx, pg_auto_failover and pgbackrest, zbar-tools (decoding QR codes in
# screenshots), npm (browser-deps installs axe-core with it). CI runs as root on a clean machine and
# installs what is missing in one apt-get run; packages that would start a server at install (redis,
# nginx) are kept stopped by a policy-rc.d, and the tests start their own as unprivileged users. As
# another user, a missing one is named and the tests that need it are skipped.
DEBIAN_PACKAGES := chromium:chromium fonts-noto-cjk:- pgbouncer:pgbouncer redis-server:redis-server nginx:nginx \
	postgresql-15-auto-failover:pg_autoctl pgbackrest:pgbackrest zbar-tools:zbarimg npm:npm
debian-deps:
	@missing=; for entry in $(DEBIAN_PACKAGES); do package=$${entry%%:*}; command=$${entry#*:}; \
	  if [ "$$command" = - ]; then dpkg -s "$$package" >/dev/null 2>&1 || missing="$$missing $$package"; \
	  elif ! PATH="$$PATH:/usr/sbin:/sbin" command -v "$$command" >/dev/null 2>&1; then missing="$$missing $$package"; fi; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    policy=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; \
	      chmod 755 /usr/sbin/policy-rc.d; policy=1; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; status=$$?; \
	    if [ -n "$$policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$status; \
	  else echo "missing Debian packages:$$missing (apt-get install$$missing): the tests that need them are skipped"; fi; \
	fi

# The layers of docs/architecture.md, held by import-linter's contracts in pyproject.toml.
lint-imports: install
	$(BIN)/lint-imports

# While iterating: the suite without the tests marked `slow` (browsers, fuzzing, processes and servers,
# an outage, anything over a few seconds; pyproject.toml `markers`), on SQLite then PostgreSQL.
# `make test` runs everything.
FAST := -m "not slow"
test-fast: install
	@echo "== fast tests on SQLite =="
	scripts/with-redis.sh $(BIN)/pytest -p no:cacheprovider $(FAST) $(PYTEST_ARGS)
	@echo "== fast tests on PostgreSQL =="
	TEST_LIMITS_IN_REDIS=1 scripts/with-postgres.sh scripts/with-redis.sh $(BIN)/pytest -p no:cacheprovider $(FAST) $(PYTEST_ARGS)

test-sqlite: install
	@echo "== tests on SQLite (rate limits in memory) =="
	scripts/with-redis.sh $(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

test-postgres: install
	@echo "== tests on PostgreSQL (rate limits in Redis) =="
	TEST_LIMITS_IN_REDIS=1 scripts/with-postgres.sh scripts/with-redis.sh $(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

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

# An emergency's notice fanned out by send-notifications to 100,000 people (BENCH_EMERGENCY_RECIPIENTS) on a
# throwaway PostgreSQL (a database of its own beside the server's).
bench-emergency: install
	PG_REPLICA=0 PG_SERVER_OPTS="$(BENCH_PG_OPTS)" scripts/with-postgres.sh sh -c 'DATABASE_URL="$$TEST_DATABASE_URL" $(BIN)/python bench/emergency.py'
