"""What one mail costs tagmail on its way out and back: the trigger function's part (an entry
event becomes a send request), the send function (a first send, a redelivered request that dedupe
stops, a user who unsubscribed since the entry), the webhook receiver (Mailgun's accepted,
delivered and opened events) and the one-click unsubscribe POST.

The handlers run in this process as Lambda would run them, against the local stack and the
Mailgun sandbox in a child process (bench.mail_stack). The mail is a shop's cart reminder
(bench.shop_mail), a trigger campaign created and activated through the admin service: shoppers
identify and browse through the tracking API, their "Checkout Started" events go through the
trigger function as stream records, and the send requests it puts on the send queue are the ones
the send function gets. The webhooks are the bodies the sandbox signed and posted, handed to the
webhook function as API Gateway delivers them.

Two passes, like the ingest benchmark's:
- calls (`scenarios`): one request of each kind with every call recorded: DynamoDB (with request
  units from item sizes), SSM, SQS and Mailgun;
- time (`timing`): many requests of each kind, interleaved; CPU time of this process (moto and
  the sandbox run in the child) and DynamoDB calls per mail.
"""

from __future__ import annotations

import gc
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import requests

from bench import harness, mail_payloads, payloads, shop_mail
from bench.aws import CREDENTIALS, REGION
from bench.capacity import Tally, tally
from bench.dynamo_calls import CallRecorder
from bench.harness import counted_stdout
from bench.mail_calls import MailCallRecorder, ServiceCounter, describe, units_of
from bench.mail_stack import MailStack
from bench.throughput import Runner, Series, Summary

TEMPLATE_ID = "cart-reminder"
ENTRY_EVENT = "Checkout Started"
EXIT_EVENT = "Order Completed"
BATCH = 10  # the send queue's event source: BatchSize 10 (template.yaml)
LONG_HISTORY = 200  # stored events of a returning shopper (events are kept 400 days)


@dataclass(frozen=True)
class Shopper:
    index: int
    user_id: str
    checkout_id: str  # the messageId of the shopper's "Checkout Started"


@dataclass
class Sizes:
    batches: int  # measured batches of BATCH send requests, per kind
    webhooks: int  # measured webhook events per kind
    unsubscribes: int
    warmup: int  # batches (and webhook events) run first and not counted


QUICK = Sizes(batches=3, webhooks=20, unsubscribes=10, warmup=1)
FULL = Sizes(batches=30, webhooks=300, unsubscribes=100, warmup=2)


@dataclass
class ScenarioCalls:
    name: str
    description: str
    tally: Tally
    services: dict[str, int]
    stdout_bytes: int
    dynamo_calls: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        operations: dict[str, int] = {}
        for line in self.tally.lines:
            operation = line.split(" ", 1)[0]
            operations[operation] = operations.get(operation, 0) + 1
        return {
            "description": self.description,
            "dynamodb_calls": self.tally.calls,
            "dynamodb_operations": operations,
            "rru": self.tally.read,
            "wru_table": self.tally.write,
            "wru_index": self.tally.index_write,
            "wru": self.tally.total_write,
            "services": dict(sorted(self.services.items())),
            "ssm_calls": sum(n for name, n in self.services.items() if name.startswith("ssm ")),
            "sqs_calls": sum(n for name, n in self.services.items() if name.startswith("sqs ")),
            "mailgun_calls": sum(n for name, n in self.services.items() if name.startswith("mailgun ")),
            "stdout_bytes": self.stdout_bytes,
            "calls": self.tally.lines,
        }


