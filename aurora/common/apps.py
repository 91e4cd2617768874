import decimal

from django.apps import AppConfig

# Amounts are NUMERIC(48, 18): up to 48 significant digits, more than the 28 of Python's default
# decimal context. Every thread's context starts from DefaultContext, so raising it here keeps an
# addition of two stored amounts exact anywhere in Aurora; code that needs more sets its own.
DECIMAL_PRECISION = 80


class CommonConfig(AppConfig):
    name = "aurora.common"
    label = "common"
    verbose_name = "Aurora common"

    def ready(self) -> None:
        from aurora.common import checks, dbscope  # noqa: F401 (checks registers itself)

        dbscope.install()
        decimal.DefaultContext.prec = DECIMAL_PRECISION
        decimal.getcontext().prec = max(decimal.getcontext().prec, DECIMAL_PRECISION)
