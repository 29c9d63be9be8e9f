# Set-up is part of every target: on a fresh machine `make run` and `make test` do everything.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-sqlite test-matrix test-matrix-ci lint format bench schema docs check-links codegen-check clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh tests/node/package-lock.json tests/uppy/package-lock.json tests/uppy/entry.js tests/uppy5/package-lock.json tests/uppy5/entry.js example_project/graphiql/package-lock.json scripts/build-graphiql.sh
	VENV=$(VENV) PYTHON=$(PYTHON) bash scripts/install.sh
	touch $(STAMP)

## Start the example project on SQLite and filesystem storage at http://127.0.0.1:8000/
## (EXAMPLE_STORAGE=s3 / azure: S3 / Azure Blob, on moto's server / Azurite unless an endpoint is given)
run: install
	VENV=$(VENV) bash scripts/run-example.sh

## The whole suite: SQLite, then PostgreSQL and MariaDB where they answer (all three required under CI=true)
test: install
	VENV=$(VENV) bash scripts/test-matrix.sh

## Only SQLite, for a quick loop: make test-sqlite ARGS="-k keys"
test-sqlite: install
	$(PY) -m pytest -n 2 $(ARGS)

## The support matrix (noxfile.py): the suite on each tested Python + Django pair, SQLite unless DATABASE_URL is set;
## one leg: make test-matrix ARGS='-s "tests(3.12-django6.1)"'; pytest arguments after --: ARGS='-- -m "not browser"'
test-matrix: install
	$(VENV)/bin/nox $(ARGS)

## The matrix legs CI runs beside `make test`: Django 6.0 (Python 3.12, from the built wheel) and 6.1
## (Python 3.13) on SQLite, Django 6.1 on PostgreSQL and MariaDB (scripts/ci-matrix.sh);
## CI_MATRIX=all make test-matrix-ci adds every other pair on SQLite
test-matrix-ci: install
	VENV=$(VENV) bash scripts/ci-matrix.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	bash benchmarks/setup.sh
	benchmarks/.work/venv/bin/python benchmarks/run.py $(ARGS)

## Write schema.graphql (the example project's GraphQL SDL, for schema-first codegen); tests/test_schema_sdl.py keeps it current
schema: install
	cd example_project && DJANGO_SETTINGS_MODULE=example.settings ../$(PY) manage.py export_schema example.schema:schema --path ../schema.graphql

## Rewrite the generated parts of docs/ (the table of error codes in docs/errors.md, from async_uploads.codes)
docs: install
	$(PY) scripts/write_error_codes.py

## Check that every relative link and #anchor of README.md, CONTRIBUTING.md, CHANGELOG.md and docs/*.md resolves
## (standard library only; external links are listed, not fetched)
check-links:
	$(PYTHON) scripts/check_links.py

## Generate the TypeScript types from schema.graphql and type-check example_project/frontend (needs Node.js + npm)
codegen-check:
	bash scripts/codegen-check.sh

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
