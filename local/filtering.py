"""Lambda event filtering (FilterCriteria) for the local pollers.

Supports the subset of the pattern syntax tagmail may use: nested objects, arrays of literal
values, ``prefix``, ``suffix``, ``equals-ignore-case``, ``exists``, ``anything-but`` and
``numeric``. Anything else is refused when the poller starts, not silently ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

_MISSING = object()
_NUMERIC_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda left, right: left == right,
    "<": lambda left, right: left < right,
    "<=": lambda left, right: left <= right,
    ">": lambda left, right: left > right,
    ">=": lambda left, right: left >= right,
}


class FilterError(ValueError):
    """A FilterCriteria pattern the local stack does not support (or AWS would reject)."""


Matcher = Callable[[Any], bool]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numeric(conditions: list[Any]) -> Matcher:
    if len(conditions) % 2 or not conditions:
        raise FilterError(f"numeric needs operator/value pairs, got {conditions!r}")
    pairs = []
    for operator, bound in zip(conditions[::2], conditions[1::2], strict=True):
        if operator not in _NUMERIC_OPERATORS or not _is_number(bound):
            raise FilterError(f"unsupported numeric condition {operator!r} {bound!r}")
        pairs.append((_NUMERIC_OPERATORS[operator], bound))
    return lambda value: _is_number(value) and all(test(value, bound) for test, bound in pairs)


def _anything_but(argument: Any) -> Matcher:
    if isinstance(argument, dict):
        inner = _operator(argument)
        return lambda value: value is not _MISSING and not inner(value)
    excluded = argument if isinstance(argument, list) else [argument]
    for item in excluded:
        if isinstance(item, (dict, list)):
            raise FilterError(f"anything-but takes literals or one operator, got {argument!r}")
    return lambda value: value is not _MISSING and value not in excluded


def _operator(spec: dict[str, Any]) -> Matcher:
    if len(spec) != 1:
        raise FilterError(f"a matcher object needs exactly one operator, got {spec!r}")
    ((name, argument),) = spec.items()
    if name == "prefix" and isinstance(argument, str):
        return lambda value: isinstance(value, str) and value.startswith(argument)
    if name == "suffix" and isinstance(argument, str):
        return lambda value: isinstance(value, str) and value.endswith(argument)
    if name == "equals-ignore-case" and isinstance(argument, str):
        return lambda value: isinstance(value, str) and value.lower() == argument.lower()
    if name == "exists" and isinstance(argument, bool):
        return lambda value: (value is not _MISSING) is argument
    if name == "anything-but":
        return _anything_but(argument)
    if name == "numeric" and isinstance(argument, list):
        return _numeric(argument)
    raise FilterError(f"unsupported filter operator {name!r}: {argument!r}")


def _literal(expected: Any) -> Matcher:
    return lambda value: value is not _MISSING and value == expected


def _matcher(spec: Any) -> Matcher:
    if not isinstance(spec, list):
        raise FilterError(f"a filter leaf must be an array, got {spec!r}")
    alternatives: list[Matcher] = []
    for item in spec:
        if isinstance(item, dict):
            alternatives.append(_operator(item))
        elif isinstance(item, list):
            raise FilterError(f"nested arrays are not allowed in a filter: {spec!r}")
        else:
            alternatives.append(_literal(item))

    def matches(value: Any) -> bool:
        # An array in the event matches when any of its elements does.
        candidates = value if isinstance(value, list) else [value]
        if isinstance(value, list) and not value:
            candidates = [_MISSING]
        return any(test(candidate) for test in alternatives for candidate in candidates)

    return matches


def _compile(pattern: dict[str, Any]) -> Matcher:
    if not isinstance(pattern, dict) or not pattern:
        raise FilterError(f"a filter pattern must be a non-empty object, got {pattern!r}")
    fields: list[tuple[str, Matcher, bool]] = []
    for key, spec in pattern.items():
        if key.startswith("$"):
            raise FilterError(f"unsupported filter operator {key!r}")
        nested = isinstance(spec, dict)
        fields.append((key, _compile(spec) if nested else _matcher(spec), nested))

    def matches(document: Any) -> bool:
        for key, test, nested in fields:
            value = document.get(key, _MISSING) if isinstance(document, dict) else _MISSING
            if nested:
                if not isinstance(value, dict) or not test(value):
                    return False
            elif not test(value):
                return False
        return True

    return matches


class EventFilter:
    """FilterCriteria: a record is delivered when it matches any of the patterns."""

    def __init__(self, patterns: Iterable[dict[str, Any]]) -> None:
        self._patterns = [_compile(pattern) for pattern in patterns]

    @classmethod
    def from_criteria(cls, criteria: dict[str, Any] | None) -> EventFilter:
        patterns = []
        for entry in (criteria or {}).get("Filters") or []:
            pattern = entry.get("Pattern")
            try:
                patterns.append(json.loads(pattern) if isinstance(pattern, str) else pattern)
            except json.JSONDecodeError as exc:
                raise FilterError(f"filter pattern is not JSON: {pattern!r}") from exc
        return cls(patterns)

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def matches(self, record: dict[str, Any]) -> bool:
        return not self._patterns or any(pattern(record) for pattern in self._patterns)
