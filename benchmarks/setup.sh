#!/usr/bin/env bash
# Create (or refresh) the benchmark virtualenv at benchmarks/.work/venv.
#
# Idempotent: an existing venv is reused; pip only installs what is missing. Re-run it after
# pulling changes to pyproject.toml. Set BENCH_PYTHON to use another interpreter (default python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="$here/.work/venv"
python="${BENCH_PYTHON:-python3}"

mkdir -p "$here/.work"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi

# A stamp of the inputs lets repeated runs skip pip entirely when nothing changed.
stamp="$here/.work/setup.stamp"
want="$(cat "$repo/pyproject.toml" "$here/requirements.txt" "$0" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "import async_uploads, alliance_platform.storage" 2>/dev/null; then
    exit 0
fi

"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$repo" -r "$here/requirements.txt"
echo "$want" > "$stamp"
