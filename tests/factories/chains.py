from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from chains.models import (
    Chain,
    ChainProviderMapping,
    Period,
    PeriodType,
    Provider,
    ProviderRole,
    ValidatorIdentity,
)


class ChainFactory(DjangoModelFactory[Chain]):
    """Solana mainnet by default (fetched if it exists); `ChainFactory(ethereum=True)` for Ethereum."""

    class Meta:
        model = Chain
        django_get_or_create = ("id",)

    class Params:
        ethereum = factory.Trait(
            id="ethereum-mainnet",
            name="Ethereum Mainnet",
            period_type=PeriodType.BLOCK_WINDOW,
            native_unit="wei",
            native_decimals=18,
            display_symbol="ETH",
            finality_lag=2,
            period_length_epochs=225,
        )

    id = "solana-mainnet"
    name = "Solana Mainnet Beta"
    period_type = PeriodType.EPOCH
    native_unit = "lamport"
    native_decimals = 9
    display_symbol = "SOL"
    finality_lag = 1


class ProviderFactory(DjangoModelFactory[Provider]):
    class Meta:
        model = Provider
        django_get_or_create = ("provider_name",)

    provider_name = factory.Sequence(lambda n: f"provider-{n}")
    provider_type = ProviderRole.RPC
    adapter = "solana.rpc"
    base_url = "https://rpc.example.com"


class ChainProviderMappingFactory(DjangoModelFactory[ChainProviderMapping]):
    class Meta:
        model = ChainProviderMapping

    chain = factory.SubFactory(ChainFactory)
    provider = factory.SubFactory(ProviderFactory)
    provider_role = ProviderRole.FEES
    priority = factory.Sequence(lambda n: n + 1)


class PeriodFactory(DjangoModelFactory[Period]):
    """Solana epochs by default: 432,000 slots of about 0.4 s, two days each."""

    class Meta:
        model = Period

    class Params:
        epoch = factory.Sequence(lambda n: 800 + n)

    chain = factory.SubFactory(ChainFactory)
    period_identifier = factory.LazyAttribute(lambda o: str(o.epoch))
    period_start = factory.LazyAttribute(
        lambda o: timezone.now().replace(microsecond=0) - timedelta(days=2 * (1000 - o.epoch))
    )
    period_end = factory.LazyAttribute(lambda o: o.period_start + timedelta(days=2))
    first_index = factory.LazyAttribute(lambda o: o.epoch * 432_000)
    last_index = factory.LazyAttribute(lambda o: o.epoch * 432_000 + 431_999)
    is_finalized = True
    finalized_at = factory.LazyAttribute(lambda o: o.period_end + timedelta(hours=1))


class ValidatorIdentityFactory(DjangoModelFactory[ValidatorIdentity]):
    class Meta:
        model = ValidatorIdentity

    chain = factory.SubFactory(ChainFactory)
    validator_key = factory.Sequence(lambda n: f"Vote{n:040d}")
    vote_pubkey = factory.LazyAttribute(lambda o: o.validator_key)
    identity_pubkey = factory.Sequence(lambda n: f"Node{n:040d}")
    display_name = factory.Sequence(lambda n: f"Validator {n}")
