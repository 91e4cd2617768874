"""`manage.py verify_audit_chain`: every link of the audit log's hash chain, and the table against
the checkpoints kept outside the database (accounts.checkpoints)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.checkpoints import CheckpointError, checkpoint_file, verify_with_checkpoints


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain and compare it with the signed checkpoints of its head; "
        "report what is broken or missing by sequence number."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = verify_with_checkpoints()
        except CheckpointError as error:
            raise CommandError(str(error)) from error
        problems = []
        if result.broken is not None:
            broken = result.broken
            problems.append(
                f"audit chain broken at entry {broken.sequence} ({broken.log_id}): {broken.problem}; "
                f"{result.entries} entries before it are intact"
            )
        problems += [finding.problem for finding in result.findings]
        if problems:
            raise CommandError("; ".join(problems))
        last = result.last_checkpoint
        if last is None:
            self.stdout.write(
                self.style.WARNING(
                    f"no checkpoint of this database in {checkpoint_file()} yet: a deleted tail cannot be "
                    "told (manage.py checkpoint_audit_chain takes one)"
                )
            )
            self.stdout.write(self.style.SUCCESS(f"audit chain intact: {result.entries} entries"))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"audit chain intact: {result.entries} entries; matches the checkpoint of {last.taken_at} "
                f"(entry {last.sequence})"
            )
        )
