"""`manage.py flush`, as the schema owner: the application's role may not TRUNCATE, and the audit
log refuses it outside a maintenance session. Used by the test suite between transactional
tests; on a real database it erases everything, the audit log included."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections

from aurora.common.dbroles import as_schema_owner


class Command(DjangoFlush):
    help = DjangoFlush.help + " Runs as the schema owner (DATABASE_OWNER_URL), in a maintenance session."

    def handle(self, **options: Any) -> None:
        database = options["database"]
        with as_schema_owner(database):
            connection = connections[database]
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('aurora.maintenance', 'on', false)")
            try:
                super().handle(**options)
            finally:
                if connection.connection is not None:
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT set_config('aurora.maintenance', 'off', false)")
