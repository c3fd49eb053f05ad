"""The site tag in a real browser against the local stack.

Debian's chromium, driven by Playwright, opens the demo shop that the local API serves from web/, and
the tests read what the tag's calls left in DynamoDB. Waits poll with a deadline, never sleep blindly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DEADLINE_S = 20.0
UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# In CI the Makefile installs chromium and playwright: there a missing one must fail, not skip.
if not os.environ.get("CI"):
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium", allow_module_level=True)
    pytest.importorskip("playwright.sync_api", reason="playwright is missing: `make venv` installs it")

from playwright.sync_api import BrowserContext, Page, Route, sync_playwright  # noqa: E402

pytestmark = pytest.mark.e2e


# --- fixtures ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any) -> Iterator[BrowserContext]:
    ctx = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    tab = context.new_page()
    tab.set_default_timeout(DEADLINE_S * 1000)
    return tab


@pytest.fixture
def console_warnings(page: Page) -> list[str]:
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
    return warnings


@pytest.fixture
def store(local_stack: Any) -> Store:
    return Store(local_stack)


# --- helpers ----------------------------------------------------------------------------------------------------------


def wait_for(page: Page, probe: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    """Polls until probe() returns something truthy, or fails naming what did not happen.

    It waits with the page's own timer: Playwright's sync API runs route handlers and event listeners
    only while a call into it is in progress, so time.sleep() would stall the browser's requests.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        page.wait_for_timeout(200)


