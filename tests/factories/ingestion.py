import factory
from factory.django import DjangoModelFactory

from aurora.common.hashing import sha256_hex
from ingestion.models import DataType, IngestionRun, IngestionStatus, StagingPayload

from .chains import ChainFactory, PeriodFactory, ProviderFactory


class IngestionRunFactory(DjangoModelFactory[IngestionRun]):
    """A finished run; `completed_at` stays empty because `started_at` is set by the save."""

    class Meta:
        model = IngestionRun

    chain = factory.SubFactory(ChainFactory)
    period = factory.SubFactory(PeriodFactory, chain=factory.SelfAttribute("..chain"))
    status = IngestionStatus.SUCCESS
    records_fetched = 4
    records_staged = 4


def _epoch(period_identifier: str) -> int | str:
    return int(period_identifier) if period_identifier.isdigit() else period_identifier


class StagingPayloadFactory(DjangoModelFactory[StagingPayload]):
    """A getInflationReward response as Solana RPC returns it (amounts are integers, lamports).

    Chain and period follow the run: pass `run=` to stage into an existing one.
    """

    class Meta:
        model = StagingPayload

    run = factory.SubFactory(IngestionRunFactory)
    chain = factory.SelfAttribute("run.chain")
    period = factory.LazyAttribute(lambda o: o.run.period or PeriodFactory(chain=o.chain))
    validator_key = factory.Sequence(lambda n: f"Vote{n:040d}")
    provider = factory.SubFactory(ProviderFactory)
    data_type = DataType.REWARDS
    request_key = factory.Sequence(lambda n: f"getInflationReward#{n}")
    raw_payload = factory.LazyAttribute(
        lambda o: {
            "jsonrpc": "2.0",
            "id": 1,
            "result": [
                {
                    "epoch": _epoch(o.period.period_identifier),
                    "effectiveSlot": 346032000,
                    "amount": 21456789012,
                    "postBalance": 98765432100,
                    "commission": 5,
                }
            ],
        }
    )
    response_hash = factory.LazyAttribute(lambda o: sha256_hex(o.raw_payload))
