"""The sandbox's domain, webhook, suppression and events APIs over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from local.mailgun_sandbox import MailgunSandbox

DOMAIN = "mg.shop.test"


def call(sandbox: MailgunSandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, sandbox.url + path, auth=("api", sandbox.api_key), timeout=10, **kwargs)


def send(sandbox: MailgunSandbox, to: str, **fields: Any) -> None:
    data = {"from": "news@mg.shop.test", "to": to, "subject": "Hi", "text": "Hello", **fields}
    assert call(sandbox, "POST", f"/v3/{DOMAIN}/messages", data=data).status_code == 200


# --- Domains -------------------------------------------------------------------------------------


def test_a_created_domain_is_unverified_with_the_records_to_publish(sandbox: MailgunSandbox) -> None:
    response = call(sandbox, "POST", "/v4/domains", data={"name": "mg.new.test", "dkim_selector": "pic"})

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Domain has been created"
    assert body["domain"]["name"] == "mg.new.test"
    assert body["domain"]["state"] == "unverified"
    records = {(r["record_type"], r["name"]): r for r in body["sending_dns_records"]}
    assert records[("TXT", "mg.new.test")]["value"] == "v=spf1 include:mailgun.org ~all"
    assert records[("TXT", "pic._domainkey.mg.new.test")]["value"].startswith("k=rsa; p=MI")
    assert records[("CNAME", "email.mg.new.test")]["value"] == "mailgun.org"
    assert all(r["valid"] == "unknown" and r["cached"] == [] and r["is_active"] is False for r in records.values())
    assert [(r["record_type"], r["value"], r["priority"]) for r in body["receiving_dns_records"]] == [
        ("MX", "mxa.mailgun.org", "10"),
        ("MX", "mxb.mailgun.org", "10"),
    ]


def test_an_existing_domain_cannot_be_created_again(sandbox: MailgunSandbox) -> None:
    response = call(sandbox, "POST", "/v4/domains", data={"name": DOMAIN})

    assert response.status_code == 400
    assert response.json() == {"message": "This domain name is already taken"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Missing mandatory parameter: name"),
        (
            {"name": "mg.x.test", "smtp_password": "abc"},
            "Password is too short. It must be between 5 and 32 characters.",
        ),
    ],
)
def test_a_bad_domain_creation_is_refused(sandbox: MailgunSandbox, data: dict[str, str], message: str) -> None:
    response = call(sandbox, "POST", "/v4/domains", data=data)

    assert response.status_code == 400
    assert response.json() == {"message": message}


def test_get_domain_shows_valid_records_once_active(sandbox: MailgunSandbox) -> None:
    body = call(sandbox, "GET", f"/v4/domains/{DOMAIN}").json()

    assert body["domain"]["state"] == "active"
    spf = body["sending_dns_records"][0]
    assert (spf["valid"], spf["is_active"], spf["cached"]) == ("valid", True, ["v=spf1 include:mailgun.org ~all"])
    assert body["sending_dns_records"][1]["name"] == f"k1._domainkey.{DOMAIN}"


def test_an_unknown_domain_is_404(sandbox: MailgunSandbox) -> None:
    response = call(sandbox, "GET", "/v4/domains/nope.test")

    assert response.status_code == 404
    assert response.json() == {"message": "Domain not found"}


def test_eu_domains_point_at_eu_hosts() -> None:
    with MailgunSandbox(region="eu") as sandbox:
        body = sandbox.add_domain("mg.eu-shop.test")
    values = [r["value"] for r in body["sending_dns_records"] + body["receiving_dns_records"]]
    assert "v=spf1 include:eu.mailgun.org ~all" in values
    assert "eu.mailgun.org" in values
    assert {"mxa.eu.mailgun.org", "mxb.eu.mailgun.org"} <= set(values)


def test_verify_activates_a_domain_while_dns_is_in_place(sandbox: MailgunSandbox) -> None:
    call(sandbox, "POST", "/v4/domains", data={"name": "mg.a.test"})
    call(sandbox, "POST", "/v4/domains", data={"name": "mg.b.test"})

    sandbox.verify_dns = False
    still = call(sandbox, "PUT", "/v4/domains/mg.a.test/verify").json()
    sandbox.verify_dns = True
    verified = call(sandbox, "PUT", "/v4/domains/mg.b.test/verify").json()

    assert still["domain"]["state"] == "unverified"
    assert verified["message"] == "Domain DNS records have been updated"
    assert verified["domain"]["state"] == "active"


def test_domains_are_listed_newest_first_with_a_total(sandbox: MailgunSandbox) -> None:
    call(sandbox, "POST", "/v4/domains", data={"name": "mg.second.test"})

    body = call(sandbox, "GET", "/v4/domains").json()
    unverified = call(sandbox, "GET", "/v4/domains", params={"state": "unverified"}).json()

    assert body["total_count"] == 2
    assert [item["name"] for item in body["items"]] == ["mg.second.test", DOMAIN]
    assert [item["name"] for item in unverified["items"]] == ["mg.second.test"]


# --- Webhooks ------------------------------------------------------------------------------------


def test_webhooks_can_be_created_read_replaced_and_deleted(sandbox: MailgunSandbox) -> None:
    base = f"/v3/domains/{DOMAIN}/webhooks"

    created = call(
        sandbox, "POST", base, data={"id": "delivered", "url": ["https://a.example/h", "https://b.example/h"]}
    )
    assert created.json() == {
        "message": "Webhook has been created",
        "webhook": {"urls": ["https://a.example/h", "https://b.example/h"]},
    }
    assert call(sandbox, "GET", base).json() == {
        "webhooks": {"delivered": {"urls": ["https://a.example/h", "https://b.example/h"]}}
    }
    assert call(sandbox, "GET", f"{base}/delivered").json() == {
        "webhook": {"urls": ["https://a.example/h", "https://b.example/h"]}
    }
    updated = call(sandbox, "PUT", f"{base}/delivered", data={"url": "https://c.example/h"})
    assert updated.json() == {"message": "Webhook has been updated", "webhook": {"urls": ["https://c.example/h"]}}
    deleted = call(sandbox, "DELETE", f"{base}/delivered")
    assert deleted.json() == {"message": "Webhook has been deleted", "webhook": {"urls": ["https://c.example/h"]}}
    assert call(sandbox, "GET", f"{base}/delivered").status_code == 404
    assert call(sandbox, "GET", base).json() == {"webhooks": {}}


@pytest.mark.parametrize(
    ("data", "body"),
    [
        ({"id": "bounced", "url": "https://a.example"}, None),
        (
            {"id": "opened", "url": "ftp://a.example"},
            {"Reason": "ftp://a.example is not a valid url: invalid URL scheme"},
        ),
        ({"id": "opened", "url": [f"https://{n}.example" for n in range(4)]}, None),
        ({"id": "opened"}, {"message": "url parameter is missing"}),
    ],
)
def test_bad_webhooks_are_refused(sandbox: MailgunSandbox, data: dict[str, Any], body: Any) -> None:
    response = call(sandbox, "POST", f"/v3/domains/{DOMAIN}/webhooks", data=data)

    assert response.status_code == 400
    if body is not None:
        assert response.json() == body
    assert call(sandbox, "GET", f"/v3/domains/{DOMAIN}/webhooks").json() == {"webhooks": {}}


def test_a_webhook_type_is_created_once(sandbox: MailgunSandbox) -> None:
    data = {"id": "opened", "url": "https://a.example"}
    call(sandbox, "POST", f"/v3/domains/{DOMAIN}/webhooks", data=data)

    response = call(sandbox, "POST", f"/v3/domains/{DOMAIN}/webhooks", data=data)

    assert response.status_code == 400


def test_webhooks_of_an_unknown_domain_are_404(sandbox: MailgunSandbox) -> None:
    response = call(sandbox, "GET", "/v3/domains/nope.test/webhooks")

    assert response.status_code == 404
    assert response.json() == {"message": "Domain not found"}


def test_v4_webhooks_tie_one_url_to_several_types(sandbox: MailgunSandbox) -> None:
    base = f"/v4/domains/{DOMAIN}/webhooks"
    url = "https://hooks.example/mailgun"

    created = call(sandbox, "POST", base, data={"url": url, "event_types": ["delivered", "opened"]})
    duplicate = call(sandbox, "POST", base, data={"url": url, "event_types": "opened"})
    moved = call(sandbox, "PUT", base, data={"url": url, "event_types": "clicked"})
    removed = call(sandbox, "DELETE", base, params={"url": url})

    assert created.json() == {"webhooks": {"delivered": {"urls": [url]}, "opened": {"urls": [url]}}}
    assert duplicate.status_code == 400
    assert duplicate.json() == {"Reason": f"Webhook for event type 'opened' with URL '{url}' already exists"}
    assert moved.json() == {"webhooks": {"clicked": {"urls": [url]}}}
    assert removed.json() == {"webhooks": {}}


# --- Suppressions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "item_keys", "missing"),
    [
        ("bounces", {"address", "code", "error", "created_at"}, "Address not found in bounces table"),
        ("unsubscribes", {"address", "tags", "created_at"}, "Address not found in unsubscribers table"),
        ("complaints", {"address", "created_at"}, "No spam complaints found for this address"),
    ],
)
def test_a_suppression_can_be_added_read_and_removed(
    sandbox: MailgunSandbox, kind: str, item_keys: set[str], missing: str
) -> None:
    base = f"/v3/{DOMAIN}/{kind}"

    added = call(sandbox, "POST", base, data={"address": "alice@example.com"})
    found = call(sandbox, "GET", f"{base}/alice@example.com")
    deleted = call(sandbox, "DELETE", f"{base}/alice@example.com")
    absent = call(sandbox, "GET", f"{base}/alice@example.com")

    assert added.json() == {"message": f"Address has been added to the {kind} table", "address": "alice@example.com"}
    assert set(found.json()) == item_keys
    assert deleted.status_code == 200
    assert deleted.json()["address"] == "alice@example.com"
    assert absent.status_code == 404
    assert absent.json() == {"message": missing}
    assert call(sandbox, "DELETE", f"{base}/alice@example.com").status_code == 404


def test_bounces_default_to_code_550_and_unsubscribes_to_every_tag(sandbox: MailgunSandbox) -> None:
    call(sandbox, "POST", f"/v3/{DOMAIN}/bounces", data={"address": "a@example.com"})
    call(sandbox, "POST", f"/v3/{DOMAIN}/unsubscribes", data={"address": "b@example.com"})

    assert call(sandbox, "GET", f"/v3/{DOMAIN}/bounces/a@example.com").json()["code"] == "550"
    assert call(sandbox, "GET", f"/v3/{DOMAIN}/unsubscribes/b@example.com").json()["tags"] == ["*"]


def test_a_json_batch_adds_many_and_more_than_1000_is_refused(sandbox: MailgunSandbox) -> None:
    batch = [{"address": f"user{n}@example.com", "error": "gone"} for n in range(4)]
    too_many = [{"address": f"user{n}@example.com"} for n in range(1001)]

    added = call(sandbox, "POST", f"/v3/{DOMAIN}/bounces", json=batch)
    refused = call(sandbox, "POST", f"/v3/{DOMAIN}/bounces", json=too_many)

    assert added.json() == {"message": "4 addresses have been added to the bounces table"}
    assert refused.status_code == 400
    assert refused.json() == {"message": "Batch size should be less than 1000"}
    assert len(call(sandbox, "GET", f"/v3/{DOMAIN}/bounces").json()["items"]) == 4


def test_suppressions_page_alphabetically_with_address_cursors(sandbox: MailgunSandbox) -> None:
    addresses = [f"{letter}@example.com" for letter in "edcbagf"]
    call(sandbox, "POST", f"/v3/{DOMAIN}/complaints", json=[{"address": a} for a in addresses])

    first = call(sandbox, "GET", f"/v3/{DOMAIN}/complaints", params={"limit": 3}).json()
    second = requests.get(first["paging"]["next"], auth=("api", sandbox.api_key), timeout=10).json()
    third = requests.get(second["paging"]["next"], auth=("api", sandbox.api_key), timeout=10).json()
    back = requests.get(third["paging"]["previous"], auth=("api", sandbox.api_key), timeout=10).json()
    last = requests.get(first["paging"]["last"], auth=("api", sandbox.api_key), timeout=10).json()
    after_end = requests.get(third["paging"]["next"], auth=("api", sandbox.api_key), timeout=10).json()

    def names(page: dict[str, Any]) -> list[str]:
        return [item["address"][0] for item in page["items"]]

    assert (names(first), names(second), names(third)) == (["a", "b", "c"], ["d", "e", "f"], ["g"])
    assert names(back) == ["d", "e", "f"]
    assert names(last) == ["e", "f", "g"]
    assert after_end["items"] == []
    assert set(first["paging"]) == {"first", "next", "previous", "last"}


def test_suppressions_filter_by_term(sandbox: MailgunSandbox) -> None:
    call(sandbox, "POST", f"/v3/{DOMAIN}/bounces", json=[{"address": "ann@x.example"}, {"address": "bob@x.example"}])

    page = call(sandbox, "GET", f"/v3/{DOMAIN}/bounces", params={"term": "an"}).json()

    assert [item["address"] for item in page["items"]] == ["ann@x.example"]


def test_a_tag_can_be_removed_from_an_unsubscribe(sandbox: MailgunSandbox) -> None:
    base = f"/v3/{DOMAIN}/unsubscribes"
    call(sandbox, "POST", base, data={"address": "a@example.com", "tag": "news"})
    call(sandbox, "POST", base, data={"address": "a@example.com", "tag": "sale"})

    call(sandbox, "DELETE", f"{base}/a@example.com", params={"tag": "news"})

    assert call(sandbox, "GET", f"{base}/a@example.com").json()["tags"] == ["sale"]


def test_a_list_can_be_cleared(sandbox: MailgunSandbox) -> None:
    call(sandbox, "POST", f"/v3/{DOMAIN}/bounces", data={"address": "a@example.com"})

    response = call(sandbox, "DELETE", f"/v3/{DOMAIN}/bounces")

    assert response.json() == {"message": "Bounced addresses for this domain have been removed"}
    assert call(sandbox, "GET", f"/v3/{DOMAIN}/bounces").json()["items"] == []


# --- Events --------------------------------------------------------------------------------------


def test_events_filter_by_event_and_recipient(sandbox: MailgunSandbox) -> None:
    send(sandbox, "alice@example.com")
    send(sandbox, "bounce+bob@example.com")

    failed = call(sandbox, "GET", f"/v3/{DOMAIN}/events", params={"event": "failed"}).json()
    alice = call(sandbox, "GET", f"/v3/{DOMAIN}/events", params={"recipient": "alice@example.com"}).json()
    either = call(sandbox, "GET", f"/v3/{DOMAIN}/events", params={"event": "failed OR delivered"}).json()

    assert [(e["event"], e["recipient"]) for e in failed["items"]] == [("failed", "bounce+bob@example.com")]
    assert {e["event"] for e in alice["items"]} == {"accepted", "delivered"}
    assert sorted(e["event"] for e in either["items"]) == ["delivered", "failed"]


def test_events_come_newest_first_unless_ascending(sandbox: MailgunSandbox) -> None:
    send(sandbox, "alice@example.com")

    default = call(sandbox, "GET", f"/v3/{DOMAIN}/events").json()["items"]
    ascending = call(sandbox, "GET", f"/v3/{DOMAIN}/events", params={"ascending": "yes"}).json()["items"]

    assert [e["event"] for e in default] == ["delivered", "accepted"]
    assert [e["event"] for e in ascending] == ["accepted", "delivered"]


def test_events_filter_by_time_range(sandbox: MailgunSandbox) -> None:
    send(sandbox, "alice@example.com")
    cut = sandbox.events(DOMAIN)[-1]["timestamp"]
    send(sandbox, "bob@example.com")

    before = call(sandbox, "GET", f"/v3/{DOMAIN}/events", params={"end": str(cut), "ascending": "yes"}).json()
    after = call(sandbox, "GET", f"/v3/{DOMAIN}/events", params={"begin": str(cut + 0.0000005)}).json()

    assert {e["recipient"] for e in before["items"]} == {"alice@example.com"}
    assert {e["recipient"] for e in after["items"]} == {"bob@example.com"}


def test_events_page_through_next_until_empty(sandbox: MailgunSandbox) -> None:
    for n in range(3):
        send(sandbox, f"user{n}@example.com")  # six events

    seen: list[str] = []
    page = call(sandbox, "GET", f"/v3/{DOMAIN}/events", params={"limit": 4, "ascending": "yes"}).json()
    while page["items"]:
        seen.extend(e["id"] for e in page["items"])
        page = requests.get(page["paging"]["next"], auth=("api", sandbox.api_key), timeout=10).json()

    assert len(seen) == len(set(seen)) == 6
    assert seen == [e["id"] for e in sandbox.events(DOMAIN)]


def test_an_events_limit_over_300_is_refused(sandbox: MailgunSandbox) -> None:
    assert call(sandbox, "GET", f"/v3/{DOMAIN}/events", params={"limit": 301}).status_code == 400


def test_stored_messages_are_served_by_storage_url(sandbox: MailgunSandbox) -> None:
    send(sandbox, "alice@example.com")
    storage = sandbox.events(DOMAIN)[0]["storage"]

    stored = requests.get(storage["url"], auth=("api", sandbox.api_key), timeout=10).json()

    assert stored["subject"] == "Hi"
    assert stored["body-plain"].strip() == "Hello"
    assert stored["recipients"] == "alice@example.com"


# --- Sandbox inspection --------------------------------------------------------------------------


def test_sandbox_messages_list_what_was_accepted_newest_first(sandbox: MailgunSandbox) -> None:
    send(sandbox, "alice@example.com", **{"o:tag": "welcome", "v:user": "u1", "h:Reply-To": "help@shop.example"})
    send(sandbox, "bob@example.com")

    listed = requests.get(f"{sandbox.url}/sandbox/messages", timeout=10).json()
    one = requests.get(f"{sandbox.url}/sandbox/messages/{listed[1]['id']}", timeout=10).json()

    assert [m["to"] for m in listed] == [["bob@example.com"], ["alice@example.com"]]
    expected = {
        "id",
        "from",
        "to",
        "subject",
        "headers",
        "html",
        "text",
        "tags",
        "user_variables",
        "options",
        "timestamp",
    }
    assert expected <= set(listed[0])
    assert "raw_mime" not in listed[0]
    assert one["tags"] == ["welcome"]
    assert one["user_variables"] == {"user": "u1"}
    assert one["headers"]["Reply-To"] == "help@shop.example"
    assert "raw_mime" in one
    assert requests.get(f"{sandbox.url}/sandbox/messages/nope", timeout=10).status_code == 404


def test_the_sandbox_page_shows_message_html_escaped_in_a_sandboxed_frame(sandbox: MailgunSandbox) -> None:
    html = '<p onclick="x()">Hi & "welcome"</p><script>alert(1)</script>'
    send(sandbox, "alice@example.com", html=html, subject="<b>Sale</b>")

    response = requests.get(f"{sandbox.url}/sandbox/", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    page = response.text
    assert '<iframe sandbox=""' in page
    assert 'srcdoc="&lt;p onclick=&quot;x()&quot;&gt;Hi &amp; &quot;welcome&quot;' in page
    assert "<script>" not in page
    assert "&lt;b&gt;Sale&lt;/b&gt;" in page
    assert "Hello" in page  # the text part


def test_reset_forgets_messages_and_events_but_keeps_domains(sandbox: MailgunSandbox) -> None:
    send(sandbox, "alice@example.com")

    assert requests.post(f"{sandbox.url}/sandbox/reset", timeout=10).status_code == 200

    assert sandbox.messages() == []
    assert sandbox.events() == []
    assert call(sandbox, "GET", f"/v4/domains/{DOMAIN}").status_code == 200
    send(sandbox, "alice@example.com")


def test_stop_leaves_nothing_listening() -> None:
    sandbox = MailgunSandbox(port=0).start()
    url = sandbox.url

    sandbox.stop()

    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/sandbox/messages", timeout=2)


def test_json_payloads_are_json(sandbox: MailgunSandbox) -> None:
    response = call(sandbox, "GET", f"/v3/{DOMAIN}/bounces")

    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.text) == {"items": [], "paging": response.json()["paging"]}
