#!/usr/bin/env bash
# The matrix legs CI runs beside `make test` (Django 5.2 on Python 3.11, on SQLite, PostgreSQL and
# MariaDB): Django 6.0 (Python 3.12, installed from the built wheel) and 6.1 (Python 3.13) on
# SQLite, and 6.1 on PostgreSQL and MariaDB, so every Django version runs the whole suite and both
# ends of the support window run every database. CI_MATRIX=all adds the other pairs of
# noxfile.py's MATRIX on SQLite (5.2 on Python 3.12 and 3.13, 6.0 on 3.13, 6.1 on 3.12): on two
# cores they would bring CI from about 23 minutes to about 42, over its 30-minute budget.
# Prints one line per leg with pytest's counts and the leg's time; fails when a leg fails.
set -uo pipefail
VENV=${VENV:-.venv}
NOX="$VENV/bin/nox"
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/async_uploads}
MARIADB_URL=${MARIADB_URL:-mysql://root@127.0.0.1:3306/async_uploads}
log_dir=$(mktemp -d)
failed=0
summary=()

# One leg installs the built wheel instead of the source tree (what PyPI would ship):
# scripts/check-wheel.sh then checks that same wheel's contents without running the suite again.
# WHEEL_DIR: where the wheel is built (a temporary folder unless given).
wheel_dir=${WHEEL_DIR:-$log_dir}
"$VENV/bin/python" -m pip wheel -q --no-deps -w "$wheel_dir" . >/dev/null
WHEEL=$(ls "$wheel_dir"/django_async_uploads-*.whl)

leg() {
  local name=$1 session=$2 url=$3 wheel=${4:-} log="$log_dir/$1.log" started=$SECONDS
  echo "=== matrix leg $name: $session ${url:+on $url} ${wheel:+from $wheel} ==="
  # -r: the second leg of a session reuses its virtualenv.
  if DATABASE_URL="$url" NOX_INSTALL_WHEEL="$wheel" "$NOX" -r -s "$session" 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" = 0 ]; then
    status=passed
  else
    status=FAILED
    failed=1
  fi
  counts=$(grep -E "^=+ .*(passed|failed|error).* in [0-9.]+s" "$log" | tail -n 1 | tr -d '=' | xargs)
  summary+=("$name: $status ($counts; $((SECONDS - started)) s with its install)")
}

leg "django6.1-py3.13-sqlite" "tests(3.13-django6.1)" ""
leg "django6.1-py3.13-postgresql" "tests(3.13-django6.1)" "$PG_URL"
leg "django6.1-py3.13-mariadb" "tests(3.13-django6.1)" "$MARIADB_URL"
leg "django6.0-py3.12-sqlite-wheel" "tests(3.12-django6.0)" "" "$WHEEL"
if [ "${CI_MATRIX:-}" = all ]; then
  leg "django6.1-py3.12-sqlite" "tests(3.12-django6.1)" ""
  leg "django6.0-py3.13-sqlite" "tests(3.13-django6.0)" ""
  leg "django5.2-py3.12-sqlite" "tests(3.12-django5.2)" ""
  leg "django5.2-py3.13-sqlite" "tests(3.13-django5.2)" ""
fi

echo "=== matrix summary ==="
printf '  %s\n' "${summary[@]}"
rm -rf "$log_dir"
exit $failed
