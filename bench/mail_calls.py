"""Every call the send path makes to another service, counted, and the DynamoDB ones priced.

- DynamoDB: bench.dynamo_calls records each call; the observer here reads the item a write is
  about to touch (PutItem, UpdateItem, DeleteItem) and, after an UpdateItem, the item it left,
  with a client the recorder does not watch. Request units follow bench.capacity's rules, extended
  to the operations the send path adds: UpdateItem (the larger of the item before and after, per
  started KB; a failed condition still costs the existing item's units), DeleteItem (the deleted
  item's size, at least 1), Query (the items read, summed, per started 4 KB, halved when
  eventually consistent; a global secondary index is always eventually consistent; a filter is
  applied after the read, so the items it drops are paid for too: the observer reads them again
  without the filter) and TransactWriteItems (twice the units of the same writes outside a
  transaction, per item; a condition check counts as a write of the item it checks).
- Other AWS services (SSM, SQS, ...): every botocore API call, by service and operation.
- Mailgun: every HTTP request `requests` sends to the Mailgun base URL (retries included).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import botocore.session
import requests

from bench import capacity
from bench.aws import TableSpec
from bench.capacity import CallUnits, index_writes, item_size, read_units, write_units
from bench.dynamo_calls import CallRecorder, DynamoCall

_WRITES = ("PutItem", "UpdateItem", "DeleteItem")


def _key(operation: str, params: dict[str, Any], spec: TableSpec) -> dict[str, Any]:
    if operation in ("PutItem", "Put"):
        return {name: params["Item"][name] for name in spec.key_attributes}
    return dict(params["Key"])


_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")


def _unfiltered(params: dict[str, Any]) -> dict[str, Any]:
    """A Query's parameters without its filter (and the placeholders only the filter used)."""
    query = {k: v for k, v in params.items() if k not in ("FilterExpression", "Select", "ReturnConsumedCapacity")}
    used = set(_PLACEHOLDER.findall(" ".join(str(params.get(k, "")) for k in ("KeyConditionExpression",))))
    for name in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        kept = {k: v for k, v in params.get(name, {}).items() if k in used}
        if kept:
            query[name] = kept
        else:
            query.pop(name, None)
    query.pop("ProjectionExpression", None)
    return query