class SendPath:
    """The handlers, the cart-reminder campaign, its shoppers and the send requests they get."""

    def __init__(self, stack: MailStack) -> None:
        self.stack = stack
        # One environment serves every handler, as in the local stack (Globals give them the same
        # variables; the trigger function adds its state machine's ARN). tagmail is imported from
        # layers/core (harness.use_layers()).
        for function in stack.environment:
            os.environ.update(harness.function_environment(stack, function))
        from tagmail import bootstrap

        bootstrap.reset()
        self.send_handler = harness.load_handler("send").lambda_handler
        self.webhook_handler = harness.load_handler("webhook").lambda_handler
        self.unsubscribe_handler = harness.load_handler("unsubscribe").lambda_handler
        self.trigger_handler = harness.load_handler("trigger").lambda_handler
        self._ingest = harness.load_handler("ingest").lambda_handler
        # Clients of the benchmark itself, made before any recorder: their calls are not counted.
        self.dynamodb = stack.dynamodb_client()
        self._sqs = boto3.client("sqs", endpoint_url=stack.moto_url, region_name=REGION, **CREDENTIALS)
        self._events_table = stack.tables["EventsTable"].physical_name
        self._shoppers = 0
        self.campaign_id = ""

    def setup(self) -> None:
        """The cart-reminder template and an active trigger campaign sending it: entry on
        "Checkout Started", exit on "Order Completed" of the same checkout."""
        from tagmail import bootstrap
        from tagmail.domain.campaigns import CampaignAction
        from tagmail.domain.templates import MailContent, Template, TemplateVersion
        from tagmail.domain.triggers import TriggerRule
        from tagmail.services.campaigns import CampaignDraft, VariantDraft

        now = datetime.now(UTC)
        project = self.stack.project_id
        template = Template(TEMPLATE_ID, project, "Cart reminder", 1, now, now)
        version = TemplateVersion(TEMPLATE_ID, 1, now, {"ja": MailContent(shop_mail.SUBJECT, shop_mail.HTML)}, "ja")
        bootstrap.template_store().add_version(project, template, version)
        admin = bootstrap.campaign_admin()
        draft = CampaignDraft(
            name="Cart reminder",
            variants=(VariantDraft("A", TEMPLATE_ID),),
            trigger=TriggerRule(entry_event=ENTRY_EVENT, exit_events=(EXIT_EVENT,), exit_key_property="checkout_id"),
        )
        campaign = admin.create(project, draft)
        admin.act(project, campaign.id, CampaignAction.ACTIVATE)
        self.campaign_id = campaign.id

    def _ingest_call(self, endpoint: str, body: dict[str, Any], browser: bool = True) -> None:
        event = payloads.http_event(endpoint, body, self.stack.write_key, browser=browser)
        with counted_stdout():
            response = self._ingest(event, payloads.FakeContext())
        if response["statusCode"] != 200:
            raise RuntimeError(f"{endpoint} answered {response['statusCode']}: {response['body']}")

    def shoppers(self, count: int, history: int = 0) -> list[Shopper]:
        """New users identified through the tracking API (subscribed, open+ addresses: the sandbox
        reports delivered, then opened), each after a browsing session that ends in a checkout;
        `history` more product views before it, for a returning shopper."""
        made = []
        for _ in range(count):
            index = self._shoppers
            self._shoppers += 1
            user_id = f"shopper-{index:05d}-{uuid.uuid4().hex[:6]}"
            anonymous_id = str(uuid.uuid4())
            traits = shop_mail.traits(index, f"open+{user_id}@example.jp")
            self._ingest_call("identify", payloads.browser_identify(user_id, anonymous_id, traits))
            for start in range(0, history, 100):
                views = [self._track(user_id, anonymous_id, "Product Viewed") for _ in range(min(100, history - start))]
                self._ingest_call("batch", payloads.server_batch(views))
            checkout = self._track(user_id, anonymous_id, ENTRY_EVENT, shop_mail.checkout_properties(index))
            session = [
                self._track(user_id, anonymous_id, "Product Viewed"),
                self._track(user_id, anonymous_id, "Product Added"),
                checkout,
            ]
            self._ingest_call("batch", payloads.server_batch(session))
            made.append(Shopper(index, user_id, checkout["messageId"]))
        return made

    @staticmethod
    def _track(user_id: str, anonymous_id: str, event: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
        message = payloads.browser_track(user_id, anonymous_id)
        message["event"] = event
        if properties is not None:
            message["properties"] = properties
        return message

    def unsubscribe_shoppers(self, shoppers: list[Shopper]) -> None:
        """The shoppers unsubscribe (identify with subscription false) after their entry."""
        for shopper in shoppers:
            self._ingest_call("identify", payloads.browser_identify(shopper.user_id, None, {"subscription": False}))

    def entry_event(self, shoppers: list[Shopper]) -> dict[str, Any]:
        """The stream batch (INSERT records) that brings the shoppers' checkouts to the trigger."""
        images = []
        for shopper in shoppers:
            key = {
                "pk": {"S": f"{self.stack.project_id}#u:{shopper.user_id}"},
                "sk": {"S": f"m:{shopper.checkout_id}"},
            }
            item = self.dynamodb.get_item(TableName=self._events_table, Key=key, ConsistentRead=True).get("Item")
            if item is None:
                raise RuntimeError(f"the checkout of {shopper.user_id} was not stored")
            images.append(item)
        return payloads.stream_event(images)

    def take_requests(self, count: int) -> list[str]:
        """The send requests the trigger function put on the send queue (taken off it)."""
        url = os.environ["SEND_QUEUE_URL"]
        bodies: list[str] = []
        deadline = time.monotonic() + 30
        while len(bodies) < count and time.monotonic() < deadline:
            answer = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages = answer.get("Messages", [])
            if messages:
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                self._sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            bodies.extend(message["Body"] for message in messages)
        if len(bodies) != count:
            raise RuntimeError(f"{len(bodies)} send requests on the queue, {count} expected")
        return bodies

    def enter(self, shoppers: list[Shopper]) -> dict[str, str]:
        """The trigger function takes the shoppers' checkouts: user id -> the send request."""
        self.trigger(self.entry_event(shoppers))
        requests_by_user = {}
        for body in self.take_requests(len(shoppers)):
            document = json.loads(body)
            requests_by_user[document["user_key"].removeprefix("u:")] = body
        return {shopper.user_id: requests_by_user[shopper.user_id] for shopper in shoppers}

    # -- calls that raise unless the function answered as expected --------------------------

    def trigger(self, event: dict[str, Any]) -> None:
        response = self.trigger_handler(event, payloads.FakeContext())
        if response.get("batchItemFailures"):
            raise RuntimeError(f"the trigger function reported failures: {response}")

    def send(self, bodies: list[str], receive_count: int = 1) -> None:
        response = self.send_handler(mail_payloads.sqs_event(bodies, receive_count), payloads.FakeContext())
        if response.get("batchItemFailures"):
            raise RuntimeError(f"the send function reported failures: {response}")

    def webhook(self, body: str) -> None:
        response = self.webhook_handler(mail_payloads.webhook_event(body), payloads.FakeContext())
        if response["statusCode"] != 200:
            raise RuntimeError(f"the webhook function answered {response['statusCode']}: {response['body']}")

    def unsubscribe(self, token: str) -> None:
        response = self.unsubscribe_handler(mail_payloads.one_click_unsubscribe_event(token), payloads.FakeContext())
        if response["statusCode"] != 200:
            raise RuntimeError(f"the unsubscribe function answered {response['statusCode']}")

    # -- what came back -----------------------------------------------------------------------

    def webhooks_by_send(self, expected: int) -> dict[tuple[str, str], str]:
        """(event type, send key) -> the body the sandbox posted, once `expected` bodies are in."""
        bodies = self.stack.wait_for_webhooks(expected)
        if len(bodies) < expected:
            raise RuntimeError(f"{len(bodies)} webhooks arrived, {expected} expected")
        return {mail_payloads.webhook_kind(body): body for body in bodies}

    def unsubscribe_tokens(self) -> dict[str, str]:
        """send key -> the token of the mail's List-Unsubscribe link."""
        tokens = {}
        for message in self.stack.sandbox_messages():
            headers = {name.lower(): value for name, value in message["headers"].items()}
            link = headers["list-unsubscribe"].strip("<>")
            tokens[message["user_variables"]["tagmail_send"]] = link.rsplit("/u/", 1)[1]
        return tokens


def _send_key(body: str) -> str:
    from tagmail.domain.sending import SendRequest

    return SendRequest.from_json(body).send_key


def webhook_kinds(stack: MailStack) -> list[str]:
    """The webhooks each mail brings back, in Mailgun's order: those tagmail registered of
    accepted, delivered and opened (the recipients are open+ addresses)."""
    return [kind for kind in ("accepted", "delivered", "opened") if kind in stack.webhook_types]


def scenarios(path: SendPath) -> dict[str, ScenarioCalls]:
    """One request of each kind, every call recorded."""
    from tagmail import bootstrap

    stack = path.stack
    specs_by_name = {spec.physical_name: spec for spec in stack.tables.values()}
    recorder = MailCallRecorder(path.dynamodb, specs_by_name).install()
    services = ServiceCounter(stack.sandbox_url).install()
    results: dict[str, ScenarioCalls] = {}
    webhooks_before = len(stack.webhook_bodies())

    def measure(name: str, description: str, action: Callable[[], None]) -> None:
        recorder.clear()
        services.clear()
        with counted_stdout() as out:
            action()
        units = [units_of(call, specs_by_name) for call in recorder.calls]
        counted = tally(units)
        counted.lines = [describe(unit) for unit in units]
        results[name] = ScenarioCalls(name, description, counted, dict(services.calls), out.bytes)

    try:
        cold, shopper, gone = path.shoppers(3)
        [returning] = path.shoppers(1, history=LONG_HISTORY)
        bootstrap.reset()  # a new container: clients and caches are built under the recorder
        path.trigger(path.entry_event([cold]))  # reads the campaigns (then cached for a minute)
        entry = path.entry_event([shopper])
        measure(
            "trigger_entry",
            f"trigger function: a {ENTRY_EVENT} enters the campaign (one stream record)",
            lambda: path.trigger(entry),
        )
        path.trigger(path.entry_event([gone, returning]))
        requests_by_user = {}
        for body in path.take_requests(4):
            requests_by_user[json.loads(body)["user_key"].removeprefix("u:")] = body
        path.unsubscribe_shoppers([gone])
        cold_request, request = requests_by_user[cold.user_id], requests_by_user[shopper.user_id]

        bootstrap.reset()  # the send function's own container
        measure(
            "send_cold",
            "first send of a new container (secrets read from SSM, clients created)",
            lambda: path.send([cold_request]),
        )
        measure("send_first", "first send (warm)", lambda: path.send([request]))
        measure(
            "send_duplicate",
            "the same send request delivered again (dedupe)",
            lambda: path.send([request], receive_count=2),
        )
        measure(
            "send_skipped",
            "a send request for a user who unsubscribed after the entry (skipped)",
            lambda: path.send([requests_by_user[gone.user_id]]),
        )
        measure(
            "send_first_returning",
            f"first send to a returning shopper ({LONG_HISTORY + 3} stored events)",
            lambda: path.send([requests_by_user[returning.user_id]]),
        )

        kinds = webhook_kinds(stack)
        hooks = path.webhooks_by_send(webhooks_before + 3 * len(kinds))
        cold_key, key = _send_key(cold_request), _send_key(request)
        bootstrap.reset()  # the webhook function's own container
        measure(
            "webhook_cold",
            f"first webhook of a new container ({kinds[0]}; signing key read from SSM)",
            lambda: path.webhook(hooks[(kinds[0], cold_key)]),
        )

        def post(body: str) -> Callable[[], None]:
            return lambda: path.webhook(body)

        for kind in kinds:
            measure(f"webhook_{kind}", f"webhook: {kind}", post(hooks[(kind, key)]))
        token = path.unsubscribe_tokens()[key]
        measure(
            "unsubscribe_one_click",
            "one-click unsubscribe POST (RFC 8058) from the mail's List-Unsubscribe link",
            lambda: path.unsubscribe(token),
        )
    finally:
        services.uninstall()
        recorder.uninstall()
        bootstrap.reset()
    return results


class CpuSplit:
    """CPU time of this process spent in JinjaRenderer.render and in `requests` calls to Mailgun,
    request by request of the send series (the rest of a request's CPU time is known from the
    Runner: DynamoDB calls and everything else)."""

    def __init__(self, mailgun_base_url: str) -> None:
        self._mailgun = mailgun_base_url.rstrip("/")
        self.spent = {"render": 0.0, "mailgun": 0.0}
        self.requests: dict[str, list[dict[str, float]]] = {}
        self._undo: list[Callable[[], None]] = []

    def install(self) -> CpuSplit:
        from tagmail.adapters import rendering

        render, send = rendering.JinjaRenderer.render, requests.Session.send
        spent, mailgun = self.spent, self._mailgun

        def timed_render(renderer: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return render(renderer, *args, **kwargs)
            finally:
                spent["render"] += time.process_time() - started

        def timed_send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
            if not (request.url or "").startswith(mailgun):
                return send(session, request, **kwargs)
            started = time.process_time()
            try:
                return send(session, request, **kwargs)
            finally:
                spent["mailgun"] += time.process_time() - started

        rendering.JinjaRenderer.render = timed_render  # type: ignore[method-assign]
        requests.Session.send = timed_send  # type: ignore[method-assign,assignment]
        self._undo = [
            lambda: setattr(rendering.JinjaRenderer, "render", render),
            lambda: setattr(requests.Session, "send", send),
        ]
        return self

    def uninstall(self) -> None:
        for undo in self._undo:
            undo()
        self._undo = []

    def timed(self, series: str, action: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            before = dict(self.spent)
            action()
            self.requests.setdefault(series, []).append({k: v - before[k] for k, v in self.spent.items()})

        return run

    def per_item_ms(self, series: str, warmup: int, items: int) -> dict[str, float]:
        counted = self.requests.get(series, [])[warmup:]
        return {k: sum(r[k] for r in counted) * 1000 / (len(counted) * items) for k in self.spent} if counted else {}


@dataclass
class Timing:
    summaries: dict[str, Summary]
    cpu_split_ms: dict[str, dict[str, float]]  # per mail: render, mailgun
    request_bytes: int  # the largest send request on the queue


def timing(path: SendPath, sizes: Sizes) -> Timing:
    """Many requests of each kind, interleaved; CPU time and DynamoDB calls per mail or event."""
    from tagmail import bootstrap

    stack = path.stack
    rounds = sizes.batches + sizes.warmup
    recipients = path.shoppers(rounds * BATCH)
    leaving = path.shoppers(rounds * BATCH)
    groups = [recipients[i * BATCH : (i + 1) * BATCH] for i in range(rounds)]
    entries = [path.entry_event(group) for group in groups]
    webhooks_before = len(stack.webhook_bodies())

    runner = Runner(CallRecorder().install())
    split = CpuSplit(stack.sandbox_url).install()
    gc.collect()
    try:
        bootstrap.reset()  # new pynamodb connections, so their clients are created under the recorder

        def trigger(event: dict[str, Any]) -> Callable[[], None]:
            return lambda: path.trigger(event)

        runner.measure(
            Series(
                "trigger_entry",
                f"trigger function: stream batches of {BATCH} {ENTRY_EVENT} records",
                [trigger(event) for event in entries],
                BATCH,
            ),
            warmup=sizes.warmup,
        )
        requests_by_user = {
            json.loads(body)["user_key"].removeprefix("u:"): body for body in path.take_requests(len(recipients))
        }
        first = [[requests_by_user[shopper.user_id] for shopper in group] for group in groups]
        skipped_by_user = {}
        for i in range(0, len(leaving), BATCH):
            skipped_by_user |= path.enter(leaving[i : i + BATCH])
        path.unsubscribe_shoppers(leaving)
        skipped = [[skipped_by_user[s.user_id] for s in leaving[i * BATCH : (i + 1) * BATCH]] for i in range(rounds)]

        def send(series: str, bodies: list[str], receive_count: int = 1) -> Callable[[], None]:
            return split.timed(series, lambda: path.send(bodies, receive_count))

        runner.measure(
            Series("send_first", "first sends, SQS batches of 10", [send("send_first", b) for b in first], BATCH),
            Series(
                "send_duplicate",
                "the same requests again (dedupe)",
                [send("send_duplicate", b, 2) for b in first],
                BATCH,
            ),
            Series(
                "send_skipped",
                "requests for users who unsubscribed after the entry",
                [send("send_skipped", b) for b in skipped],
                BATCH,
            ),
            warmup=sizes.warmup,
        )
        split.uninstall()

        kinds = webhook_kinds(stack)
        hooks = path.webhooks_by_send(webhooks_before + len(recipients) * len(kinds))
        keys = [_send_key(body) for batch in first for body in batch]
        count = min(len(keys), sizes.webhooks + sizes.warmup)

        def webhook(kind: str, key: str) -> Callable[[], None]:
            body = hooks[(kind, key)]
            return lambda: path.webhook(body)

        # Each mail's events in Mailgun's order: accepted, delivered, opened.
        runner.measure(
            *(
                Series(f"webhook_{kind}", f"webhook: {kind}", [webhook(kind, key) for key in keys[:count]])
                for kind in kinds
            ),
            warmup=sizes.warmup,
        )

        tokens = path.unsubscribe_tokens()
        chosen = [tokens[key] for key in keys[: sizes.unsubscribes + sizes.warmup]]

        def unsubscribe(token: str) -> Callable[[], None]:
            return lambda: path.unsubscribe(token)

        runner.measure(
            Series(
                "unsubscribe_one_click",
                "one-click unsubscribe POST, each a different user",
                [unsubscribe(token) for token in chosen],
            ),
            warmup=sizes.warmup,
        )
    finally:
        split.uninstall()
        runner.recorder.uninstall()
        bootstrap.reset()
    cpu_split = {
        name: split.per_item_ms(name, sizes.warmup, BATCH) for name in ("send_first", "send_duplicate", "send_skipped")
    }
    return Timing(runner.results, cpu_split, max(len(body.encode()) for batch in first for body in batch))
