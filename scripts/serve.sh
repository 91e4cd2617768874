#!/usr/bin/env bash
# Serve the admin, portal and API on HOST:PORT, with a Celery worker beside it so the jobs queued
# from the admin (ingest, normalize, recompute) and the pipelines run, and Celery beat to start the
# scheduled tasks (schedules in the database, editable in the admin: Periodic tasks). Ctrl-C stops
# all three.
#
# The scheduled discovery replays the recorded epochs unless AURORA_PIPELINE_PROVIDER says
# otherwise (set it to `live`, or to empty for the setting's default, to fetch from the providers).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-true}"
export AURORA_PIPELINE_PROVIDER="${AURORA_PIPELINE_PROVIDER-replay}"
host="${HOST:-127.0.0.1}"
port="${PORT:-8000}"
mkdir -p .var/log
# Every process (runserver, worker, beat) counts into one directory that /metrics adds up.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/.var/prometheus}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR" && rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db
.venv/bin/celery -A aurora worker --loglevel=INFO --concurrency=2 >>.var/log/celery-worker.log 2>&1 &
worker=$!
beat=''
stop() {
	kill "$worker" ${beat:+"$beat"} 2>/dev/null || true
	wait "$worker" ${beat:+"$beat"} 2>/dev/null || true
}
trap stop EXIT
.venv/bin/celery -A aurora beat --loglevel=INFO --scheduler django_celery_beat.schedulers:DatabaseScheduler \
	--pidfile= >>.var/log/celery-beat.log 2>&1 &
beat=$!
echo "Celery worker running (pid $worker, log .var/log/celery-worker.log)"
echo "Celery beat running (pid $beat, log .var/log/celery-beat.log; pipeline provider: ${AURORA_PIPELINE_PROVIDER:-default})"
.venv/bin/python manage.py runserver "$host:$port"
