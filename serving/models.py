"""The version of what the API and the portal read, kept by the database itself.

Every transaction that writes a table the answers are made from (lines, statements, P&L,
agreements, partners, periods, ...: `serving.migrations.0001_read_model_changes.WATCHED`) keeps
one row here, whose weight a statement-level trigger raises by one per writing statement. The
version readers key their cached answers by is (sum of weights, greatest transaction id). Other
sessions see a transaction's row when it commits, together with its data, so the version moves
exactly when new data become visible, and it never comes back to a value it had, even after the
table is emptied or compacted. Writers never wait for one another here: each writes its own row.
"""

from __future__ import annotations

from django.db import models


class ReadModelChange(models.Model):
    transaction_id = models.BigIntegerField(primary_key=True)
    weight = models.BigIntegerField(
        default=1, help_text="How many committed changes this row stands for (more once compacted)."
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "read_model_changes"
        verbose_name = "read model change"

    def __str__(self) -> str:
        return f"transaction {self.transaction_id} (x{self.weight})"
