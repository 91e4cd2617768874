"""Field types shared by every app."""

from typing import Any

from django.db import models

AMOUNT_MAX_DIGITS = 48
AMOUNT_DECIMAL_PLACES = 18


class NativeAmountField(models.DecimalField):  # type: ignore[type-arg]
    """An amount in a chain's smallest native unit (lamports, wei) as NUMERIC(48, 18).

    48 digits with 18 decimals leave 30 integer digits: room for any realistic wei sum
    (the seed's NUMERIC(38, 18) overflows at 10^20 wei = 100 ETH). Payable amounts are
    whole base units; fractions are kept only for intermediate bases. Never a float.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", AMOUNT_MAX_DIGITS)
        kwargs.setdefault("decimal_places", AMOUNT_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_digits") == AMOUNT_MAX_DIGITS:
            del kwargs["max_digits"]
        if kwargs.get("decimal_places") == AMOUNT_DECIMAL_PLACES:
            del kwargs["decimal_places"]
        return name, path, args, kwargs
