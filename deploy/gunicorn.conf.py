"""Gunicorn settings shared by docker-compose.yml and deploy/systemd/aurora-web.service.

The bind address comes from the command line: 0.0.0.0:8000 in the container, 127.0.0.1:8000
behind nginx. The timeout matches nginx's proxy_read_timeout (deploy/nginx/aurora.conf).
"""

import multiprocessing
from typing import Any

# Synchronous workers, two per core: the best tail in bench/api_latency.py (4 on 2 cores; a
# replayed answer costs 1.5-2.5 CPU-ms, a made one 10-20). Sync workers take the next connection
# from the shared listen queue, so a worker busy making an answer never holds clients another
# worker could serve (gthread workers, each with its own kept-alive connections, had a longer
# tail). Behind nginx, keep-alive is nginx's to the clients. `--workers N` overrides it.
workers = 2 * multiprocessing.cpu_count()
# Requests slower than this (a long P&L export or terms preview) are cut; nginx waits as long.
timeout = 120
graceful_timeout = 30
keepalive = 5
# Workers are recycled now and then, so a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200
# Logs go to stdout/stderr: journald or `docker compose logs` keep them. The access log names the
# request id (X-Request-ID, also on audit entries) and the time taken.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s "%(a)s"'


def child_exit(server: Any, worker: Any) -> None:
    """A worker that ended: its live gauges leave the scrape, its counts stay in the sums
    (prometheus_client's multiprocess mode, when PROMETHEUS_MULTIPROC_DIR is set)."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