class Store:
    """Reads the users and events tables the way the tests need them."""

    def __init__(self, stack: Any) -> None:
        self.project_id = stack.project.id
        self.dynamodb = stack.client("dynamodb")
        self.users_table = stack.physical_names["UsersTable"]
        self.events_table = stack.physical_names["EventsTable"]

    def user_key(self, user_id: str) -> str:
        return f"{self.project_id}#u:{user_id}"

    def anonymous_key(self, anonymous_id: str) -> str:
        return f"{self.project_id}#a:{anonymous_id}"

    def profile(self, pk: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(TableName=self.users_table, Key={"pk": {"S": pk}}, ConsistentRead=True)
        return item.get("Item")

    def events(self, pk: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.events_table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        while True:
            page = self.dynamodb.query(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def events_of(self, pk: str, type_: str, name: str | None = None) -> list[dict[str, Any]]:
        """Events of one type; for track the event name, for page the page name, when given."""
        field = "event" if type_ == "track" else "name"
        return [
            item
            for item in self.events(pk)
            if text(item, "type") == type_ and (name is None or text(item, field) == name)
        ]

    def wait_profile(self, page: Page, pk: str, ready: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            item = self.profile(pk)
            return item if item is not None and ready(item) else None

        return wait_for(page, probe, what)  # type: ignore[no-any-return]

    def wait_events(
        self, page: Page, pk: str, type_: str, name: str | None = None, count: int = 1
    ) -> list[dict[str, Any]]:
        def probe() -> list[dict[str, Any]] | None:
            found = self.events_of(pk, type_, name)
            return found if len(found) >= count else None

        return wait_for(page, probe, f"{count} {type_} event(s) {name or ''} under {pk}")  # type: ignore[no-any-return]


def text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if value else None


def payload_part(event: dict[str, Any], part: str) -> dict[str, Any]:
    """The properties or traits the tag sent, from the stored event's JSON payload."""
    payload = json.loads(event["payload"]["S"])
    return payload.get(part, payload)  # type: ignore[no-any-return]


def shop_url(stack: Any, page_name: str = "index.html", *, host: bool = False, **query: str) -> str:
    params = {"writeKey": stack.project.write_key, **query}
    if host:
        params["host"] = stack.api_url
    return f"{stack.api_url}/web/demo/{page_name}?{urlencode(params)}"


def open_shop(page: Page, stack: Any, **kwargs: Any) -> str:
    """Opens the demo shop and returns the visitor's anonymous id once the tag has loaded."""
    page.goto(shop_url(stack, **kwargs))
    page.wait_for_function("window.tagmail && window.tagmail.loaded === true")
    return page.evaluate("tagmail.user().anonymousId")  # type: ignore[no-any-return]


def wait_sent(page: Page) -> None:
    """Waits until the tag's retry queue is empty: every message has had a 2xx (or a final 4xx)."""
    page.wait_for_function("localStorage.getItem('tm_q') === null")


def sign_up(page: Page, user_id: str, email: str, *, consent: bool) -> None:
    page.fill("#member-id", user_id)
    page.fill("#email", email)
    page.set_checked("#consent", consent)
    page.click("#signup-button")


def new_user_id(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


# --- tests ------------------------------------------------------------------------------------------------------------


def test_sign_up_stores_the_profile_with_the_address_and_consent(
    local_stack: Any, store: Store, page: Page, context: BrowserContext
) -> None:
    user_id = new_user_id("alice")
    anonymous_id = open_shop(page, local_stack, host=True)

    sign_up(page, user_id, "Alice@Example.COM", consent=True)
    wait_sent(page)

    profile = store.wait_profile(page, store.user_key(user_id), lambda item: "email" in item, "the signed-up profile")
    assert profile["user_id"] == {"S": user_id}
    assert profile["email"] == {"S": "Alice@Example.COM"}
    assert profile["email_canonical"] == {"S": "alice@example.com"}
    assert profile["subscription"] == {"BOOL": True}
    # The page view came before the sign-up, from the anonymous visitor; the identify names the user.
    [page_view] = store.wait_events(page, store.anonymous_key(anonymous_id), "page", "Shop")
    assert payload_part(page_view, "properties")["path"] == "/web/demo/index.html"
    [identify] = store.wait_events(page, store.user_key(user_id), "identify")
    assert payload_part(identify, "traits")["email"] == "Alice@Example.COM"
    assert (text(identify, "ts") or "").endswith("Z")
    # localStorage works here, so the tag set no cookie at all.
    assert context.cookies() == []


def test_sign_up_stores_the_browser_locale_and_timezone(local_stack: Any, store: Store, page: Page) -> None:
    user_id = new_user_id("locale")
    open_shop(page, local_stack)

    sign_up(page, user_id, "locale@example.com", consent=True)
    wait_sent(page)

    profile = store.wait_profile(page, store.user_key(user_id), lambda item: "email" in item, "the signed-up profile")
    assert profile.get("locale") == {"S": "ja-JP"}  # the browser context's locale
    assert profile.get("timezone") == {"S": "Asia/Tokyo"}


def test_cart_add_and_purchase_are_stored_with_their_properties(local_stack: Any, store: Store, page: Page) -> None:
    user_id = new_user_id("buyer")
    open_shop(page, local_stack)
    sign_up(page, user_id, "buyer@example.com", consent=True)

    page.click(".product[data-product-id='sencha-100'] .add-to-cart")
    page.click("#buy")
    wait_sent(page)

    pk = store.user_key(user_id)
    [cart_add] = store.wait_events(page, pk, "track", "cart_add")
    [purchase] = store.wait_events(page, pk, "track", "purchase")
    added = payload_part(cart_add, "properties")
    bought = payload_part(purchase, "properties")
    assert added["product"] == "Sencha 100 g"
    assert added["price"] == 1200
    assert added["currency"] == "JPY"
    assert added["cart_id"].startswith("c_")
    assert bought["cart_id"] == added["cart_id"]
    assert bought["total"] == 1200
    assert bought["products"] == [{"product_id": "sencha-100", "product": "Sencha 100 g", "price": 1200, "quantity": 1}]


def test_unsubscribe_complete_page_withdraws_consent(local_stack: Any, store: Store, page: Page) -> None:
    user_id = new_user_id("leaver")
    open_shop(page, local_stack)
    sign_up(page, user_id, "Leaver@Example.com", consent=True)
    wait_sent(page)
    pk = store.user_key(user_id)
    store.wait_profile(page, pk, lambda item: item.get("subscription") == {"BOOL": True}, "the subscribed profile")

    page.goto(shop_url(local_stack, "unsubscribed.html", uid=user_id))
    page.wait_for_function("window.tagmail && window.tagmail.loaded === true")
    wait_sent(page)

    profile = store.wait_profile(
        page, pk, lambda item: item.get("subscription") == {"BOOL": False}, "subscription false"
    )
    assert profile["email"] == {"S": "Leaver@Example.com"}, "the unsubscribe identify must not erase the address"
    assert profile["email_canonical"] == {"S": "leaver@example.com"}
    assert page.text_content("#title") == "You are unsubscribed"


def test_calls_made_before_the_script_loads_are_delivered(local_stack: Any, store: Store, page: Page) -> None:
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)  # answered later, once the calls have been made

    page.route("**/web/tag/tagmail.js", hold)
    page.goto(shop_url(local_stack), wait_until="domcontentloaded")
    wait_for(page, lambda: held, "the request for tagmail.js")
    user_id = new_user_id("early")

    still_stub = page.evaluate(
        """(userId) => {
             const stub = Array.isArray(window.tagmail) && !window.tagmail.loaded;
             tagmail.track("stub_checked", {step: 1});
             tagmail.identify(userId, {email: "early@example.com", subscription: false});
             tagmail.track("stub_checked", {step: 2});
             return stub;
           }""",
        user_id,
    )
    assert still_stub, "the calls must have been made while only the snippet's stub existed"
    held[0].continue_()
    page.wait_for_function("window.tagmail && window.tagmail.loaded === true")
    wait_sent(page)

    anonymous_id = page.evaluate("tagmail.user().anonymousId")
    assert page.evaluate("tagmail.user().userId") == user_id
    store.wait_events(page, store.anonymous_key(anonymous_id), "page", "Shop")
    [before] = store.wait_events(page, store.anonymous_key(anonymous_id), "track", "stub_checked")
    assert payload_part(before, "properties")["step"] == 1
    [after] = store.wait_events(page, store.user_key(user_id), "track", "stub_checked")
    assert payload_part(after, "properties")["step"] == 2
    profile = store.wait_profile(page, store.user_key(user_id), lambda item: "email" in item, "the early profile")
    assert profile["subscription"] == {"BOOL": False}


@pytest.mark.parametrize("failure", ["abort", "503"])
def test_a_failed_track_is_retried_and_stored_exactly_once(
    local_stack: Any, store: Store, page: Page, failure: str
) -> None:
    anonymous_id = open_shop(page, local_stack)
    wait_sent(page)
    attempts: list[str] = []

    def fail_first(route: Route) -> None:
        attempts.append(json.loads(route.request.post_data or "{}")["messageId"])
        if len(attempts) > 1:
            route.continue_()
        elif failure == "abort":
            route.abort("connectionreset")
        else:
            route.fulfill(status=503, content_type="application/json", body='{"message": "Service Unavailable"}')

    page.route("**/v1/track", fail_first)
    page.click(".product[data-product-id='hojicha-80'] .add-to-cart")

    wait_for(page, lambda: len(attempts) >= 2, "the retry of the failed track")
    wait_sent(page)
    pk = store.anonymous_key(anonymous_id)
    [stored] = store.wait_events(page, pk, "track", "cart_add")
    assert set(attempts) == {stored["sk"]["S"].removeprefix("m:")}, "every attempt carries the same messageId"

    page.reload()
    page.wait_for_function("window.tagmail && window.tagmail.loaded === true")
    wait_sent(page)
    store.wait_events(page, pk, "page", "Shop", count=2)
    assert len(store.events_of(pk, "track", "cart_add")) == 1


def test_a_message_that_failed_before_a_reload_is_sent_by_the_next_page(
    local_stack: Any, store: Store, page: Page
) -> None:
    anonymous_id = open_shop(page, local_stack)
    wait_sent(page)
    attempts: list[str] = []
    down = True

    def outage(route: Route) -> None:
        attempts.append(json.loads(route.request.post_data or "{}")["messageId"])
        if down:
            route.fulfill(status=503, body="")
        else:
            route.continue_()

    page.route("**/v1/track", outage)
    page.click(".product[data-product-id='sencha-100'] .add-to-cart")
    wait_for(page, lambda: attempts, "the first, failing attempt")
    queued = page.evaluate("JSON.parse(localStorage.getItem('tm_q'))")
    assert [item["m"]["event"] for item in queued] == ["cart_add"], "the failed message waits in the retry queue"

    page.reload(wait_until="domcontentloaded")  # the outage lasts through the unload
    down = False
    page.wait_for_function("window.tagmail && window.tagmail.loaded === true")
    wait_sent(page)

    pk = store.anonymous_key(anonymous_id)
    [stored] = store.wait_events(page, pk, "track", "cart_add")
    assert set(attempts) == {stored["sk"]["S"].removeprefix("m:")}
    assert stored["sk"]["S"] == f"m:{queued[0]['m']['messageId']}"


def test_an_anonymous_visitor_who_signs_up_is_linked_to_the_user(local_stack: Any, store: Store, page: Page) -> None:
    user_id = new_user_id("convert")
    anonymous_id = open_shop(page, local_stack)
    page.click(".product[data-product-id='sencha-100'] .add-to-cart")
    wait_sent(page)
    store.wait_events(page, store.anonymous_key(anonymous_id), "track", "cart_add")

    sign_up(page, user_id, "convert@example.com", consent=True)
    wait_sent(page)

    alias = store.wait_profile(
        page, store.anonymous_key(anonymous_id), lambda item: "alias_of" in item, "alias_of on the anonymous profile"
    )
    assert alias["alias_of"] == {"S": user_id}
    store.wait_events(page, store.user_key(user_id), "identify")


def test_messages_are_segment_shaped_and_sent_as_text_plain(local_stack: Any, page: Page) -> None:
    seen: list[tuple[str, str | None, dict[str, Any]]] = []

    def record(route: Route) -> None:
        request = route.request
        seen.append((request.url, request.headers.get("content-type"), json.loads(request.post_data or "{}")))
        route.continue_()

    page.route("**/v1/*", record)
    open_shop(page, local_stack)
    page.evaluate("tagmail.track('shape_checked', {a: 1})")
    wait_sent(page)

    by_type = {body["type"]: (url, content_type, body) for url, content_type, body in seen}
    url, content_type, track = by_type["track"]
    assert url == f"{local_stack.api_url}/v1/track", "the host defaults to the script's origin"
    assert (content_type or "").startswith("text/plain")
    assert UUID_V4.match(track["messageId"])
    assert UUID_V4.match(track["anonymousId"])
    assert ISO_MS_UTC.match(track["timestamp"])
    assert ISO_MS_UTC.match(track["sentAt"])
    assert track["writeKey"] == local_stack.project.write_key
    assert track["event"] == "shape_checked"
    assert track["properties"] == {"a": 1}
    context = track["context"]
    assert context["library"] == {"name": "tagmail.js", "version": "1.0.0"}
    assert context["locale"] == "ja-JP"
    assert context["timezone"] == "Asia/Tokyo"
    assert context["page"]["path"] == "/web/demo/index.html"
    assert "writeKey" not in context["page"]["url"], "the demo keeps its key out of the reported URL"
    assert context["userAgent"]
    _, _, page_view = by_type["page"]
    assert page_view["name"] == "Shop"
    assert page_view["properties"]["title"] == "Demo tea shop"


def test_a_refused_message_is_dropped_not_retried(local_stack: Any, page: Page, console_warnings: list[str]) -> None:
    attempts: list[str] = []

    def refuse(route: Route) -> None:
        attempts.append(route.request.url)
        route.fulfill(status=400, content_type="application/json", body='{"success": false, "code": "invalid"}')

    open_shop(page, local_stack)
    wait_sent(page)
    page.route("**/v1/track", refuse)
    page.evaluate("tagmail.track('refused', {})")
    wait_sent(page)
    wait_for(page, lambda: any("tagmail: message dropped" in line for line in console_warnings), "the warning")
    page.wait_for_timeout(1500)  # longer than a first retry would wait
    assert len(attempts) == 1


def test_an_invalid_message_refused_by_the_api_is_dropped(
    local_stack: Any, page: Page, console_warnings: list[str]
) -> None:
    statuses: list[int] = []
    page.on("response", lambda response: statuses.append(response.status) if "/v1/" in response.url else None)
    open_shop(page, local_stack)
    wait_sent(page)

    page.evaluate("tagmail.identify('bad-address', {email: 'not an address'})")
    wait_sent(page)

    wait_for(page, lambda: any("invalid_email" in line for line in console_warnings), "the API's refusal")
    assert statuses.count(400) == 1


def test_a_shop_on_another_origin_sends_cross_origin(local_stack: Any, store: Store, page: Page) -> None:
    # localhost and 127.0.0.1 are different origins: the shop is on one, the API on the other.
    api = urlsplit(local_stack.api_url)
    assert api.hostname == "127.0.0.1"
    shop = urlunsplit(api._replace(netloc=f"localhost:{api.port}"))
    query = urlencode({"writeKey": local_stack.project.write_key, "host": local_stack.api_url})
    page.goto(f"{shop}/web/demo/index.html?{query}")
    page.wait_for_function("window.tagmail && window.tagmail.loaded === true")
    anonymous_id = page.evaluate("tagmail.user().anonymousId")

    page.click(".product[data-product-id='sencha-100'] .add-to-cart")
    wait_sent(page)

    [cart_add] = store.wait_events(page, store.anonymous_key(anonymous_id), "track", "cart_add")
    assert payload_part(cart_add, "context")["page"]["url"].startswith("http://localhost:")


def test_without_local_storage_the_anonymous_id_lives_in_a_first_party_cookie(
    local_stack: Any, store: Store, browser: Any
) -> None:
    ctx = browser.new_context()
    try:
        ctx.add_init_script(
            "Object.defineProperty(window, 'localStorage',"
            " {get() { throw new DOMException('blocked', 'SecurityError'); }});"
        )
        tab = ctx.new_page()
        tab.goto(shop_url(local_stack))
        tab.wait_for_function("window.tagmail && window.tagmail.loaded === true")
        anonymous_id = tab.evaluate("tagmail.user().anonymousId")
        cookies = {cookie["name"]: cookie for cookie in ctx.cookies()}
        assert set(cookies) == {"tm_aid"}
        assert cookies["tm_aid"]["value"] == anonymous_id
        assert cookies["tm_aid"]["sameSite"] == "Lax"

        tab.reload()
        tab.wait_for_function("window.tagmail && window.tagmail.loaded === true")
        assert tab.evaluate("tagmail.user().anonymousId") == anonymous_id
        store.wait_events(tab, store.anonymous_key(anonymous_id), "page", "Shop", count=2)

        tab.evaluate("tagmail.identify('someone', {}); tagmail.reset()")
        after = tab.evaluate("tagmail.user()")
        assert after["userId"] is None
        assert after["anonymousId"] != anonymous_id
        assert {cookie["name"]: cookie["value"] for cookie in ctx.cookies()} == {"tm_aid": after["anonymousId"]}
    finally:
        ctx.close()
