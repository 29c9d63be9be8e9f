#!/usr/bin/env bash
# Build the files of the example's GraphiQL page (/graphql/), so that it works without internet:
# `npm ci` in example_project/graphiql/ (the exact versions strawberry's GraphiQL template loads,
# pinned in its package-lock.json), then the UMD bundles and CSS are copied to
# example_project/example/static/graphiql/<package>@<version>/<path>: the same paths as on
# unpkg.com, so the page keeps the template's integrity hashes (example/graphiql.py).
#
# Run by `make install` and by scripts/run-example.sh (`make run`); quick when nothing changed
# (the copy records which package-lock.json it came from). Without npm it says so loudly and
# exits 0: the page then loads GraphiQL from the CDN and says so. Under CI=true a missing npm fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROJECT=$ROOT/example_project/graphiql
OUT=$ROOT/example_project/example/static/graphiql
# <package>/<path inside the package>: what strawberry's template loads.
FILES=(
  react/umd/react.production.min.js
  react-dom/umd/react-dom.production.min.js
  js-cookie/dist/js.cookie.min.js
  graphiql/graphiql.min.js
  graphiql/graphiql.min.css
  @graphiql/plugin-explorer/dist/index.umd.js
  @graphiql/plugin-explorer/dist/style.css
)

if command -v sha256sum >/dev/null 2>&1; then
  lock_hash=$(sha256sum "$PROJECT/package-lock.json" | cut -d' ' -f1)
else  # macOS
  lock_hash=$(shasum -a 256 "$PROJECT/package-lock.json" | cut -d' ' -f1)
fi
built() {
  [ "$(cat "$OUT/.built-from" 2>/dev/null)" = "$lock_hash" ]
}
if built; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "!!! GraphiQL's files are NOT built: npm not found (Debian: apt-get install nodejs npm)." >&2
  echo "!!! The example's /graphql/ page will load GraphiQL from unpkg.com (needs internet) and say so." >&2
  if [ "${CI:-}" = "true" ]; then
    echo "!!! build-graphiql FAILED: CI=true requires npm." >&2
    exit 1
  fi
  exit 0
fi

# One build at a time (the tests start several examples at once); flock is util-linux's.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$PROJECT/.build.lock"
  flock 9
  if built; then
    exit 0
  fi
fi

echo "Building GraphiQL's files for the example (npm ci in example_project/graphiql/)"
(cd "$PROJECT" && npm ci --no-audit --no-fund --loglevel=error)
tmp=$(mktemp -d "$OUT.new.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
for file in "${FILES[@]}"; do
  case $file in
    @*/*/*) package=${file%%/*}/$(echo "$file" | cut -d/ -f2); inner=${file#"$package"/} ;;
    *) package=${file%%/*}; inner=${file#*/} ;;
  esac
  version=$(node -p "require('$PROJECT/node_modules/$package/package.json').version")
  target=$tmp/$package@$version
  mkdir -p "$(dirname "$target/$inner")"
  cp "$PROJECT/node_modules/$package/$inner" "$target/$inner"
  # The licence travels with the file it covers.
  for licence in LICENSE LICENSE.md; do
    [ -f "$PROJECT/node_modules/$package/$licence" ] && cp "$PROJECT/node_modules/$package/$licence" "$target/"
  done
done
echo '*' >"$tmp/.gitignore"
echo "$lock_hash" >"$tmp/.built-from"
rm -rf "$OUT"
mv "$tmp" "$OUT"
trap - EXIT
echo "GraphiQL's files are in ${OUT#"$ROOT"/}/"
