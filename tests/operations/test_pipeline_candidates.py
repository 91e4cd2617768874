"""Which final periods discovery looks at: consecutive epochs, or windows named by their first
epoch on a BLOCK_WINDOW chain."""

from __future__ import annotations

from typing import Any

import pytest

from ingestion.services import IngestOptions
from operations.pipeline import candidate_periods
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_epochs_are_consecutive(settings: Any) -> None:
    settings.AURORA_PIPELINE_LOOKBACK_PERIODS = 4
    chain = f.ChainFactory()

    assert candidate_periods(chain, 853, IngestOptions()) == [850, 851, 852, 853]


def test_windows_step_by_their_length_back_from_the_newest_final_one(settings: Any) -> None:
    settings.AURORA_PIPELINE_LOOKBACK_PERIODS = 3
    chain = f.ChainFactory(ethereum=True)  # 225-epoch windows

    assert candidate_periods(chain, 395_100, IngestOptions()) == [394_650, 394_875, 395_100]


def test_a_first_period_setting_cuts_the_lookback(settings: Any) -> None:
    settings.AURORA_PIPELINE_LOOKBACK_PERIODS = 10
    chain = f.ChainFactory(ethereum=True)
    chain.parameters = {**(chain.parameters or {}), "pipeline_from_period": 394_800}

    assert candidate_periods(chain, 395_100, IngestOptions()) == [394_875, 395_100]
