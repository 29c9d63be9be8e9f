#!/usr/bin/env bash
# The matrix legs CI runs beside `make test` (Django 5.2 on Python 3.11, on SQLite, PostgreSQL and
# MariaDB): the suite on Django 6.0 (Python 3.12) and 6.1 (Python 3.13) on SQLite, and Django 6.1
# on PostgreSQL and MariaDB. The other pairs of noxfile.py's MATRIX run with `make test-matrix`.
# Prints one line per leg with pytest's counts; fails when a leg fails.
set -uo pipefail
VENV=${VENV:-.venv}
NOX="$VENV/bin/nox"
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/async_uploads}
MARIADB_URL=${MARIADB_URL:-mysql://root@127.0.0.1:3306/async_uploads}
log_dir=$(mktemp -d)
failed=0
summary=()

leg() {
  local name=$1 session=$2 url=$3 log="$log_dir/$1.log"
  echo "=== matrix leg $name: $session ${url:+on $url} ==="
  # -r: the second leg of a session reuses its virtualenv.
  if DATABASE_URL="$url" "$NOX" -r -s "$session" 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" = 0 ]; then
    status=passed
  else
    status=FAILED
    failed=1
  fi
  counts=$(grep -E "^=+ .*(passed|failed|error).* in [0-9.]+s" "$log" | tail -n 1 | tr -d '=' | xargs)
  summary+=("$name: $status ($counts)")
}

leg "django6.0-py3.12-sqlite" "tests(3.12-django6.0)" ""
leg "django6.1-py3.13-sqlite" "tests(3.13-django6.1)" ""
leg "django6.1-py3.13-postgresql" "tests(3.13-django6.1)" "$PG_URL"
leg "django6.1-py3.13-mariadb" "tests(3.13-django6.1)" "$MARIADB_URL"

echo "=== matrix summary ==="
printf '  %s\n' "${summary[@]}"
rm -rf "$log_dir"
exit $failed
