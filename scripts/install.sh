#!/usr/bin/env bash
# Create the virtualenv with the package (editable), every extra and the dev tools.
set -euo pipefail
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade "pip>=25.1"
"$VENV/bin/python" -m pip install -q -e ".[image,s3,azure,drf,tasks]" --group dev
# The MariaDB driver compiles against the client headers; without them that database is skipped (loudly).
if command -v mariadb_config >/dev/null 2>&1 || pkg-config --exists mariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q "mysqlclient>=2.2"
else
  echo "NOTE: MariaDB client headers not found (Debian: apt-get install libmariadb-dev pkg-config);" \
       "the MariaDB leg of 'make test' will be skipped." >&2
fi
# Azurite (the Azure Blob emulator of the Azure tests), pinned in tests/node/package-lock.json.
# Without npm the Azure tests skip loudly (and fail under CI=true).
if command -v npm >/dev/null 2>&1; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "NOTE: npm not found (Debian: apt-get install nodejs npm); the Azure tests will be skipped." >&2
fi
# Uppy 6 and Uppy 5 (@uppy/core with @uppy/aws-s3, pinned in tests/uppy/ and tests/uppy5/
# package-lock.json), each bundled by esbuild to dist/uppy.js for the Uppy browser test. Without
# npm that test skips loudly (and fails under CI=true).
if command -v npm >/dev/null 2>&1; then
  for dir in tests/uppy tests/uppy5; do
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
  done
else
  echo "NOTE: npm not found (Debian: apt-get install nodejs npm); the Uppy browser test will be skipped." >&2
fi
# The example's GraphiQL page's files (example_project/graphiql/, pinned in its package-lock.json),
# copied to example_project/example/static/graphiql/; without npm the page falls back to the CDN.
bash scripts/build-graphiql.sh
