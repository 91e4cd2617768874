#!/usr/bin/env bash
# Serve the admin, portal and API on HOST:PORT, with a Celery worker beside it so the jobs queued
# from the admin (ingest, normalize, recompute) run. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-true}"
host="${HOST:-127.0.0.1}"
port="${PORT:-8000}"
mkdir -p .var/log
.venv/bin/celery -A aurora worker --loglevel=INFO --concurrency=2 >>.var/log/celery-worker.log 2>&1 &
worker=$!
trap 'kill "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true' EXIT
echo "Celery worker running (pid $worker, log .var/log/celery-worker.log)"
.venv/bin/python manage.py runserver "$host:$port"
