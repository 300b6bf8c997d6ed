# Furusato Registry — `make run` serves, `make test` runs the whole suite on SQLite and PostgreSQL.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
FLASK := $(BIN)/flask --app wsgi
PO := $(wildcard registry/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

.PHONY: run test test-sqlite test-postgres install migrate clean bench

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

test: test-sqlite test-postgres

test-sqlite: install
	@echo "== tests on SQLite =="
	$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

test-postgres: install
	@echo "== tests on PostgreSQL =="
	scripts/with-postgres.sh $(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance/registry.db* $(MO)
