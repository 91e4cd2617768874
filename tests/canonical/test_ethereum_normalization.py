"""Ethereum normalization: the shipped recordings into the canonical tables, in wei, to the wei.

FEES = priority fees of locally built blocks; MEV = relay values of canonical deliveries (all the
validator's); stake rewards = consensus income earned and penalties (both >= 0) per validator and
per withdrawal address, with the operator's contractual fee as the commission; META from the
Beacon state with the fee as the commission rate."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import QuerySet

from canonical.models import (
    CanonicalRecord,
    CanonicalStakeReward,
    CanonicalValidatorFees,
    CanonicalValidatorMeta,
    CanonicalValidatorMev,
    NormalizationStatus,
)
from canonical.normalization.ethereum import OperatorFeeError, operator_fee_bps
from canonical.normalization.families import family_rows
from canonical.normalization.plan import NormalizationError
from canonical.services import normalize_range
from chains.models import Chain
from demo.simulated.ethereum import SimulatedEthereum
from tests.ethereum_demo import BY_NAME, CHAIN, PERIOD_LENGTH, PERIODS, VALIDATORS, load_registry, replay

WORLD = SimulatedEthereum()
GWEI = 10**9
SLOTS = 32
ALPHA, BETA, GAMMA, DELTA = (BY_NAME[f"Aurora ETH {name}"] for name in ("Alpha", "Beta", "Gamma", "Delta"))
FEE_BPS = 1_000  # config/chains.yaml: operator_fee_bps of ethereum-mainnet


@pytest.fixture
def staged(db: None) -> None:
    load_registry()
    replay()


def current(model: type[CanonicalRecord], **filters: object) -> QuerySet[Any]:
    return model._default_manager.filter(chain_id=CHAIN, superseded_at__isnull=True, **filters)


def window_income_wei(validator_key: str, window: int) -> int:
    """The simulated network's consensus income of the window: the balance moved by exactly it."""
    spec = WORLD.by_pubkey[validator_key]
    first_slot, last_slot = window * SLOTS, (window + PERIOD_LENGTH) * SLOTS - 1
    return (WORLD.balance(spec.index, last_slot) - WORLD.balance(spec.index, first_slot - 1)) * GWEI


def test_fees_mev_and_consensus_income_match_the_network_to_the_wei(staged: None) -> None:
    runs = normalize_range(chain_id=CHAIN, first=PERIODS[0], last=PERIODS[-1])

    assert [run.status for run in runs] == [NormalizationStatus.SUCCESS] * 2
    assert all(run.rows_inserted == 4 * 5 for run in runs)  # fees, MEV, META, 2 stake rows each
    fees = {
        (row.period.period_identifier, row.validator_key): row.total_fees_native
        for row in current(CanonicalValidatorFees).select_related("period")
    }
    # Locally built blocks only: Alpha's slot 12640005 and Beta's 12640163; relay-delivered and
    # missed slots earn no fees.
    assert fees == {
        ("395000", ALPHA): Decimal(787_031_300_000_000),
        ("395000", BETA): 0,
        ("395000", GAMMA): 0,
        ("395000", DELTA): 0,
        ("395004", ALPHA): 0,
        ("395004", BETA): Decimal(7_443_751_500_000_000),
        ("395004", GAMMA): 0,
        ("395004", DELTA): 0,
    }
    mev = {
        (row.period.period_identifier, row.validator_key): row
        for row in current(CanonicalValidatorMev).select_related("period")
    }
    beta = mev[("395000", BETA)]
    # one block hash delivered by two relays counts once; Titan's never-included payload not at all
    assert (beta.total_mev_native, beta.gross_mev_native, beta.tip_count, beta.mev_commission_bps) == (
        Decimal(48_213_907_461_253_381),
        Decimal(48_213_907_461_253_381),
        1,
        10_000,
    )
    assert mev[("395004", ALPHA)].total_mev_native == Decimal(31_337_123_456_789_012)
    assert mev[("395000", GAMMA)].total_mev_native == 0  # Aestus's payload for the missed slot
    assert sum(1 for row in mev.values() if row.total_mev_native) == 2

    for window in PERIODS:
        for key in VALIDATORS:
            rows = {
                row.staker_address: row
                for row in current(
                    CanonicalStakeReward, validator_key=key, period__period_identifier=str(window)
                )
            }
            aggregate = rows.pop(None)
            ((staker, row),) = rows.items()
            income = window_income_wei(key, window)
            assert aggregate.rewards_native - aggregate.penalties_native == income
            assert aggregate.rewards_native >= 0 and aggregate.penalties_native >= 0
            assert aggregate.commission_native == Decimal(income) * FEE_BPS / 10_000
            assert aggregate.commission_rate_bps == FEE_BPS
            for name in ("rewards_native", "penalties_native", "commission_native", "active_stake_native"):
                assert getattr(row, name) == getattr(aggregate, name)
            spec = WORLD.by_pubkey[key]
            assert row.active_stake_native == spec.effective_balance_gwei * GWEI
            if spec.withdrawal_address:
                assert staker == row.withdraw_authority == spec.withdrawal_address.lower()
            else:  # 0x00: keyed by the BLS withdrawal credentials, no withdraw authority
                assert staker == spec.withdrawal_credentials and row.withdraw_authority is None
    # Gamma missed an attestation in epoch 395001, Delta two sync-committee signatures: penalties
    gamma = current(CanonicalStakeReward, validator_key=GAMMA, period__period_identifier="395000")[0]
    delta = current(CanonicalStakeReward, validator_key=DELTA, period__period_identifier="395000")[0]
    assert gamma.penalties_native > 0 and delta.penalties_native > 0
    alpha = current(CanonicalStakeReward, validator_key=ALPHA, period__period_identifier="395000")[0]
    assert alpha.penalties_native == 0

    meta = current(CanonicalValidatorMeta, validator_key=GAMMA, period__period_identifier="395000").get()
    assert meta.commission_rate_bps == FEE_BPS
    assert meta.total_stake_native == 64 * 10**18 and meta.active_stake_native == 64 * 10**18
    assert meta.delegator_count == 1
    assert meta.uptime_percentage == 0  # its only duty was missed
    assert meta.field_sources["commission_rate_bps"] == "operator fee (chain parameters)"
    beta_meta = current(CanonicalValidatorMeta, validator_key=BETA, period__period_identifier="395000").get()
    assert (beta_meta.is_mev_enabled, beta_meta.mev_commission_bps) == (True, 10_000)


