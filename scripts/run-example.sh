#!/usr/bin/env bash
# Start the example project (`make run`): GraphiQL's files, migrate, the demo user, the storage,
# then the background task worker (django-tasks-db's db_worker, which moves uploads of 1 MiB or
# more: docs/background.md) and runserver; both stop when this script does.
#
#   EXAMPLE_STORAGE=filesystem (default)  SQLite + files under example_project/media/
#   EXAMPLE_STORAGE=s3                    S3 at AWS_S3_ENDPOINT_URL; unset: moto's server, started here
#   EXAMPLE_STORAGE=azure                 Azure Blob at AZURE_CONNECTION_STRING; unset: Azurite, started here
#
# An emulator started here listens on a free port of 127.0.0.1 and is stopped when the server
# stops. Its run keeps its own SQLite database (unless DATABASE_URL is set) under
# $EXAMPLE_RUN_DIR/<backend>/ (default example_project/.run/), so records never point at objects
# of another storage: Azurite keeps its blobs there too, across runs; moto keeps everything in
# memory, so the s3 run starts with an empty database each time. For s3 and azure the bucket /
# container is created when missing and CORS rules are set for the page's origin
# (manage.py setup_example_storage). The secret key is DJANGO_SECRET_KEY, or one made on the first
# run and kept in $EXAMPLE_RUN_DIR/secret_key (mode 0600); DJANGO_DEBUG defaults to 1.
# Extra arguments go to runserver (e.g. --noreload).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-.venv}
case $VENV in /*) ;; *) VENV=$ROOT/$VENV ;; esac
PY=$VENV/bin/python
PORT=${PORT:-8000}
STORAGE=${EXAMPLE_STORAGE:-filesystem}
RUN_DIR=${EXAMPLE_RUN_DIR:-$ROOT/example_project/.run}
# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

case $STORAGE in
  filesystem | s3 | azure) ;;
  *) echo "EXAMPLE_STORAGE must be filesystem, s3 or azure, not '$STORAGE'." >&2; exit 2 ;;
esac

CHILDREN=()
stop_children() {
  # Newest first: the server before the emulator it talks to.
  local i
  for ((i = ${#CHILDREN[@]} - 1; i >= 0; i--)); do
    kill "${CHILDREN[i]}" 2>/dev/null || true
    wait "${CHILDREN[i]}" 2>/dev/null || true
  done
}
trap stop_children EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_port PORT PID NAME LOG: until something answers on PORT, while PID lives (60 s at most).
wait_for_port() {
  local deadline=$((SECONDS + 60))
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    if ! kill -0 "$2" 2>/dev/null || ((SECONDS > deadline)); then
      echo "$3 did not start on 127.0.0.1:$1; its log ($4):" >&2
      tail -n 20 "$4" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
}

# run_state_dir BACKEND: this backend's own directory (emulator data, SQLite database).
run_state_dir() {
  mkdir -p "$RUN_DIR/$1"
  [ -e "$RUN_DIR/.gitignore" ] || echo '*' >"$RUN_DIR/.gitignore"
  echo "$RUN_DIR/$1"
}

if [ "$STORAGE" = s3 ] && [ -z "${AWS_S3_ENDPOINT_URL:-}" ]; then
  state=$(run_state_dir s3)
  port=$(free_port)
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
  CHILDREN+=($!)
  wait_for_port "$port" "$!" "moto's S3 server" "$state/moto.log"
  echo "Started moto's S3 server on http://127.0.0.1:$port (stopped with the example; log: $state/moto.log)"
  export AWS_S3_ENDPOINT_URL=http://127.0.0.1:$port
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
  if [ -z "${DATABASE_URL:-}" ]; then
    rm -f "$state/db.sqlite3"  # moto starts empty: so does the database of its records
    export DATABASE_URL=sqlite:///$state/db.sqlite3
  fi
fi

if [ "$STORAGE" = azure ] && [ -z "${AZURE_CONNECTION_STRING:-}" ]; then
  azurite=$ROOT/tests/node/node_modules/.bin/azurite-blob
  if [ ! -x "$azurite" ]; then
    echo "EXAMPLE_STORAGE=azure needs AZURE_CONNECTION_STRING or Azurite, which is not installed:" \
      "install Node.js and npm (Debian: apt-get install nodejs npm), then run make install." >&2
    exit 1
  fi
  state=$(run_state_dir azure)
  port=$(free_port)
  mkdir -p "$state/azurite"
  "$azurite" --blobHost 127.0.0.1 --blobPort "$port" --location "$state/azurite" \
    --skipApiVersionCheck --disableTelemetry --silent >"$state/azurite.log" 2>&1 &
  CHILDREN+=($!)
  wait_for_port "$port" "$!" "Azurite" "$state/azurite.log"
  echo "Started Azurite on http://127.0.0.1:$port (stopped with the example; data and log in $state/)"
  export AZURE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$AZURITE_KEY;BlobEndpoint=http://127.0.0.1:$port/devstoreaccount1;"
  export DATABASE_URL=${DATABASE_URL:-sqlite:///$state/db.sqlite3}
fi

# The secret key signs sessions and download tokens: one per checkout, made on the first run
# (readable by its owner only) and reused, unless DJANGO_SECRET_KEY is given.
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
  mkdir -p "$RUN_DIR"
  [ -e "$RUN_DIR/.gitignore" ] || echo '*' >"$RUN_DIR/.gitignore"
  secret_file=$RUN_DIR/secret_key
  if [ ! -s "$secret_file" ]; then
    (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' >"$secret_file.new")
    mv "$secret_file.new" "$secret_file"
    echo "Made a secret key for this checkout in $secret_file"
  fi
  chmod 600 "$secret_file"
  DJANGO_SECRET_KEY=$(cat "$secret_file")
  export DJANGO_SECRET_KEY
fi
export DJANGO_DEBUG=${DJANGO_DEBUG:-1}

# GraphiQL's files (React, GraphiQL, ...) from the npm packages, so /graphql/ works offline; a no-op
# when they are up to date; without npm the page loads them from the CDN and says so.
bash "$ROOT/scripts/build-graphiql.sh"

cd "$ROOT/example_project"
"$PY" manage.py migrate --noinput
PORT=$PORT "$PY" manage.py ensure_demo_user
if [ "$STORAGE" != filesystem ]; then
  "$PY" manage.py setup_example_storage --origin "http://127.0.0.1:$PORT" --origin "http://localhost:$PORT"
fi
# The task worker of the background moves, stopped after the server and before the emulator.
"$PY" manage.py db_worker --no-startup-delay --interval 0.5 &
CHILDREN+=($!)
echo "Started the background task worker (manage.py db_worker, pid $!)"
# In the background, so that a signal to this script stops the server, the worker, then the emulator.
"$PY" manage.py runserver "127.0.0.1:$PORT" "$@" &
CHILDREN+=($!)
wait "$!"
