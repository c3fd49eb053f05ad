"""The send path's accounting rules: request units of the operations it adds, how Mailgun calls are
named, and the cost arithmetic (no timing here: the figures are the bench's job)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import send_cost
from bench.aws import TableSpec
from bench.dynamo_calls import DynamoCall
from bench.mail_calls import _route, units_of

STATS = TableSpec(
    "StatsTable",
    "stats",
    {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]},
)
PROJECTS = TableSpec(
    "ProjectsTable",
    "projects",
    {
        "KeySchema": [{"AttributeName": "project_id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by_domain",
                "KeySchema": [{"AttributeName": "sending_domain", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    },
)
SPECS = {"stats": STATS, "projects": PROJECTS}


def s(text: str) -> dict[str, Any]:
    return {"S": text}


def call(operation: str, table: str, **params: Any) -> DynamoCall:
    return DynamoCall(operation, {"TableName": table, **params}, 0.0, 0.0)


def stats_item(padding: int) -> dict[str, Any]:
    return {"pk": s("p#c"), "sk": s("A"), "note": s("x" * padding)}


def test_an_update_that_creates_a_small_item_costs_one_write() -> None:
    update = call("UpdateItem", "stats", Key={"pk": s("p#c"), "sk": s("A")})
    update.before.update(item=None, after={"pk": s("p#c"), "sk": s("A"), "sent": {"N": "1"}})
    units = units_of(update, SPECS)
    assert (units.write, units.index_write) == (1, 0)
    assert units.notes == ["created the item"]


def test_an_update_is_charged_for_the_larger_of_the_item_before_and_after() -> None:
    update = call("UpdateItem", "stats", Key={"pk": s("p#c"), "sk": s("A")})
    update.before.update(item=stats_item(1500), after=stats_item(2100))
    assert units_of(update, SPECS).write == 3


def test_an_update_whose_condition_fails_still_costs_the_existing_item() -> None:
    update = call("UpdateItem", "stats", Key={"pk": s("p#c"), "sk": s("A")})
    update.before["item"] = stats_item(1500)
    update.error_code = "ConditionalCheckFailedException"
    assert units_of(update, SPECS).write == 2


def test_deleting_a_missing_item_costs_the_minimum() -> None:
    delete = call("DeleteItem", "stats", Key={"pk": s("p#c"), "sk": s("A")})
    delete.before["item"] = None
    assert units_of(delete, SPECS).write == 1


def test_a_query_on_an_index_is_eventually_consistent_whatever_it_asks() -> None:
    query = call("Query", "projects", IndexName="by_domain", ConsistentRead=True)
    query.response = {"Items": [{"project_id": s("p1"), "sending_domain": s("mg.shop.example")}]}
    assert units_of(query, SPECS).read == 0.5


def test_a_consistent_query_pays_per_started_four_kilobytes_of_the_items_read() -> None:
    query = call("Query", "projects", ConsistentRead=True)
    query.response = {"Items": [{"project_id": s("p1"), "settings": s("x" * 3000)}] * 2}
    assert units_of(query, SPECS).read == 2


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v3/mg.shop.example/messages", "/v3/{domain}/messages"),
        ("/v3/domains/mg.shop.example/webhooks", "/v3/domains/mg.shop.example/webhooks"),
        ("/v4/domains", "/v4/domains"),
    ],
)
def test_mailgun_calls_are_named_by_route(path: str, route: str) -> None:
    assert _route(path) == route


def test_a_batch_is_billed_for_its_cpu_and_its_round_trips_together() -> None:
    batch = send_cost.Invocation("send_first", "", 10, 150.0, 7.0, 1.0, 4.5, 3.0)
    modelled, billed = send_cost.billed_ms(batch, "low")
    assert modelled == pytest.approx(150.0 + 70 * 5.0 + 10 * 100.0)
    assert billed == 1500


def test_every_mail_through_the_queue_costs_one_send_and_a_tenth_of_a_receive_and_a_delete() -> None:
    assert send_cost.sqs_cost() == pytest.approx(1000 * 1.2 * 0.40 / 1e6)


def test_a_delivered_mail_counts_the_webhooks_mailgun_posts_for_it() -> None:
    first = send_cost.Invocation("send_first", "", 10, 0.0, 0.0, 1.0, 0.0, 0.0)
    hook = send_cost.Invocation("webhook_delivered", "", 1, 0.0, 0.0, 0.0, 0.0, 0.0)
    invocations = dict.fromkeys(("trigger_entry", "send_first", "send_duplicate", "send_skipped"), first)
    invocations |= dict.fromkeys(("webhook_delivered", "webhook_opened", "unsubscribe_one_click"), hook)
    rows = {row["name"]: row for row in send_cost.compute(invocations, ("delivered",))}
    assert rows["trigger_mail"]["parts"] == ["trigger_entry", "send_first", "webhook_delivered"]
    sent = rows["mail_sent"]
    assert sent["parts"] == ["send_first", "webhook_delivered"]
    assert sent["low"]["http_api"] == pytest.approx(1000 * 1.00 / 1e6)
    assert sent["low"]["functions"]["send_first"]["invocations"] == 100
    assert sent["low"]["functions"]["webhook_delivered"]["invocations"] == 1000


def test_a_filtered_query_pays_for_every_item_it_read_not_only_those_it_returned() -> None:
    query = call("Query", "projects", ConsistentRead=True, FilterExpression="#e = :e")
    query.response = {"Items": [{"project_id": s("p1")}]}
    query.before["scanned"] = [{"project_id": s("p1"), "payload": s("x" * 1000)}] * 10
    units = units_of(query, SPECS)
    assert units.read == 3  # 10 items of about 1 KB, strongly consistent
    assert "10 item(s) read, 1 returned" in units.notes[0]


def test_a_transaction_pays_twice_per_item() -> None:
    put = {"Put": {"TableName": "stats", "Item": stats_item(10)}}
    update = {"Update": {"TableName": "stats", "Key": {"pk": s("p#c"), "sk": s("B")}}}
    transaction = call("TransactWriteItems", "", TransactItems=[put, update])
    transaction.params.pop("TableName")
    transaction.before.update(items=[None, stats_item(1500)], after_items=[None, stats_item(1600)])
    units = units_of(transaction, SPECS)
    assert units.write == 2 * 1 + 2 * 2
    assert units.table == "StatsTable"
