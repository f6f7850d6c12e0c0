"""Parsing of activation strings such as ``"leaky_relu(slope=0.2)"`` or
``"polynomial(coeffs=[0, 1, 0.5])"`` (the command-line form)."""

from __future__ import annotations

import ast
from typing import Any

from .errors import InvalidInputError

__all__ = ["parse_activation"]


def parse_activation(text: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name(p=v, …)"`` into the name and a dict of literal parameter values.

    Only literals are accepted (numbers, lists/tuples of numbers); nothing is evaluated.
    """
    text = text.strip()
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise InvalidInputError(
            f"cannot parse activation {text!r}: expected NAME or NAME(param=value, ...), "
            "e.g. leaky_relu(slope=0.2)"
        ) from None
    if isinstance(node, ast.Name):
        return node.id, {}
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)) or node.args:
        raise InvalidInputError(
            f"cannot parse activation {text!r}: parameters must be given by name, "
            "e.g. erf(scale=2.0)"
        )
    params: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise InvalidInputError(f"cannot parse activation {text!r}: '**' is not allowed")
        try:
            params[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            raise InvalidInputError(
                f"parameter {kw.arg!r} in {text!r} must be a literal number or list of numbers"
            ) from None
    return node.func.id, params
