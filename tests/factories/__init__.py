"""factory-boy factories for every model, producing rows that satisfy every database constraint."""

from .accounts import AuditLogFactory, PartnerUserFactory, UserFactory
from .canonical import (
    CanonicalPeriodRevisionFactory,
    CanonicalStakeRewardFactory,
    CanonicalValidatorFeesFactory,
    CanonicalValidatorMetaFactory,
    CanonicalValidatorMevFactory,
    NormalizationRunFactory,
    NormalizedInputFactory,
    ReconciliationFindingFactory,
    ReconciliationReportFactory,
)
from .chains import (
    ChainFactory,
    ChainProviderMappingFactory,
    PeriodFactory,
    ProviderFactory,
    ValidatorIdentityFactory,
)
from .commissions import (
    AgreementFactory,
    AgreementRuleFactory,
    AgreementStatusEventFactory,
    AgreementVersionFactory,
    ClientStakeSnapshotFactory,
    CommissionLineFactory,
    ComputationRunFactory,
    StatementDocumentFactory,
    StatementFactory,
    ValidatorPnlFactory,
)
from .ingestion import IngestionRunFactory, StagingPayloadFactory
from .operations import JobFactory
from .partners import PartnerClientFactory, PartnerFactory

__all__ = [
    "AgreementFactory",
    "AgreementRuleFactory",
    "AgreementStatusEventFactory",
    "AgreementVersionFactory",
    "AuditLogFactory",
    "CanonicalPeriodRevisionFactory",
    "CanonicalStakeRewardFactory",
    "CanonicalValidatorFeesFactory",
    "CanonicalValidatorMetaFactory",
    "CanonicalValidatorMevFactory",
    "ChainFactory",
    "ChainProviderMappingFactory",
    "ClientStakeSnapshotFactory",
    "CommissionLineFactory",
    "ComputationRunFactory",
    "IngestionRunFactory",
    "JobFactory",
    "NormalizationRunFactory",
    "NormalizedInputFactory",
    "PartnerClientFactory",
    "PartnerFactory",
    "PartnerUserFactory",
    "PeriodFactory",
    "ProviderFactory",
    "ReconciliationFindingFactory",
    "ReconciliationReportFactory",
    "StagingPayloadFactory",
    "StatementDocumentFactory",
    "StatementFactory",
    "UserFactory",
    "ValidatorIdentityFactory",
    "ValidatorPnlFactory",
]
