"""The hourly beat schedule that compacts read_model_changes (editable in the admin; created only
if missing, removed with the migration)."""

from typing import Any

from django.db import migrations
from django.utils import timezone

NAME = "serving: compact the data version"
TASK = "serving.tasks.compact_read_model_changes"


def create_schedule(apps: Any, schema_editor: Any) -> None:
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    if periodic_task.objects.filter(name=NAME).exists():
        return
    interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=1, period="hours"
    )
    periodic_task.objects.create(
        name=NAME,
        task=TASK,
        interval=interval,
        enabled=True,
        description="Folds the rows of read_model_changes into one, so reading the data version stays cheap.",
    )
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


def remove_schedule(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("serving", "0001_read_model_changes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
