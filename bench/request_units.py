"""DynamoDB calls and request units of each kind of tracking request, counted call by call."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import payloads
from bench.aws import Stack
from bench.capacity import Tally, before_state_observer, tally, units_of
from bench.dynamo_calls import CallRecorder, DynamoCall
from bench.harness import Handler, Project, counted_stdout


@dataclass
class ScenarioUnits:
    name: str
    description: str
    messages: int
    tally: Tally
    calls: list[DynamoCall] = field(repr=False, default_factory=list)

    def per_message(self) -> dict[str, float]:
        n = self.messages
        return {
            "calls": self.tally.calls / n,
            "get_item": self.tally.gets / n,
            "put_item": self.tally.puts / n,
            "rru": self.tally.read / n,
            "wru_table": self.tally.write / n,
            "wru_index": self.tally.index_write / n,
            "wru": self.tally.total_write / n,
            "moto_reported_units": self.tally.moto_reported / n,
        }


class UnitsRun:
    def __init__(self, handler: Handler, project: Project, stack: Stack) -> None:
        self._handler = handler
        self._project = project
        self._specs_by_name = {spec.physical_name: spec for spec in stack.tables.values()}
        # Created before the recorder is installed, so its look-ups are not counted.
        lookup = stack.dynamodb_client()
        self.recorder = CallRecorder(observer=before_state_observer(lookup.get_item, self._specs_by_name))
        self.results: dict[str, ScenarioUnits] = {}

    def send(self, endpoint: str, body: dict[str, Any], browser: bool = True) -> None:
        event = payloads.http_event(endpoint, body, self._project.write_key, browser=browser)
        with counted_stdout():
            response = self._handler(event, payloads.FakeContext())
        if response["statusCode"] != 200:
            raise RuntimeError(f"{endpoint} answered {response['statusCode']}: {response['body']}")

    def measure(
        self, name: str, description: str, messages: int, action: Callable[[], None], table: str | None = None
    ) -> ScenarioUnits:
        self.recorder.clear()
        action()
        calls = [c for c in self.recorder.calls if table is None or self._specs_by_name[c.table].logical_id == table]
        result = ScenarioUnits(
            name, description, messages, tally(units_of(c, self._specs_by_name) for c in calls), calls
        )
        self.results[name] = result
        return result


def run(handler: Handler, project: Project, stack: Stack) -> dict[str, ScenarioUnits]:
    from tagmail import bootstrap

    units = UnitsRun(handler, project, stack)
    units.recorder.install()
    try:
        bootstrap.reset()  # new pynamodb connections, so their clients are created under the recorder
        send = units.send

        def uid() -> str:
            return f"u-{uuid.uuid4().hex[:12]}"

        def aid() -> str:
            return str(uuid.uuid4())

        def email(user: str) -> str:
            return f"{user}@example.com"

        first = uid()
        units.measure(
            "key_lookup",
            "write key look-up: the first request of a container, then once a minute (cached)",
            1,
            lambda: send("track", payloads.browser_track(first, aid())),
            table="ApiKeysTable",
        )
        # The key is cached from here on; the look-up is not part of the scenarios below.

        user = uid()
        units.measure(
            "identify_new_user",
            "identify, first of a new user (userId + traits with e-mail and consent)",
            1,
            lambda: send("identify", payloads.browser_identify(user, None, payloads.identify_traits(email(user)))),
        )
        repeat = payloads.browser_identify(user, None, payloads.identify_traits(email(user)))
        units.measure(
            "identify_repeat",
            "identify, same user, same traits again (new messageId)",
            1,
            lambda: send("identify", repeat),
        )
        units.measure(
            "identify_duplicate",
            "identify retried (same messageId)",
            1,
            lambda: send("identify", repeat),
        )

        visitor, member = aid(), uid()
        send("track", payloads.browser_track(None, visitor))  # the visitor browses anonymously first
        units.measure(
            "identify_links_anonymous",
            "identify of a new user carrying the anonymousId of a visitor seen only through track",
            1,
            lambda: send(
                "identify", payloads.browser_identify(member, visitor, payloads.identify_traits(email(member)))
            ),
        )
        units.measure(
            "identify_repeat_browser",
            "identify again from the browser (same userId, anonymousId and traits; analytics.js sends both ids)",
            1,
            lambda: send(
                "identify", payloads.browser_identify(member, visitor, payloads.identify_traits(email(member)))
            ),
        )

        subscriber, buyer = aid(), uid()
        send("identify", payloads.browser_identify(None, subscriber, payloads.identify_traits(email(buyer))))
        units.measure(
            "identify_absorbs_anonymous",
            "identify of a new user whose anonymousId had itself identified with traits (traits merged)",
            1,
            lambda: send("identify", payloads.browser_identify(buyer, subscriber, {"plan": "member"})),
        )

        shopper, shopper_anon = uid(), aid()
        track = payloads.browser_track(shopper, shopper_anon)
        units.measure("track", "track, analytics.js shape (one message per request)", 1, lambda: send("track", track))
        units.measure("track_duplicate", "track retried (same messageId)", 1, lambda: send("track", track))

        server_user = uid()
        units.measure(
            "track_server_batch",
            "track, server SDK shape, in a /v1/batch of 100 (per message)",
            100,
            lambda: send(
                "batch",
                payloads.server_batch([payloads.server_track(server_user) for _ in range(100)]),
                browser=False,
            ),
        )
        units.measure(
            "track_browser_batch",
            "track, analytics.js shape, in a /v1/batch of 100 (per message)",
            100,
            lambda: send(
                "batch", payloads.server_batch([payloads.browser_track(shopper, shopper_anon) for _ in range(100)])
            ),
        )
    finally:
        units.recorder.uninstall()
        bootstrap.reset()
    return units.results


def stored_event_item(result: ScenarioUnits) -> dict[str, Any]:
    """The events-table item a scenario wrote (wire format), e.g. for a stream event's NewImage."""
    for call in result.calls:
        if call.operation == "PutItem" and "sk" in call.params["Item"]:
            return dict(call.params["Item"])
    raise LookupError(f"{result.name} wrote no event")
