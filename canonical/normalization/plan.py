"""What a normalization uses: the chain, the operator's validators, the mapped providers (best
first) with a parser each, and the chain's reconciliation settings. Checked before any work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from canonical import reconciliation
from chains.models import Chain, ChainProviderMapping, Provider, ValidatorIdentity
from ingestion.models import DataType
from ingestion.providers.base import ChainSettings, ProviderAdapter, ProviderSettings
from ingestion.providers.registry import ADAPTERS, build_parser
from ingestion.services import ROLE_DATA_TYPES


class NormalizationError(Exception):
    """The request cannot be carried out as asked (unknown chain or validator, empty range)."""


@dataclass
class NormalizationPlan:
    chain: Chain
    validators: list[ValidatorIdentity]
    providers: dict[DataType, list[Provider]]  # best first
    parsers: dict[str, ProviderAdapter]
    settings: reconciliation.Settings

    @property
    def family(self) -> str:
        families = {type(parser).chain_family for parser in self.parsers.values()}
        return families.pop() if len(families) == 1 else ""


def normalization_plan(*, chain_id: str, validator_keys: Sequence[str] = ()) -> NormalizationPlan:
    chain = Chain.objects.filter(pk=chain_id).first()
    if chain is None:
        raise NormalizationError(f"unknown chain {chain_id!r}; run `manage.py sync_registry` first")
    identities = list(ValidatorIdentity.objects.filter(chain=chain, is_active=True).order_by("validator_key"))
    if validator_keys:
        unknown = sorted(set(validator_keys) - {v.validator_key for v in identities})
        if unknown:
            raise NormalizationError(f"not validators of the operator on {chain_id}: {', '.join(unknown)}")
        identities = [v for v in identities if v.validator_key in set(validator_keys)]
    if not identities:
        raise NormalizationError(f"no active validators registered for {chain_id}")
    mappings = (
        ChainProviderMapping.objects.filter(chain=chain, is_active=True, provider__is_enabled=True)
        .select_related("provider")
        .order_by("provider_role", "priority", "provider__provider_name")
    )
    settings = ChainSettings.from_model(chain)
    providers: dict[DataType, list[Provider]] = {}
    parsers: dict[str, ProviderAdapter] = {}
    for mapping in mappings:
        data_type = ROLE_DATA_TYPES.get(mapping.provider_role)
        adapter = ADAPTERS.get(mapping.provider.adapter)
        if data_type is None or adapter is None or data_type not in adapter.supplies:
            continue
        providers.setdefault(data_type, []).append(mapping.provider)
        name = mapping.provider.provider_name
        if name not in parsers:
            parsers[name] = build_parser(settings, ProviderSettings.from_model(mapping.provider))
    try:
        thresholds = reconciliation.Settings.for_chain(chain)
    except reconciliation.ReconciliationSettingsError as error:
        raise NormalizationError(f"chains.yaml: {error}") from error
    return NormalizationPlan(
        chain=chain, validators=identities, providers=providers, parsers=parsers, settings=thresholds
    )
