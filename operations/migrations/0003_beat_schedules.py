"""The beat schedules of the pipeline and the housekeeping tasks (django-celery-beat, so a fresh
install has them and they can be edited, paused or re-timed in the admin).

Idempotent: each schedule is looked up by name and created only if missing; one an operator has
changed is left as it is.
"""

from typing import Any

from django.db import migrations
from django.utils import timezone

EVERY_10_MINUTES = {"every": 10, "period": "minutes"}
EVERY_15_MINUTES = {"every": 15, "period": "minutes"}
DAILY_0600 = {"minute": "0", "hour": "6", "day_of_month": "*", "month_of_year": "*", "day_of_week": "*"}
MONTHLY_1ST_0200 = {"minute": "0", "hour": "2", "day_of_month": "1", "month_of_year": "*", "day_of_week": "*"}

SCHEDULES: list[dict[str, Any]] = [
    {
        "name": "pipeline: discover new periods (every active chain)",
        "task": "operations.tasks.discover_all_chains",
        "interval": EVERY_10_MINUTES,
        "description": (
            "Asks each active chain's head which periods are final and starts the pipeline (ingest, "
            "normalize, recompute) of those not done yet, oldest first. One chain only: schedule "
            'operations.tasks.discover_new_periods with arguments ["<chain id>"] instead.'
        ),
    },
    {
        "name": "reconciliation: daily summary",
        "task": "operations.tasks.reconciliation_daily_summary",
        "crontab": DAILY_0600,
        "description": "Logs the open reconciliation findings per chain (06:00 UTC).",
    },
    {
        "name": "statements: draft last month's (on the 1st)",
        "task": "operations.tasks.draft_monthly_statements",
        "crontab": MONTHLY_1ST_0200,
        "description": (
            "On the 1st at 02:00 UTC: last month's statements exist as drafts for every partner "
            "with commission lines, with totals matching their lines."
        ),
    },
    {
        "name": "jobs: reap abandoned",
        "task": "operations.tasks.jobs_reap_abandoned_task",
        "interval": EVERY_15_MINUTES,
        "description": "Marks FAILED the jobs a stopped worker left RUNNING.",
    },
]


def create_schedules(apps: Any, schema_editor: Any) -> None:
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    interval_schedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    crontab_schedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    periodic_tasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    created = False
    for spec in SCHEDULES:
        if periodic_task.objects.filter(name=spec["name"]).exists():
            continue
        defaults: dict[str, Any] = {"task": spec["task"], "description": spec["description"], "enabled": True}
        if "interval" in spec:
            defaults["interval"], _ = interval_schedule.objects.get_or_create(**spec["interval"])
        else:
            defaults["crontab"], _ = crontab_schedule.objects.get_or_create(**spec["crontab"], timezone="UTC")
        _, made = periodic_task.objects.get_or_create(name=spec["name"], defaults=defaults)
        created = created or made
    if created:  # tells a running beat to reload its schedule
        periodic_tasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedules(apps: Any, schema_editor: Any) -> None:
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_task.objects.filter(name__in=[spec["name"] for spec in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0002_job_type_pipeline"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
