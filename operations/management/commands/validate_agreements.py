"""`manage.py validate_agreements`: the terms of every ACTIVE agreement can be applied."""

from itertools import groupby
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from operations.agreement_checks import validate_active_agreements


class Command(BaseCommand):
    help = (
        "Check every ACTIVE agreement's current terms: valid rules (as the back office validates "
        "them), active chains, registered and active validators, recorded terms equal to the rules, "
        "versions that do not overlap. Exit status 1 on problems."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = validate_active_agreements()
        for (_, label, version), problems in groupby(
            result.problems, key=lambda p: (p.agreement_id, p.agreement, p.version)
        ):
            self.stdout.write(f"{label}, version {version}:")
            for problem in problems:
                self.stdout.write(f"  {problem.message}")
        if not result.clean:
            agreements = len({problem.agreement_id for problem in result.problems})
            raise CommandError(
                f"{len(result.problems)} problem(s) in {agreements} of {result.checked} active agreement(s)"
            )
        self.stdout.write(self.style.SUCCESS(f"{result.checked} active agreement(s): no problems"))
