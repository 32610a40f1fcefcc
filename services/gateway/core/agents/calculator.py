"""The calculate agent's tool: exact arithmetic over a parsed expression, never `eval`.

An expression is numbers, names of extracted quantities, `+ - * / ( )` and percentages
(`20%` is 0.2). It is parsed with Python's `ast` in expression mode and walked node by node;
anything else (calls, attributes, powers, comparisons) is refused. Numbers are Decimals, so
`3 * 149.99` is 449.97 exactly.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from decimal import Decimal, DivisionByZero, InvalidOperation

MAX_EXPRESSION_CHARS = 200
MAX_NODES = 60

_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


class CalculatorError(ValueError):
    """An expression the calculator refuses or cannot compute (the message says why)."""


def normalise(expression: str) -> str:
    """The expression in the calculator's syntax: `×`/`x` as `*`, `$` and `1,249` as numbers,
    `20%` as `(20/100)`."""
    text = expression.strip().rstrip("=").strip()
    text = text.replace("×", "*").replace("÷", "/").replace("−", "-").replace("$", "")
    text = re.sub(r"(?<=[\d\s)])x(?=[\s\d(])", "*", text)
    text = _THOUSANDS.sub("", text)
    return _PERCENT.sub(r"(\1/100)", text)


def evaluate(expression: str, names: Mapping[str, Decimal]) -> Decimal:
    """The value of `expression`, with `names` bound to the extracted quantities.

    Raises:
        CalculatorError: too long, not arithmetic, an unknown name, or a division by zero.
    """
    text = normalise(expression)
    if not text or len(text) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"expression is empty or over {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise CalculatorError(f"not an arithmetic expression: {expression!r}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculatorError("expression is too complex")
    try:
        return _value(tree.body, names)
    except (DivisionByZero, InvalidOperation, ZeroDivisionError):
        raise CalculatorError(f"cannot compute {expression!r} (division by zero)") from None


def _value(node: ast.expr, names: Mapping[str, Decimal]) -> Decimal:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Decimal(str(node.value))
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise CalculatorError(f"unknown name {node.id!r}")
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _value(node.operand, names)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _value(node.left, names), _value(node.right, names)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if right == 0:
            raise CalculatorError("division by zero")
        return left / right
    raise CalculatorError(f"not allowed in a calculation: {ast.dump(node)[:60]}")


def format_result(value: Decimal, unit: str) -> str:
    """The result as the documents write it: `$1,249`, `$12.50`, `3.4 kg`, `36 months`."""
    if unit == "$":
        cents = value.quantize(Decimal("0.01"))
        whole = cents == cents.to_integral_value()
        return f"${cents:,.0f}" if whole else f"${cents:,.2f}"
    if unit == "kg":
        return f"{value.quantize(Decimal('0.1'))} kg"
    text = f"{value.normalize():f}"
    if unit == "months":
        return f"{text} months"
    if unit == "%":
        return f"{text}%"
    return text
