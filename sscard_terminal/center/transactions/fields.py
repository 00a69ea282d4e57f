"""Field types of the transactions' input nodes (settlement-interface.md).

Amounts are Decimal with at most 2 places, never floats (the body is parsed
with Decimal numbers, see :mod:`sscard_terminal.center.wire`); counts and
prices allow 4 places; times are ``yyyy-MM-dd HH:mm:ss`` and dates
``yyyy-MM-dd`` (Asia/Shanghai).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = [
    "Amount",
    "Code3",
    "Code30",
    "Code50",
    "DateText",
    "Flag",
    "InputModel",
    "Price",
    "Quantity",
    "SignedAmount",
    "Text3",
    "Text6",
    "Text19",
    "Text30",
    "Text32",
    "Text50",
    "Text64",
    "Text100",
    "Text200",
    "Text1000",
    "TimeText",
]

_LIMIT = Decimal(10) ** 10


def _decimal(value: Any, places: int, *, negative: bool = False, positive: bool = False) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError("must be a decimal number (or its text)")
    if not isinstance(value, int | str | Decimal):
        raise ValueError("must be a decimal number (or its text)")
    try:
        result = Decimal(value.strip() if isinstance(value, str) else value)
    except ArithmeticError:
        raise ValueError("not a decimal number") from None
    if not result.is_finite():
        raise ValueError("must be finite")
    exponent = result.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        raise ValueError(f"at most {places} decimal places")
    if not negative and result < 0:
        raise ValueError("must not be negative")
    if positive and result <= 0:
        raise ValueError("must be greater than 0")
    if abs(result) >= _LIMIT:
        raise ValueError("too large")
    return result


def _amount(value: Any) -> Decimal:
    return _decimal(value, 2).quantize(Decimal("0.01"))


def _signed_amount(value: Any) -> Decimal:
    return _decimal(value, 2, negative=True).quantize(Decimal("0.01"))


def _quantity(value: Any) -> Decimal:
    return _decimal(value, 4, positive=True)


def _price(value: Any) -> Decimal:
    return _decimal(value, 4)


def _time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or len(value.strip()) != 19:
        raise ValueError("must be yyyy-MM-dd HH:mm:ss")
    try:
        return dt.datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ValueError("must be yyyy-MM-dd HH:mm:ss") from None


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or len(value.strip()) != 10:
        raise ValueError("must be yyyy-MM-dd")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be yyyy-MM-dd") from None


Amount = Annotated[Decimal, BeforeValidator(_amount)]
SignedAmount = Annotated[Decimal, BeforeValidator(_signed_amount)]
Quantity = Annotated[Decimal, BeforeValidator(_quantity)]
Price = Annotated[Decimal, BeforeValidator(_price)]
TimeText = Annotated[dt.datetime, BeforeValidator(_time)]
DateText = Annotated[dt.date, BeforeValidator(_date)]
Flag = Annotated[str, Field(pattern=r"^[01]$")]


#: A required code of 1..N characters.
Code3 = Annotated[str, Field(min_length=1, max_length=3)]
Code30 = Annotated[str, Field(min_length=1, max_length=30)]
Code50 = Annotated[str, Field(min_length=1, max_length=50)]
#: Optional free text of at most N characters.
Text3 = Annotated[str | None, Field(default=None, max_length=3)]
Text6 = Annotated[str | None, Field(default=None, max_length=6)]
Text19 = Annotated[str | None, Field(default=None, max_length=19)]
Text30 = Annotated[str | None, Field(default=None, max_length=30)]
Text32 = Annotated[str | None, Field(default=None, max_length=32)]
Text50 = Annotated[str | None, Field(default=None, max_length=50)]
Text64 = Annotated[str | None, Field(default=None, max_length=64)]
Text100 = Annotated[str | None, Field(default=None, max_length=100)]
Text200 = Annotated[str | None, Field(default=None, max_length=200)]
Text1000 = Annotated[str | None, Field(default=None, max_length=1000)]


class InputModel(BaseModel):
    """Base of every input node: unknown keys ignored, numbers accepted for codes."""

    model_config = ConfigDict(
        extra="ignore", coerce_numbers_to_str=True, str_strip_whitespace=True, frozen=True
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_forms(cls, data: Any) -> Any:
        """A field sent as ``""`` or as the literal text ``"null"`` counts as
        absent (integration.md, "What national-interface clients send"): an
        optional field takes its default, a required one is named as missing."""
        if isinstance(data, dict) and any(
            isinstance(v, str) and v.strip() in ("", "null") for v in data.values()
        ):
            return {
                k: v
                for k, v in data.items()
                if not (isinstance(v, str) and v.strip() in ("", "null"))
            }
        return data
