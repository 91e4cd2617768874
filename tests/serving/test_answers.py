"""Answers replayed from the cache (serving.answers): they change when their data change, they
are never replayed to another user or partner, and an unchanged answer is a 304."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from serving.models import ReadModelChange
from serving.versions import compact_changes, data_version
from tests import factories as f
from tests.api.test_api_partners import Book, bearer, book, commissions_url, data, statement_url

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)  # each step its own transaction, as in production
def test_a_write_to_a_watched_table_moves_the_version_and_compaction_keeps_it_new() -> None:
    north = book("Northwind Staking")
    before = data_version()
    north.partner.partner_name = "Northwind Renamed"
    north.partner.save()
    after = data_version()

    assert after != before
    assert compact_changes() >= 1
    assert ReadModelChange.objects.count() == 1
    compacted = data_version()
    assert compacted not in {before, after}
    assert compacted.split("-")[0] == after.split("-")[0]  # the weight is kept


def test_an_override_reaches_the_next_read_of_lines_and_statement(north: Book) -> None:
    client = bearer(north.user)
    first = client.get(commissions_url(north))
    statement = client.get(statement_url(north, "2025-08"))
    again = client.get(commissions_url(north))
    assert again.content == first.content and again["ETag"] == first["ETag"]

    line = north.released_lines[1]  # overridden already: a finance user changes the override
    line.override_amount_native = line.final_amount_native = Decimal("41000000")
    line.save()

    changed = client.get(commissions_url(north))
    assert changed["ETag"] != first["ETag"]
    finals = {row["line_id"]: row["final_amount_native"] for row in data(changed)}
    assert finals[str(line.pk)] == "41000000"
    assert client.get(statement_url(north, "2025-08"))["ETag"] != statement["ETag"]


def test_a_cached_answer_is_never_replayed_to_another_partner(north: Book, helios: Book) -> None:
    own = bearer(north.user).get(commissions_url(north))
    assert own.status_code == 200

    other = bearer(helios.user)
    stolen = other.get(commissions_url(north))  # north's URL, which north's answer is cached for
    assert stolen.status_code == 404
    assert stolen.content != own.content
    same_etag = other.get(commissions_url(north), headers={"If-None-Match": own["ETag"]})
    assert same_etag.status_code == 404
    assert data(other.get(commissions_url(helios)))[0]["agreement_name"] == "Helios Capital MEV share"


def test_narrowing_a_users_scope_takes_effect_at_once(north: Book) -> None:
    finance = f.UserFactory(username="finance-cache", role="FINANCE")
    client = bearer(finance)
    assert data(client.get(commissions_url(north)))

    finance.allowed_chain_ids = ["some-other-chain"]
    finance.save(update_fields=["allowed_chain_ids"])

    assert client.get(commissions_url(north)).status_code == 404


def test_an_unchanged_answer_is_304_with_no_body_and_a_changed_one_is_200(north: Book) -> None:
    client = bearer(north.user)
    first = client.get(commissions_url(north))
    tag = first["ETag"]
    assert tag.startswith('"')

    unchanged = client.get(commissions_url(north), headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged["ETag"] == tag

    north.rule.agreement.agreement_name = "Northwind renegotiated"
    north.rule.agreement.save()
    changed = client.get(commissions_url(north), headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed["ETag"] != tag
    assert data(changed)[0]["agreement_name"] == "Northwind renegotiated"


def test_a_replayed_answer_reads_no_data_tables(north: Book) -> None:
    from django.test.utils import CaptureQueriesContext

    client = bearer(north.user)
    client.get(commissions_url(north))
    with CaptureQueriesContext(connection) as captured:
        replayed = client.get(commissions_url(north))
    assert replayed.status_code == 200
    sql = " ".join(query["sql"] for query in captured.captured_queries)
    assert "partner_commission_lines" not in sql and "read_model_changes" in sql


def test_the_compaction_runs_as_a_task_on_an_hourly_schedule(north: Book) -> None:
    from django_celery_beat.models import PeriodicTask

    from serving.tasks import compact_read_model_changes

    schedule = PeriodicTask.objects.select_related("interval").get(
        task="serving.tasks.compact_read_model_changes"
    )
    assert (schedule.interval.every, schedule.interval.period, schedule.enabled) == (1, "hours", True)
    weight = data_version().split("-")[0]
    assert compact_read_model_changes.apply().get() >= 1
    assert ReadModelChange.objects.count() == 1
    assert data_version().split("-")[0] == weight


@pytest.mark.django_db(transaction=True)
def test_an_answer_reads_one_snapshot_so_a_commit_meanwhile_is_seen_whole_or_not_at_all() -> None:
    import threading

    from django.db import connections

    from partners.models import Partner
    from serving.versions import one_snapshot

    north = book("Northwind Staking")

    def commit_elsewhere() -> None:
        try:
            Partner.objects.filter(pk=north.partner.pk).update(partner_name="Renamed meanwhile")
        finally:
            connections.close_all()

    with one_snapshot():
        version = data_version()
        writer = threading.Thread(target=commit_elsewhere)
        writer.start()
        writer.join()
        assert data_version() == version  # the data and the version it is kept under stay together
        assert Partner.objects.get(pk=north.partner.pk).partner_name == "Northwind Staking"

    assert data_version() != version
    assert Partner.objects.get(pk=north.partner.pk).partner_name == "Renamed meanwhile"


def test_a_released_statement_download_is_304_when_the_client_holds_its_bytes(north: Book) -> None:
    client = bearer(north.user)
    url = statement_url(north, "2025-08") + "/export"
    first = client.get(url)
    assert first.status_code == 200 and first["ETag"]

    held = client.get(url, headers={"If-None-Match": first["ETag"]})
    stale = client.get(url, headers={"If-None-Match": '"something-else"'})

    assert held.status_code == 304 and held.content == b""
    assert stale.status_code == 200 and stale.content == first.content
