"""Views' decimal strings beside integer base units: tonnes from grams, yuan from fen, ratios.
Exact: Decimal arithmetic on integers, never floats."""

from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

GRAMS_PER_TONNE = 1_000_000
FEN_PER_YUAN = 100


def tonnes(grams: int) -> str:
    """Grams as tonnes, exactly (six decimals)."""
    return str(Decimal(grams).scaleb(-6).quantize(Decimal("0.000001")))


def yuan(fen: int) -> str:
    """Fen as yuan, exactly (two decimals)."""
    return str(Decimal(fen).scaleb(-2).quantize(Decimal("0.01")))


def decimal_text(value: Fraction, places: int = 6) -> str:
    """A fraction as a decimal string rounded half-even to `places` decimals."""
    quantum = Decimal(1).scaleb(-places)
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return str(exact.quantize(quantum, rounding=ROUND_HALF_EVEN))


def fraction_text(value: Fraction) -> str:
    """A fraction as `numerator/denominator` in lowest terms."""
    return f"{value.numerator}/{value.denominator}"


def with_units(row: dict[str, object]) -> dict[str, object]:
    """The row with a `_t` tonnes string beside every `*_g` column and a `_yuan` string beside
    every `*_fen` column (the integers stay)."""
    shown = dict(row)
    for column, value in row.items():
        if isinstance(value, int) and column.endswith("_g"):
            shown[column[:-2] + "_t"] = tonnes(value)
        elif isinstance(value, int) and column.endswith("_fen"):
            shown[column[:-4] + "_yuan"] = yuan(value)
    return shown
