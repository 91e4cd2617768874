"""The pure derivation of canonical rows from typed provider values (no database)."""

from __future__ import annotations

from decimal import Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from canonical.rows import exact, mev_rows, mev_share, ratio, solana_stake_rows
from ingestion.providers.base import StakeAccountReward, StakeRewards, ValidatorMev

U64 = 2**64 - 1


@given(
    numerator=st.integers(min_value=0, max_value=10**30),
    denominator=st.integers(min_value=1, max_value=10**6),
)
def test_integer_ratio_gives_the_digits_of_an_80_digit_decimal_division(
    numerator: int, denominator: int
) -> None:
    with localcontext(prec=80):
        expected = exact(Decimal(numerator) / denominator)

    found = ratio(numerator, denominator)

    assert found == expected
    assert found.as_tuple().exponent == -18


@given(
    tips=st.integers(min_value=0, max_value=10**30),
    bps=st.integers(min_value=0, max_value=10_000),
    tip_count=st.integers(min_value=0, max_value=10_000),
)
def test_the_mev_split_is_tips_times_commission_exactly_and_the_row_carries_it(
    tips: int, bps: int, tip_count: int
) -> None:
    mev = ValidatorMev(
        validator_key="V", period="1", total_tips=tips, commission_bps=bps, tip_count=tip_count
    )

    share = mev_share(mev)
    (row,) = mev_rows(mev, "request")

    assert share * 10_000 == tips * bps  # bps / 10,000 never needs more than 4 places
    assert row.values["total_mev_native"] == share
    assert row.values["gross_mev_native"] == tips
    assert (row.values["tip_count"], row.values["mev_commission_bps"]) == (tip_count, bps)


def agave_split(gross: int, pct: int) -> tuple[int, int]:
    """(validator's cut, staker's reward) as Agave's commission_split floors them."""
    return gross * pct // 100, gross * (100 - pct) // 100


accounts = st.lists(
    st.tuples(
        st.integers(min_value=1_000_000_000, max_value=10**17),  # stake during the epoch
        st.integers(min_value=0, max_value=10**6),  # reward rate, parts per 10^9
    ),
    min_size=1,
    max_size=40,
)


def rewards_for(stakes: list[tuple[int, int]], pct: int) -> tuple[StakeRewards, list[tuple[int, int, int]]]:
    truth = []
    listed = []
    vote = 0
    for index, (stake, rate) in enumerate(stakes):
        gross = stake * rate // 10**9
        voter, net = agave_split(gross, pct)
        vote += voter
        truth.append((gross, voter, net))
        listed.append(
            StakeAccountReward(
                stake_account=f"Stake{index:039d}",
                staker="S" * 32,
                withdrawer=f"W{index % 3:031d}",
                delegated_stake=stake + net,  # compounded when paid
                activation_epoch=1,
                deactivation_epoch=None,
                reward=net,
                commission_pct=pct,
                post_balance=None,
                effective_slot=None,
            )
        )
    value = StakeRewards(
        validator_key="Vote" + "1" * 40,
        period="850",
        vote_reward=vote,
        vote_commission_pct=pct,
        stake_accounts=tuple(listed),
    )
    return value, truth


@settings(max_examples=200, deadline=None)
@given(stakes=accounts, pct=st.integers(min_value=0, max_value=99))
def test_derived_commissions_are_within_agave_s_rounding_and_add_up_to_the_vote_reward(
    stakes: list[tuple[int, int]], pct: int
) -> None:
    value, truth = rewards_for(stakes, pct)

    rows, facts = solana_stake_rows(value, sources={}, default_source="inflation-rewards#0000")

    aggregate, *stakers = rows
    assert aggregate.key[1] is None
    assert aggregate.values["commission_native"] == value.vote_reward
    assert aggregate.values["rewards_native"] == value.vote_reward + sum(net for _, _, net in truth)
    assert facts.active_stake == sum(stake for stake, _ in stakes)
    per_account = max(Decimal(1), Decimal(pct) / (100 - pct))
    for row, (gross, voter, net), (stake, _) in zip(stakers, truth, stakes, strict=True):
        assert row.values["rewards_native"] - row.values["commission_native"] == net  # net stays exact
        assert abs(row.values["commission_native"] - voter) < per_account
        assert abs(row.values["rewards_native"] - gross) < Decimal(100) / (100 - pct)
        assert row.values["active_stake_native"] == stake
        assert row.values["commission_rate_bps"] == pct * 100
    total = sum(row.values["commission_native"] for row in stakers)
    assert abs(total - value.vote_reward) < per_account * len(stakers)


@settings(max_examples=50, deadline=None)
@given(stakes=accounts, pct=st.integers(min_value=0, max_value=99), data=st.data())
def test_rows_do_not_depend_on_the_order_of_the_stake_accounts(
    stakes: list[tuple[int, int]], pct: int, data: st.DataObject
) -> None:
    value, _ = rewards_for(stakes, pct)
    shuffled = data.draw(st.permutations(value.stake_accounts))
    reordered = StakeRewards(
        value.validator_key, value.period, value.vote_reward, value.vote_commission_pct, tuple(shuffled)
    )

    rows = solana_stake_rows(value, sources={}, default_source="x")[0]
    again = solana_stake_rows(reordered, sources={}, default_source="x")[0]

    assert {row.key: dict(row.values) for row in rows} == {row.key: dict(row.values) for row in again}


def test_at_100_percent_the_vote_reward_is_shared_by_stake() -> None:
    value = StakeRewards(
        validator_key="Vote" + "1" * 40,
        period="850",
        vote_reward=1_000,
        vote_commission_pct=100,
        stake_accounts=tuple(
            StakeAccountReward(f"Stake{i:039d}", "S" * 32, "W" * 32, stake, 1, None, 0, 100, None, None)
            for i, stake in enumerate([1 * 10**9, 3 * 10**9])
        ),
    )

    _, first, second = solana_stake_rows(value, sources={}, default_source="x")[0]

    assert (first.values["commission_native"], second.values["commission_native"]) == (250, 750)
    assert first.values["rewards_native"] == 250  # the staker kept nothing: gross = commission


def test_accounts_without_a_reward_get_no_row_and_no_stake() -> None:
    value, _ = rewards_for([(10**12, 500), (10**12, 500)], 5)
    idle = StakeAccountReward(
        "Idle" + "1" * 40, "S" * 32, "W" * 32, 10**12, 900, None, None, None, None, None
    )
    with_idle = StakeRewards(value.validator_key, "850", value.vote_reward, 5, (*value.stake_accounts, idle))

    rows, facts = solana_stake_rows(with_idle, sources={}, default_source="x")

    assert len(rows) == 3 and facts.earning_accounts == 2
    assert facts.active_stake == 2 * 10**12
