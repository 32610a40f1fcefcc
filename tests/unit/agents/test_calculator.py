"""The calculator: exact arithmetic on a parsed expression, and nothing else."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.gateway.core.agents.calculator import CalculatorError, evaluate, format_result


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("3 * price", "447"),
        ("price * (100 - 20) / 100", "119.2"),
        ("price - 20% * price", "119.2"),
        ("3 × $149", "447"),
        ("1,249.50 + 25", "1274.50"),
        ("-(2 - 5)", "3"),
        ("0.1 + 0.2", "0.3"),
    ],
)
def test_evaluates_arithmetic_exactly(expression: str, expected: str):
    assert evaluate(expression, {"price": Decimal("149")}) == Decimal(expected)


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "price ** 2",
        "open('x')",
        "price.real",
        "[1, 2]",
        "1 if price else 2",
        "price < 3",
        "unknown_name * 2",
        "'a' * 3",
        "",
        "9" * 300,
    ],
)
def test_refuses_what_is_not_arithmetic(expression: str):
    with pytest.raises(CalculatorError):
        evaluate(expression, {"price": Decimal("149")})


def test_division_by_zero_is_a_calculator_error():
    with pytest.raises(CalculatorError, match="division by zero"):
        evaluate("price / (2 - 2)", {"price": Decimal("1")})


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (Decimal("447"), "$", "$447"),
        (Decimal("1274.5"), "$", "$1,274.50"),
        (Decimal("7.2"), "kg", "7.2 kg"),
        (Decimal("36"), "months", "36 months"),
        (Decimal("12.50"), "", "12.5"),
    ],
)
def test_results_are_written_as_the_documents_write_them(value: Decimal, unit: str, text: str):
    assert format_result(value, unit) == text
