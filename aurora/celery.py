"""The Celery application: Redis broker, settings from Django (`CELERY_*`), tasks from each app.

Signals: the correlation id travels from the request to the tasks it queues (aurora.logs), task
outcomes and run times are counted (aurora.metrics), and workers log through Django's LOGGING
(JSON or plain, with the correlation id) instead of Celery's own setup. The handlers import their
modules when first called, after Django's settings are read (prometheus_client picks its
multiprocess mode from the environment when it is first imported).
"""

import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aurora.settings")

app = Celery("aurora")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _logging_from_django(**_: Any) -> None:
    """Workers and beat log as configured in the settings (LOG_FORMAT, LOG_LEVEL)."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


def _publishing(**kwargs: Any) -> None:
    from aurora.logs import task_published

    task_published(**kwargs)


def _starting(**kwargs: Any) -> None:
    from aurora.logs import task_starting
    from aurora.metrics import task_started

    task_starting(**kwargs)
    task_started(**kwargs)


def _ended(**kwargs: Any) -> None:
    from aurora.logs import task_ended
    from aurora.metrics import task_finished

    task_finished(**kwargs)
    task_ended(**kwargs)


def _succeeded(**kwargs: Any) -> None:
    from aurora.metrics import task_succeeded

    task_succeeded(**kwargs)


def _failed(**kwargs: Any) -> None:
    from aurora.metrics import task_failed

    task_failed(**kwargs)


def _retried(**kwargs: Any) -> None:
    from aurora.metrics import task_retried

    task_retried(**kwargs)


signals.setup_logging.connect(_logging_from_django, weak=False)
signals.before_task_publish.connect(_publishing, weak=False)
signals.task_prerun.connect(_starting, weak=False)
signals.task_postrun.connect(_ended, weak=False)
signals.task_success.connect(_succeeded, weak=False)
signals.task_failure.connect(_failed, weak=False)
signals.task_retry.connect(_retried, weak=False)


def _check_providers(**_: Any) -> None:
    """Once the worker is ready: probe the providers of the active chains on a background thread;
    what fails is logged as a warning and never stops the worker (operations.providers_check)."""
    from django.conf import settings

    from operations.providers_check import check_providers_in_background

    if settings.AURORA_CHECK_PROVIDERS_AT_WORKER_START:
        check_providers_in_background()


signals.worker_ready.connect(_check_providers, weak=False, dispatch_uid="aurora-check-providers")


def _recover_jobs(**_: Any) -> None:
    """Once the worker is ready: send again the jobs a worker that died left behind (their
    messages may be stranded in Redis for the visibility timeout), on a background thread."""
    from operations.recovery import recover_in_background

    recover_in_background()


signals.worker_ready.connect(_recover_jobs, weak=False, dispatch_uid="aurora-recover-jobs")
