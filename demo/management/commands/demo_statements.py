"""`manage.py demo_statements`: the demo partners' statements approved and released."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo.services import DemoDataError, demo_statements_release


class Command(BaseCommand):
    help = "Take the demo partners' 2025-09 statements through approval to released (development only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo statements are for development: run with DEBUG=true.")
        try:
            statements = demo_statements_release()
        except DemoDataError as error:
            raise CommandError(str(error)) from error
        for statement in statements:
            self.stdout.write(
                f"  {statement.partner.partner_name:<20} {statement.chain_id:<18} {statement.month} "
                f"{statement.get_status_display()}"
            )
