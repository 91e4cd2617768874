import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.users import demo_users_ensure


class Command(BaseCommand):
    help = "Create one demo user per role (development only) and print their logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            help="password for every demo user (default: generated once and kept in .var/demo-password)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo users are for development: run with DEBUG=true.")
        password = options["password"] or self._stored_password(settings.BASE_DIR / ".var" / "demo-password")
        users = demo_users_ensure(password=password)
        self.stdout.write(f"Demo logins (password for all: {password})")
        for user in users:
            where = "/admin/" if user.is_staff else f"/portal/ ({user.partner})"
            self.stdout.write(f"  {user.username:<9} {user.role:<8} {where}")

    @staticmethod
    def _stored_password(path: Path) -> str:
        if path.is_file():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        password = "demo-" + secrets.token_urlsafe(9)
        path.write_text(password + "\n")
        path.chmod(0o600)
        return password
