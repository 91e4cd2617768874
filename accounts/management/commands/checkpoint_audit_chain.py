"""`manage.py checkpoint_audit_chain`: check the audit chain since the last checkpoint and append its
head, signed, to the checkpoint file (also every 10 minutes on Celery beat)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.checkpoints import CheckpointError, checkpoint_file, take_checkpoint


class Command(BaseCommand):
    help = "Checkpoint the audit chain's head outside the database (signed); refuses a broken chain."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            checkpoint, written = take_checkpoint()
        except CheckpointError as error:
            raise CommandError(str(error)) from error
        where = checkpoint_file()
        if written:
            self.stdout.write(
                self.style.SUCCESS(
                    f"checkpoint: entry {checkpoint.sequence} ({checkpoint.change_hash[:12]}…) in {where}"
                )
            )
        else:
            self.stdout.write(
                f"the head has not moved since the checkpoint of {checkpoint.taken_at} "
                f"(entry {checkpoint.sequence})"
            )
