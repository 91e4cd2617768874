"""Crash recovery (operations.recovery): a job's heartbeat and recovery counts; the abandoned-job
reaper becomes the recovery sweep, every minute; the audit chain's head is checkpointed every 10
minutes (accounts.checkpoints).

A reaper schedule an operator has re-timed keeps its timing; only its task changes."""

from typing import Any

from django.db import migrations, models
from django.utils import timezone

OLD_TASK = "operations.tasks.jobs_reap_abandoned_task"
RECOVERY = {
    "name": "jobs: recover from stopped workers",
    "task": "operations.tasks.jobs_recover_task",
    "description": (
        "Sends again the jobs whose worker died (RUNNING, nobody holds their lock) or whose message "
        "was lost (PENDING, no word for AURORA_JOB_REQUEUE_AFTER_SECONDS); fails a job after "
        "AURORA_JOB_MAX_RECOVERIES."
    ),
}
CHECKPOINT = {
    "name": "audit: checkpoint the chain's head",
    "task": "accounts.tasks.audit_checkpoint_task",
    "description": (
        "Appends the audit chain's head, signed, to AURORA_AUDIT_CHECKPOINT_FILE, so "
        "verify_audit_chain finds a deleted tail, a truncation or a rehash."
    ),
}


def update_schedules(apps: Any, schema_editor: Any) -> None:
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    interval_schedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    periodic_tasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_minute, _ = interval_schedule.objects.get_or_create(every=1, period="minutes")
    every_10_minutes, _ = interval_schedule.objects.get_or_create(every=10, period="minutes")
    for reaper in periodic_task.objects.filter(task=OLD_TASK).select_related("interval"):
        if periodic_task.objects.filter(task=RECOVERY["task"]).exists():
            reaper.delete()  # the sweep replaces the reaper; one of them is enough
            continue
        reaper.task, reaper.description = RECOVERY["task"], RECOVERY["description"]
        if reaper.interval is not None and (reaper.interval.every, reaper.interval.period) == (15, "minutes"):
            reaper.interval = every_minute
        if reaper.name == "jobs: reap abandoned":
            reaper.name = RECOVERY["name"]
        reaper.save()
    if not periodic_task.objects.filter(task=RECOVERY["task"]).exists():
        periodic_task.objects.create(**RECOVERY, interval=every_minute, enabled=True)
    if not periodic_task.objects.filter(name=CHECKPOINT["name"]).exists():
        periodic_task.objects.create(**CHECKPOINT, interval=every_10_minutes, enabled=True)
    periodic_tasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def restore_schedules(apps: Any, schema_editor: Any) -> None:
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_task.objects.filter(name=CHECKPOINT["name"]).delete()
    periodic_task.objects.filter(task=RECOVERY["task"]).update(task=OLD_TASK, name="jobs: reap abandoned")


class Migration(migrations.Migration):
    dependencies = [("operations", "0003_beat_schedules")]

    operations = [
        migrations.AddField(
            model_name="job",
            name="heartbeat_at",
            field=models.DateTimeField(
                blank=True,
                null=True,
                help_text="When a worker last reported on the job, or it was last sent again.",
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="recoveries",
            field=models.PositiveSmallIntegerField(
                db_default=0,
                default=0,
                help_text="Times its worker died while running it and it was sent again.",
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="resends",
            field=models.PositiveSmallIntegerField(
                db_default=0,
                default=0,
                help_text="Times it was sent again after waiting with nobody taking it.",
            ),
        ),
        migrations.RunPython(update_schedules, restore_schedules),
    ]
