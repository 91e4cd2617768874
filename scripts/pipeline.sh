#!/usr/bin/env bash
# Run the pipeline (ingest, normalize, recompute) of some periods through Celery, with a worker
# started beside it for the duration, and follow it period by period and stage by stage:
#
#   scripts/pipeline.sh --chain solana-mainnet --from-period 850 --to-period 853 --provider replay
#
# The arguments are those of `manage.py run_pipeline` (always run with --wait). Exits with its
# status; also fails if the worker stops first. Worker log: .var/log/celery-pipeline.log.
# PIPELINE_CONCURRENCY sets the worker's processes (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .var/log
log=.var/log/celery-pipeline.log
# Progress is for a person at a terminal: plain log lines unless told otherwise.
export LOG_FORMAT="${LOG_FORMAT:-plain}"

# The worker lives only for this run: no provider probe at its start.
AURORA_CHECK_PROVIDERS_AT_WORKER_START=false \
	.venv/bin/celery -A aurora worker --loglevel=INFO --concurrency="${PIPELINE_CONCURRENCY:-2}" \
	--hostname="pipeline-$$@%h" --without-gossip --without-mingle >>"$log" 2>&1 &
worker=$!
runner=''
stop() {
	[[ -z $runner ]] || kill "$runner" 2>/dev/null || true
	kill -TERM "$worker" 2>/dev/null || true # warm shutdown: nothing is running by now
	wait "$worker" 2>/dev/null || true
}
trap stop EXIT
echo "Celery worker started (pid $worker, log $log)"

.venv/bin/python manage.py run_pipeline "$@" --wait &
runner=$!
while kill -0 "$runner" 2>/dev/null; do
	if ! kill -0 "$worker" 2>/dev/null; then
		echo "the Celery worker stopped; see $log" >&2
		tail -n 20 "$log" >&2 || true
		exit 1
	fi
	sleep 0.5
done
status=0
wait "$runner" || status=$?
runner=''
exit "$status"
