"""`manage.py migrate`, as the schema owner: Django's migrate run with DATABASE_OWNER_URL's role,
then the application's role gets exactly its privileges (aurora.common.dbroles) and the
database the check of the application's scope key (aurora.common.dbscope)."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.migrate import Command as DjangoMigrate

from aurora.common.dbroles import as_schema_owner, grant_application_privileges
from aurora.common.dbscope import store_scope_key


class Command(DjangoMigrate):
    help = (
        "Apply migrations as the schema owner (DATABASE_OWNER_URL), then grant the application's role "
        "(DATABASE_URL) its privileges per table and store the check of its scope key."
    )

    def execute(self, *args: Any, **options: Any) -> str | None:
        # The system checks run in execute(), before handle(): they too see the owner's session.
        with as_schema_owner(options.get("database") or "default") as application:
            self.application = application
            return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        database = options["database"]
        super().handle(*args, **options)
        if options.get("plan") or options.get("check_unapplied"):
            return
        store_scope_key(application=self.application, using=database)
        granted = grant_application_privileges(application=self.application, using=database)
        if options["verbosity"] >= 1 and granted:
            self.stdout.write(
                f"Granted the application's role {self.application!r} its privileges on {granted} tables."
            )