def test_normalizing_again_changes_nothing(staged: None) -> None:
    call_command(
        "normalize", "--chain", CHAIN, "--from-period", str(PERIODS[0]), "--to-period", str(PERIODS[-1])
    )
    rows = CanonicalStakeReward.objects.count()
    again = normalize_range(chain_id=CHAIN, first=PERIODS[0], last=PERIODS[-1])
    assert [run.status for run in again] == [NormalizationStatus.SUCCESS] * 2
    assert [(run.rows_inserted, run.rows_superseded, run.validators_unchanged) for run in again] == [
        (0, 0, 4)
    ] * 2
    assert CanonicalStakeReward.objects.count() == rows == 2 * 4 * 2


def test_a_changed_operator_fee_supersedes_the_commission_and_one_validator_can_have_its_own(
    staged: None,
) -> None:
    normalize_range(chain_id=CHAIN, first=PERIODS[0], last=PERIODS[0])
    chain = Chain.objects.get(pk=CHAIN)
    chain.parameters = {**chain.parameters, "operator_fee_bps_by_validator": {ALPHA: 500}}
    chain.save(update_fields=["parameters", "updated_at"])
    # the fee is part of the rows' values, not of the staged inputs: a new normalizer input makes
    # the run look again (here: forget the fingerprints)
    from canonical.models import NormalizedInput

    NormalizedInput.objects.filter(chain_id=CHAIN).delete()
    (run,) = normalize_range(chain_id=CHAIN, first=PERIODS[0], last=PERIODS[0])

    assert run.status == NormalizationStatus.SUCCESS
    alpha = current(CanonicalStakeReward, validator_key=ALPHA, staker_address__isnull=True).get()
    beta = current(CanonicalStakeReward, validator_key=BETA, staker_address__isnull=True).get()
    assert (alpha.commission_rate_bps, beta.commission_rate_bps) == (500, FEE_BPS)
    assert alpha.commission_native == (alpha.rewards_native - alpha.penalties_native) * 500 / 10_000
    assert CanonicalStakeReward.objects.filter(validator_key=ALPHA, superseded_at__isnull=False).count() == 2
    assert CanonicalStakeReward.objects.filter(validator_key=BETA, superseded_at__isnull=False).count() == 0
    meta = current(CanonicalValidatorMeta, validator_key=ALPHA).get()
    assert meta.commission_rate_bps == 500


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"operator_fee_bps": 10_001}, "operator_fee_bps: expected an integer from 0 to 10000"),
        ({"operator_fee_bps": "10"}, "operator_fee_bps: expected an integer"),
        ({"operator_fee_bps_by_validator": ["x"]}, "expected a map"),
    ],
)
def test_an_unusable_operator_fee_fails_the_run_and_writes_nothing(
    staged: None, parameters: dict[str, object], message: str
) -> None:
    chain = Chain.objects.get(pk=CHAIN)
    chain.parameters = {**chain.parameters, **parameters}
    chain.save(update_fields=["parameters", "updated_at"])
    (run,) = normalize_range(chain_id=CHAIN, first=PERIODS[0], last=PERIODS[0])
    assert run.status == NormalizationStatus.FAILED
    assert message in (run.error_message or "")
    assert not CanonicalStakeReward.objects.filter(chain_id=CHAIN).exists()
    assert not CanonicalValidatorFees.objects.filter(chain_id=CHAIN).exists()


def test_operator_fee_resolution() -> None:
    assert operator_fee_bps({}, "v") == 0
    assert operator_fee_bps({"operator_fee_bps": 750}, "v") == 750
    assert operator_fee_bps({"operator_fee_bps": 750, "operator_fee_bps_by_validator": {"v": 0}}, "v") == 0
    assert operator_fee_bps({"operator_fee_bps": 750, "operator_fee_bps_by_validator": {"w": 0}}, "v") == 750
    with pytest.raises(OperatorFeeError):
        operator_fee_bps({"operator_fee_bps": True}, "v")


def test_a_family_without_a_stake_normalizer_is_refused() -> None:
    with pytest.raises(NormalizationError, match="no stake-reward normalizer for chain family 'cosmos'"):
        family_rows("cosmos").stake(object(), chain=Chain(), sources={}, default_source="")
    assert family_rows("solana").family == "solana" and family_rows("ethereum").family == "ethereum"
