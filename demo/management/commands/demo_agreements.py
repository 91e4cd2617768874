"""`manage.py demo_agreements`: demo partners, clients and agreements over the shipped recordings."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo.services import DemoDataError, demo_agreements_ensure


class Command(BaseCommand):
    help = "Create the demo partners, their clients and agreements (development only; safe to re-run)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo agreements are for development: run with DEBUG=true.")
        try:
            agreements = demo_agreements_ensure()
        except DemoDataError as error:
            raise CommandError(str(error)) from error
        for agreement in agreements:
            self.stdout.write(f"  {agreement.partner.partner_name:<20} {agreement} ")
