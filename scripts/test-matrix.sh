#!/usr/bin/env bash
# Run the suite on SQLite, PostgreSQL and MariaDB. A database that does not answer is skipped with
# a loud notice, except under CI=true, where every leg must run.
set -uo pipefail
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/async_uploads}
MARIADB_URL=${MARIADB_URL:-mysql://root@127.0.0.1:3306/async_uploads}
PYTEST_ARGS=${PYTEST_ARGS:--n 2}
failed=0
ran=()

run_leg() {
  local name=$1 url=$2 started=$SECONDS
  echo "=== tests on $name ==="
  if DATABASE_URL="$url" "$PY" -m pytest $PYTEST_ARGS; then status=passed; else status=FAILED; failed=1; fi
  ran+=("$name: $status ($((SECONDS - started)) s)")
}

skip_leg() {
  local name=$1 why=$2
  echo "!!! SKIPPING the $name leg: $why" >&2
  ran+=("$name: SKIPPED ($why)")
  if [ "${CI:-}" = "true" ]; then failed=1; fi
}

run_leg sqlite ""

if "$PY" - "$PG_URL" <<'PY' 2>/dev/null; then
import sys, psycopg, dj_database_url
c = dj_database_url.parse(sys.argv[1])
psycopg.connect(host=c["HOST"], port=c["PORT"] or 5432, user=c["USER"], dbname="postgres", connect_timeout=3).close()
PY
  run_leg postgresql "$PG_URL"
else
  skip_leg postgresql "no PostgreSQL answers at $PG_URL"
fi

if ! "$PY" -c "import MySQLdb" 2>/dev/null; then
  skip_leg mariadb "the mysqlclient driver is not installed (needs libmariadb-dev)"
elif "$PY" - "$MARIADB_URL" <<'PY' 2>/dev/null; then
import sys, MySQLdb, dj_database_url
c = dj_database_url.parse(sys.argv[1])
MySQLdb.connect(host=c["HOST"], port=int(c["PORT"] or 3306), user=c["USER"], passwd=c["PASSWORD"] or "", connect_timeout=3).close()
PY
  run_leg mariadb "$MARIADB_URL"
else
  skip_leg mariadb "no MariaDB answers at $MARIADB_URL"
fi

echo "=== summary ==="
printf '  %s\n' "${ran[@]}"
exit $failed
