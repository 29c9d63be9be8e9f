#!/usr/bin/env bash
# Schema-first codegen proof: install the pinned frontend tools (npm ci), generate TypeScript types
# from schema.graphql and example_project/frontend/operations.graphql, and type-check the
# hand-written client against them (tsc --noEmit, strict). Any error fails.
# Without Node.js/npm the check is skipped loudly, except under CI=true, where it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
FRONTEND=example_project/frontend

missing=()
command -v node >/dev/null 2>&1 || missing+=(node)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "!!! codegen-check: ${missing[*]} not found on PATH (Node.js >= 20 with npm is needed)." >&2
  if [ "${CI:-}" = "true" ]; then
    echo "!!! codegen-check FAILED: CI=true requires Node.js and npm." >&2
    exit 1
  fi
  echo "!!! SKIPPING the codegen check (install Node.js 20+ to run it)." >&2
  exit 0
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "!!! codegen-check FAILED: Node.js $(node --version) is too old; 20 or newer is needed." >&2
  exit 1
fi

if [ ! -f schema.graphql ]; then
  echo "!!! codegen-check FAILED: schema.graphql is missing at the repository root; run make schema." >&2
  exit 1
fi

cd "$FRONTEND"
echo "=== codegen-check: node $(node --version), npm $(npm --version) ==="
echo "--- npm ci"
npm ci --no-audit --no-fund
echo "--- graphql-codegen (../../schema.graphql + operations.graphql -> src/generated/graphql.ts)"
rm -rf src/generated
npx --no-install graphql-codegen --config codegen.ts
test -s src/generated/graphql.ts || { echo "!!! codegen-check FAILED: src/generated/graphql.ts was not written." >&2; exit 1; }
echo "--- tsc --noEmit -p . ($(npx --no-install tsc --version))"
npx --no-install tsc --noEmit -p .
echo "=== codegen-check passed ==="
