"""The request-unit rules the benchmark applies (no timing here: the figures are the bench's job)."""

from __future__ import annotations

from typing import Any

from bench.aws import TableSpec
from bench.capacity import index_writes, item_size, number_size, read_units, units_of, write_units
from bench.dynamo_calls import DynamoCall

USERS = TableSpec(
    "UsersTable",
    "users",
    {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by_email",
                "KeySchema": [{"AttributeName": "email_key", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": "by_shard",
                "KeySchema": [
                    {"AttributeName": "shard", "KeyType": "HASH"},
                    {"AttributeName": "user_id", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    },
)


def s(text: str) -> dict[str, Any]:
    return {"S": text}


def test_sizes_follow_the_published_rules() -> None:
    assert item_size({"name": s("héllo")}) == 4 + 6
    assert number_size("12345") == 4  # 3 bytes for 5 significant digits + 1
    assert number_size("-0.00120") == 2
    assert item_size({"ok": {"BOOL": True}, "n": {"NULL": True}}) == 3 + 2
    # map: 3 bytes + per element (name + value + 1)
    assert item_size({"m": {"M": {"a": s("xy")}}}) == 1 + 3 + (1 + 2 + 1)
    assert item_size({"l": {"L": [s("a"), s("bc")]}}) == 1 + 3 + (1 + 1) + (2 + 1)


def test_units_round_up_per_kilobyte_and_per_four_kilobytes() -> None:
    assert write_units(0) == 1
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert read_units(0, consistent=False) == 0.5
    assert read_units(4097, consistent=False) == 1.0
    assert read_units(4097, consistent=True) == 2.0


def test_an_item_entering_both_indexes_writes_each_once() -> None:
    new = {"pk": s("p#u:1"), "email_key": s("p#a@b.c"), "shard": s("p#3"), "user_id": s("1")}
    units, _ = index_writes(USERS, None, new)
    assert units == 2


def test_an_item_without_the_index_keys_costs_no_index_write() -> None:
    units, notes = index_writes(USERS, None, {"pk": s("p#a:1"), "user_id": s("1")})
    assert (units, notes) == (0, [])


def test_a_changed_projection_writes_the_all_index_but_not_the_keys_only_one() -> None:
    old = {"pk": s("p#u:1"), "email_key": s("p#a@b.c"), "shard": s("p#3"), "user_id": s("1"), "v": {"N": "1"}}
    new = {**old, "v": {"N": "2"}}
    units, notes = index_writes(USERS, old, new)
    assert units == 1
    assert notes == ["by_shard: update 1"]


def test_a_changed_index_key_deletes_and_puts() -> None:
    old = {"pk": s("p#u:1"), "email_key": s("p#a@b.c")}
    new = {"pk": s("p#u:1"), "email_key": s("p#z@b.c")}
    units, _ = index_writes(USERS, old, new)
    assert units == 2


def test_a_failed_conditional_put_costs_the_existing_item_and_no_index_write() -> None:
    existing = {"pk": s("p#u:1"), "email_key": s("p#a@b.c"), "blob": s("x" * 1500)}
    call = DynamoCall("PutItem", {"TableName": "users", "Item": dict(existing)}, 0.0, 0.0)
    call.before["item"] = existing
    call.error_code = "ConditionalCheckFailedException"
    units = units_of(call, {"users": USERS})
    assert (units.write, units.index_write) == (2, 0)


def test_a_get_of_a_missing_item_still_costs_the_minimum() -> None:
    call = DynamoCall("GetItem", {"TableName": "users", "Key": {"pk": s("x")}}, 0.0, 0.0, response={})
    assert units_of(call, {"users": USERS}).read == 0.5