class MailCallRecorder(CallRecorder):
    """Records DynamoDB calls, with the items each write found and (for updates) left, and the
    items a filtered Query read."""

    def __init__(self, client: Any, specs_by_name: dict[str, TableSpec]) -> None:
        self._client = client  # created before any recorder: its own calls are not recorded
        self._specs_by_name = specs_by_name
        super().__init__(observer=self._before)

    def _read(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def _touched(self, call: DynamoCall) -> list[tuple[str, str, dict[str, Any]]]:
        """(operation, table, key) of every item a write call touches."""
        if call.operation in _WRITES:
            return [(call.operation, call.table, _key(call.operation, call.params, self._specs_by_name[call.table]))]
        touched = []
        for entry in call.params.get("TransactItems", []):
            ((operation, params),) = entry.items()
            spec = self._specs_by_name[params["TableName"]]
            touched.append((operation, params["TableName"], _key(operation, params, spec)))
        return touched

    def _before(self, call: DynamoCall) -> None:
        items = [self._read(table, key) for _, table, key in self._touched(call)]
        if call.operation in _WRITES:
            call.before["item"] = items[0]
        elif call.operation == "TransactWriteItems":
            call.before["items"] = items

    def _on_end(self, parsed: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
        call = context.get("bench_call")
        super()._on_end(parsed=parsed, context=context, **kwargs)
        if call is None or call.error_code is not None:
            return
        # `before` holds what the observer saw; what the call left is read here.
        if call.operation == "UpdateItem":
            _, table, key = self._touched(call)[0]
            call.before["after"] = self._read(table, key)
        elif call.operation == "TransactWriteItems":
            call.before["after_items"] = [self._read(table, key) for _, table, key in self._touched(call)]
        elif call.operation == "Query" and "FilterExpression" in call.params:
            call.before["scanned"] = self._client.query(**_unfiltered(call.params)).get("Items", [])


def units_of(call: DynamoCall, specs_by_name: dict[str, TableSpec]) -> CallUnits:
    """DynamoDB's request units of one recorded call (GetItem and PutItem by bench.capacity)."""
    if call.operation in ("GetItem", "PutItem"):
        return capacity.units_of(call, specs_by_name)
    if call.operation == "TransactWriteItems":
        return _transaction_units(call, specs_by_name)
    spec = specs_by_name[call.table]
    result = CallUnits(call.operation, spec.logical_id)
    old = call.before.get("item")
    old_size = item_size(old) if old else 0
    if call.operation == "Query":
        returned = (call.response or {}).get("Items") or []
        items = call.before.get("scanned", returned)
        size = sum(item_size(item) for item in items)
        index = call.params.get("IndexName")
        consistent = bool(call.params.get("ConsistentRead")) and index is None
        result.read = read_units(size, consistent)
        result.item_bytes = size
        where = f"index {index}" if index else "table"
        read = (
            f"{len(items)} item(s) read, {len(returned)} returned"
            if "scanned" in call.before
            else f"{len(items)} item(s)"
        )
        result.notes.append(f"{where}, {read}, " + ("strongly consistent" if consistent else "eventually consistent"))
    elif call.operation == "UpdateItem":
        new = call.before.get("after")
        new_size = item_size(new) if new else 0
        result.item_bytes = new_size
        if call.error_code == "ConditionalCheckFailedException":
            result.write = write_units(old_size)
            result.notes.append("condition failed")
        elif call.error_code is None:
            result.write = write_units(max(old_size, new_size))
            result.index_write, notes = index_writes(spec, old, new)
            result.notes.extend(notes)
            result.notes.append("updated an item" if old else "created the item")
        else:
            result.notes.append(f"failed: {call.error_code}")
    elif call.operation == "DeleteItem":
        result.item_bytes = old_size
        result.write = write_units(old_size)
        if call.error_code is None:
            result.index_write, notes = index_writes(spec, old, None)
            result.notes.extend(notes)
        result.notes.append("deleted an item" if old else "no item")
    else:
        result.notes.append("operation not modelled")
    return result


def _transaction_units(call: DynamoCall, specs_by_name: dict[str, TableSpec]) -> CallUnits:
    entries = [next(iter(entry.items())) for entry in call.params.get("TransactItems", [])]
    tables = [specs_by_name[params["TableName"]].logical_id for _, params in entries]
    result = CallUnits(call.operation, "+".join(dict.fromkeys(tables)))
    befores = call.before.get("items") or [None] * len(entries)
    afters = call.before.get("after_items") or [None] * len(entries)
    failed = call.error_code is not None
    for (operation, params), old, after in zip(entries, befores, afters, strict=True):
        spec = specs_by_name[params["TableName"]]
        old_size = item_size(old) if old else 0
        new = None if operation == "Delete" else params["Item"] if operation == "Put" else after
        new_size = item_size(new) if new and not failed else 0
        units = 2 * write_units(old_size if operation == "ConditionCheck" or failed else max(old_size, new_size))
        result.write += units
        result.item_bytes += max(old_size, new_size)
        note = f"{operation} {spec.logical_id} {units}"
        if not failed and operation != "ConditionCheck":
            index_units, index_notes = index_writes(spec, old, new)
            result.index_write += index_units
            note += "".join(f"; {n}" for n in index_notes)
        result.notes.append(note)
    if failed:
        result.notes.append(f"failed: {call.error_code}")
    return result


def describe(unit: CallUnits) -> str:
    """One line per call: operation, table, item bytes, units and why."""
    reads = unit.operation in ("GetItem", "Query")
    cost = f"{unit.read:g} RRU" if reads else f"{unit.write + unit.index_write:g} WRU"
    return f"{unit.operation} {unit.table} {unit.item_bytes} B: {cost} ({'; '.join(unit.notes)})"


class ServiceCounter:
    """Counts API calls of every botocore client but DynamoDB's (created while installed) and HTTP
    requests to the Mailgun API, by "service operation"."""

    def __init__(self, mailgun_base_url: str) -> None:
        self.calls: Counter[str] = Counter()
        self._mailgun = mailgun_base_url.rstrip("/")
        self._create_client: Any = None
        self._send: Any = None

    def install(self) -> ServiceCounter:
        create_client = self._create_client = botocore.session.Session.create_client
        send = self._send = requests.Session.send
        counter = self

        def counting_create_client(session: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
            client = create_client(session, service_name, *args, **kwargs)
            if service_name != "dynamodb":
                client.meta.events.register(
                    f"before-call.{client.meta.service_model.service_id.hyphenize()}", counter._on_call
                )
            return client

        def counting_send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
            url = request.url or ""
            if url.startswith(counter._mailgun):
                path = url[len(counter._mailgun) :].split("?", 1)[0]
                counter.calls[f"mailgun {request.method} {_route(path)}"] += 1
            return send(session, request, **kwargs)

        botocore.session.Session.create_client = counting_create_client
        requests.Session.send = counting_send  # type: ignore[method-assign,assignment]
        return self

    def uninstall(self) -> None:
        if self._create_client is not None:
            botocore.session.Session.create_client = self._create_client
            self._create_client = None
        if self._send is not None:
            requests.Session.send = self._send  # type: ignore[method-assign]
            self._send = None

    def clear(self) -> None:
        self.calls.clear()

    def _on_call(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name} {model.name}"] += 1


def _route(path: str) -> str:
    """/v3/mg.example.com/messages -> /v3/{domain}/messages."""
    parts = path.split("/")
    if len(parts) > 2 and parts[1] in ("v3", "v4") and "." in parts[2]:
        parts[2] = "{domain}"
    return "/".join(parts)
