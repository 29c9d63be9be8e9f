#!/usr/bin/env bash
# Create (or refresh) the benchmark virtualenv at benchmarks/.work/venv.
#
# The repository is installed editable with its `graphql` extra (strawberry-graphql-django), for
# the GraphQL rows (benchmarks/graphql.py).
#
# Idempotent: an existing venv is reused, and pip runs only when pyproject.toml,
# benchmarks/requirements.txt or this script changed since the last successful run (or the venv
# lost a package). BENCH_PYTHON picks the interpreter (default python3, 3.11+).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="$here/.work/venv"
python="${BENCH_PYTHON:-python3}"

mkdir -p "$here/.work"
if [ ! -x "$venv/bin/python" ]; then
    echo "benchmarks: creating $venv" >&2
    "$python" -m venv "$venv"
fi

stamp="$here/.work/setup.stamp"
want="$(cat "$repo/pyproject.toml" "$here/requirements.txt" "$here/setup.sh" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && "$venv/bin/python" -c "import async_uploads, alliance_platform.storage, dj_database_url, psycopg, requests, PIL, strawberry_django, rest_framework" 2>/dev/null; then
    exit 0
fi

echo "benchmarks: installing packages into $venv (log: $here/.work/setup.log)" >&2
rm -f "$stamp"
if ! {
    "$venv/bin/python" -m pip install --disable-pip-version-check --upgrade pip \
        && "$venv/bin/python" -m pip install --disable-pip-version-check -e "$repo[graphql]" -r "$here/requirements.txt"
} >"$here/.work/setup.log" 2>&1; then
    tail -n 40 "$here/.work/setup.log" >&2
    echo "benchmarks: pip failed; full log in $here/.work/setup.log" >&2
    exit 1
fi
echo "$want" >"$stamp"
