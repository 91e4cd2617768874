"""`manage.py verify_audit_chain`: check every link of the audit log's hash chain."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.audit import verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; report the first broken link."

    def handle(self, *args: Any, **options: Any) -> None:
        checked, broken = verify_chain()
        if broken is not None:
            raise CommandError(
                f"audit chain broken at entry {broken.sequence} ({broken.log_id}): {broken.problem}; "
                f"{checked} entries before it are intact"
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {checked} entries"))
