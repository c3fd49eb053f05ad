"""DynamoDB request units of recorded calls, computed from item sizes by DynamoDB's published rules.

moto answers ``ReturnConsumedCapacity`` with a fixed number per operation (1.0 for a PutItem,
0.5 for a GetItem, whatever the size), so the units are computed here instead:

- item size: attribute names + values; strings UTF-8 bytes; numbers 1 byte per two significant
  digits + 1; booleans and nulls 1; maps and lists 3 bytes + 1 per element + their contents;
- writes: 1 write request unit (WRU) per started KB of the larger of the old and the new item;
  a write whose condition fails still consumes units, for the existing item (at least 1);
- reads: 1 read request unit (RRU) per started 4 KB when strongly consistent, half when
  eventually consistent; reading an item that does not exist still costs the minimum;
- global secondary indexes: an index item is the table key + the index key + the projected
  attributes + 100 bytes; a write that puts an item into an index, takes it out or changes its
  projected attributes costs 1 write per started KB of that index item, and one that changes
  the index key costs 2 (delete the old index item, put the new one); no index item, no cost.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.aws import TableSpec
from bench.dynamo_calls import DynamoCall

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
INDEX_ITEM_OVERHEAD = 100


def number_size(text: str) -> int:
    mantissa = text.lower().lstrip("+-").split("e", 1)[0].replace(".", "")
    significant = mantissa.strip("0") or "0"
    return (len(significant) + 1) // 2 + 1


def _raw_length(data: bytes | str) -> int:
    return len(data if isinstance(data, bytes) else base64.b64decode(data))


_SCALAR_SIZES: dict[str, Callable[[Any], int]] = {
    "S": lambda data: len(data.encode("utf-8")),
    "N": number_size,
    "B": _raw_length,
    "BOOL": lambda _: 1,
    "NULL": lambda _: 1,
    "SS": lambda data: sum(len(item.encode("utf-8")) for item in data),
    "NS": lambda data: sum(number_size(item) for item in data),
    "BS": lambda data: sum(_raw_length(item) for item in data),
}


def value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "M":
        return 3 + sum(len(name.encode("utf-8")) + value_size(item) + 1 for name, item in data.items())
    if kind == "L":
        return 3 + sum(value_size(item) + 1 for item in data)
    return _SCALAR_SIZES[kind](data)


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


@dataclass
class CallUnits:
    operation: str
    table: str
    read: float = 0.0
    write: float = 0.0
    index_write: float = 0.0
    item_bytes: int = 0
    notes: list[str] = field(default_factory=list)
    moto_reported: float | None = None


def _index_item(
    item: dict[str, Any] | None, table_keys: list[str], index: tuple[list[str], str, list[str]]
) -> dict[str, Any] | None:
    keys, projection, non_key = index
    if item is None or any(name not in item for name in keys):
        return None  # sparse index: the item is not in it
    if projection == "ALL":
        return dict(item)
    names = [*table_keys, *keys, *(non_key if projection == "INCLUDE" else [])]
    return {name: item[name] for name in names if name in item}


def index_writes(spec: TableSpec, old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[float, list[str]]:
    total = 0.0
    notes = []
    for name, index in spec.indexes().items():
        before = _index_item(old, spec.key_attributes, index)
        after = _index_item(new, spec.key_attributes, index)
        if before is None and after is None:
            continue
        if before is None and after is not None:
            units = write_units(item_size(after) + INDEX_ITEM_OVERHEAD)
            notes.append(f"{name}: put {units}")
        elif after is None and before is not None:
            units = write_units(item_size(before) + INDEX_ITEM_OVERHEAD)
            notes.append(f"{name}: delete {units}")
        elif before is not None and after is not None:
            if any(before.get(key) != after.get(key) for key in index[0]):
                units = write_units(item_size(before) + INDEX_ITEM_OVERHEAD) + write_units(
                    item_size(after) + INDEX_ITEM_OVERHEAD
                )
                notes.append(f"{name}: key changed, delete+put {units}")
            elif before != after:
                units = write_units(max(item_size(before), item_size(after)) + INDEX_ITEM_OVERHEAD)
                notes.append(f"{name}: update {units}")
            else:
                continue
        total += units
    return total, notes


def units_of(call: DynamoCall, specs_by_name: dict[str, TableSpec]) -> CallUnits:
    spec = specs_by_name[call.table]
    result = CallUnits(call.operation, spec.logical_id)
    if call.response and isinstance(call.response.get("ConsumedCapacity"), dict):
        result.moto_reported = float(call.response["ConsumedCapacity"].get("CapacityUnits", 0))
    if call.operation == "GetItem":
        found = (call.response or {}).get("Item")
        size = item_size(found) if found else 0
        consistent = bool(call.params.get("ConsistentRead"))
        result.read = read_units(size, consistent)
        result.item_bytes = size
        result.notes.append(
            ("strongly consistent" if consistent else "eventually consistent") + (", found" if found else ", not found")
        )
    elif call.operation == "PutItem":
        new = call.params["Item"]
        old = call.before.get("item")
        new_size, old_size = item_size(new), item_size(old) if old else 0
        result.item_bytes = new_size
        if call.error_code == "ConditionalCheckFailedException":
            result.write = write_units(old_size)
            result.notes.append("condition failed")
        elif call.error_code is None:
            result.write = write_units(max(new_size, old_size))
            result.index_write, notes = index_writes(spec, old, new)
            result.notes.extend(notes)
            if old:
                result.notes.append("replaced an item")
        else:
            result.notes.append(f"failed: {call.error_code}")
    else:
        result.notes.append("operation not modelled")
    return result


def before_state_observer(
    get_item: Callable[..., dict[str, Any]], specs_by_name: dict[str, TableSpec]
) -> Callable[[DynamoCall], None]:
    """Reads the item a write is about to touch (with a client the recorder does not watch)."""

    def observe(call: DynamoCall) -> None:
        if call.operation != "PutItem":
            return
        spec = specs_by_name[call.table]
        key = {name: call.params["Item"][name] for name in spec.key_attributes}
        call.before["item"] = get_item(TableName=call.table, Key=key, ConsistentRead=True).get("Item")

    return observe


@dataclass
class Tally:
    calls: int = 0
    gets: int = 0
    puts: int = 0
    read: float = 0.0
    write: float = 0.0
    index_write: float = 0.0
    moto_reported: float = 0.0
    lines: list[str] = field(default_factory=list)

    @property
    def total_write(self) -> float:
        return self.write + self.index_write


def tally(units: Iterable[CallUnits]) -> Tally:
    result = Tally()
    for unit in units:
        result.calls += 1
        result.gets += unit.operation == "GetItem"
        result.puts += unit.operation == "PutItem"
        result.read += unit.read
        result.write += unit.write
        result.index_write += unit.index_write
        result.moto_reported += unit.moto_reported or 0.0
        cost = f"{unit.read:g} RRU" if unit.operation == "GetItem" else f"{unit.write + unit.index_write:g} WRU"
        result.lines.append(f"{unit.operation} {unit.table} {unit.item_bytes} B: {cost} ({'; '.join(unit.notes)})")
    return result
