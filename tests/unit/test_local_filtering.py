"""Lambda event filtering (FilterCriteria) as the local pollers apply it."""

from __future__ import annotations

from typing import Any

import pytest

from local.filtering import EventFilter, FilterError

RECORD = {
    "eventName": "INSERT",
    "dynamodb": {
        "NewImage": {"type": {"S": "track"}, "event": {"S": "Order Completed"}, "tags": {"SS": ["a", "b"]}},
        "SizeBytes": 120,
    },
}


def matches(pattern: dict[str, Any], record: dict[str, Any] = RECORD) -> bool:
    return EventFilter([pattern]).matches(record)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"eventName": ["INSERT"]}, True),
        ({"eventName": ["MODIFY", "REMOVE"]}, False),
        ({"dynamodb": {"NewImage": {"type": {"S": ["track"]}}}}, True),
        ({"dynamodb": {"NewImage": {"type": {"S": ["page"]}}}}, False),
        ({"dynamodb": {"NewImage": {"event": {"S": [{"prefix": "Order"}]}}}}, True),
        ({"dynamodb": {"NewImage": {"event": {"S": [{"suffix": "Started"}]}}}}, False),
        ({"dynamodb": {"NewImage": {"event": {"S": [{"equals-ignore-case": "order completed"}]}}}}, True),
        ({"dynamodb": {"NewImage": {"email": [{"exists": False}]}}}, True),
        ({"dynamodb": {"NewImage": {"email": [{"exists": True}]}}}, False),
        ({"dynamodb": {"NewImage": {"type": [{"exists": True}]}}}, True),
        ({"eventName": [{"anything-but": ["REMOVE"]}]}, True),
        ({"eventName": [{"anything-but": "INSERT"}]}, False),
        ({"eventName": [{"anything-but": {"prefix": "INS"}}]}, False),
        ({"dynamodb": {"SizeBytes": [{"numeric": [">", 100, "<=", 200]}]}}, True),
        ({"dynamodb": {"SizeBytes": [{"numeric": ["<", 100]}]}}, False),
        ({"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}}, True),  # any array element
        ({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"type": {"S": ["page"]}}}}, False),  # AND
        ({"missing": {"nested": ["x"]}}, False),
    ],
)
def test_pattern(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern) is expected


def test_any_of_several_filters_lets_a_record_through() -> None:
    criteria = {"Filters": [{"Pattern": '{"eventName": ["REMOVE"]}'}, {"Pattern": '{"eventName": ["INSERT"]}'}]}
    assert EventFilter.from_criteria(criteria).matches(RECORD)


def test_no_filter_passes_everything() -> None:
    assert EventFilter.from_criteria(None).matches(RECORD)
    assert not EventFilter.from_criteria({})


@pytest.mark.parametrize(
    "pattern",
    [
        '{"a": [{"wildcard": "x*"}]}',
        '{"a": [{"cidr": "10.0.0.0/8"}]}',
        '{"$or": [{"a": ["x"]}, {"b": ["y"]}]}',
        '{"a": [{"numeric": ["~", 1]}]}',
        '{"a": "not-an-array"}',
        '{"a": [["nested"]]}',
        "not json",
    ],
)
def test_unsupported_patterns_fail_when_the_poller_starts(pattern: str) -> None:
    with pytest.raises(FilterError):
        EventFilter.from_criteria({"Filters": [{"Pattern": pattern}]})
