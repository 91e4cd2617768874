"""A factory for every model of the apps, by model label: for tests that walk every model (the
admin pages, the access policy)."""

import itertools
from collections.abc import Callable
from typing import Any

from tests import factories as f

CHAIN_IDS = itertools.count()

FACTORIES: dict[str, Callable[..., Any]] = {
    "chains.chain": lambda: f.ChainFactory(id=f"chain-{next(CHAIN_IDS)}"),
    "chains.provider": f.ProviderFactory,
    "chains.chainprovidermapping": f.ChainProviderMappingFactory,
    "chains.period": f.PeriodFactory,
    "chains.validatoridentity": f.ValidatorIdentityFactory,
    "partners.partner": f.PartnerFactory,
    "partners.partnerclient": f.PartnerClientFactory,
    "accounts.user": f.PartnerUserFactory,
    "accounts.auditlog": f.AuditLogFactory,
    "ingestion.ingestionrun": f.IngestionRunFactory,
    "ingestion.stagingpayload": f.StagingPayloadFactory,
    "canonical.canonicalvalidatorfees": f.CanonicalValidatorFeesFactory,
    "canonical.canonicalvalidatormev": f.CanonicalValidatorMevFactory,
    "canonical.canonicalstakereward": f.CanonicalStakeRewardFactory,
    "canonical.canonicalvalidatormeta": f.CanonicalValidatorMetaFactory,
    "canonical.normalizationrun": f.NormalizationRunFactory,
    "canonical.normalizedinput": f.NormalizedInputFactory,
    "canonical.reconciliationreport": f.ReconciliationReportFactory,
    "canonical.reconciliationfinding": f.ReconciliationFindingFactory,
    "commissions.validatorpnl": f.ValidatorPnlFactory,
    "commissions.agreement": lambda: f.AgreementVersionFactory().agreement,  # with its first version
    "commissions.agreementversion": f.AgreementVersionFactory,
    "commissions.agreementrule": f.AgreementRuleFactory,
    "commissions.statement": f.StatementFactory,
    "commissions.commissionline": f.CommissionLineFactory,
    "commissions.agreementstatusevent": f.AgreementStatusEventFactory,
    "commissions.computationrun": f.ComputationRunFactory,
    "commissions.clientstakesnapshot": f.ClientStakeSnapshotFactory,
    "operations.job": f.JobFactory,
}
