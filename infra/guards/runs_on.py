"""A job's `runs-on` as runner labels, its GitHub expression (`${{ ... }}`) evaluated offline where it can be
(see `_Expr`); anything else is decided at run time (None)."""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>&&|\|\||==|!=|\(|\))|(?P<name>[A-Za-z_][\w.-]*))")


class _Unknown(Exception):
    """A `runs-on` expression this module cannot evaluate offline."""


class _Expr:
    """The part of GitHub's expression language a `runs-on` needs here: 'strings', fromJSON(...), vars.X (unset:
    the workflow's own default applies), matrix.stack, ==, !=, &&, || and parentheses. `a && b || c` picks b or c
    exactly as GitHub does (docs.github.com/en/actions/reference/workflows-and-actions/expressions#operators)."""

    def __init__(self, text: str, stack: str | None) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise _Unknown(text)
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i, self.stack = 0, stack

    def _peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise _Unknown("unexpected end")
        self.i += 1
        return self.tokens[self.i - 1]

    def value(self) -> Any:
        result = self._or()
        if self.i != len(self.tokens):
            raise _Unknown("trailing tokens")
        return result

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            left = left if left else right
        return left

    def _and(self) -> Any:
        left = self._cmp()
        while self._peek() == "&&":
            self._take()
            right = self._cmp()
            left = right if left else left
        return left

    def _cmp(self) -> Any:
        left = self._atom()
        if self._peek() in ("==", "!="):
            op = self._take()[1]
            right = self._atom()
            equal = str(left).lower() == str(right).lower()  # GitHub compares strings case-insensitively
            return equal if op == "==" else not equal
        return left

    def _atom(self) -> Any:
        kind, text = self._take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if text == "(":
            inner = self._or()
            if self._take()[1] != ")":
                raise _Unknown("unbalanced parentheses")
            return inner
        if kind == "name" and text.lower() == "fromjson" and self._peek() == "(":
            self._take()
            inner = self._or()
            if self._take()[1] != ")":
                raise _Unknown("unbalanced parentheses")
            try:
                return json.loads(str(inner))
            except ValueError:
                raise _Unknown(f"fromJSON of {inner!r}") from None
        if kind == "name" and text.startswith("vars."):
            return None  # an unset repository variable: the expression's own default decides
        if kind == "name" and text == "matrix.stack" and self.stack is not None:
            return self.stack
        if kind == "name" and text in ("true", "false"):
            return text == "true"
        raise _Unknown(text)


def runner_labels(runs_on: Any, stack: str | None) -> tuple[str, ...] | None:
    """The labels a job's `runs-on` asks for when the repository sets none of the variables it reads, or None when
    they are decided at run time in a way not readable here."""
    value = runs_on
    if isinstance(value, str) and "${{" in value:
        inner = value.strip()
        if not (inner.startswith("${{") and inner.endswith("}}")):
            return None
        try:
            value = _Expr(inner[3:-2], stack).value()
        except _Unknown:
            return None
    if isinstance(value, dict):
        value = value.get("labels")
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None
