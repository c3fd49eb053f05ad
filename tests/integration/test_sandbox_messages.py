"""The sandbox's send API over real HTTP: validation, auth, limits, batch sending, MIME, outcomes."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pytest
import requests

from local.mailgun_sandbox import MailgunSandbox

DOMAIN = "mg.shop.test"
SENDER = "Shop <news@mg.shop.test>"


def send(
    sandbox: MailgunSandbox,
    data: Any = None,
    *,
    files: Any = None,
    domain: str = DOMAIN,
    auth: tuple[str, str] | None = None,
    path: str = "messages",
    **kwargs: Any,
) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/v3/{domain}/{path}",
        data=data,
        files=files,
        auth=auth or ("api", sandbox.api_key),
        timeout=30,
        **kwargs,
    )


def message(**fields: Any) -> dict[str, Any]:
    return {"from": SENDER, "to": "alice@example.com", "subject": "Hello", "text": "Hi", **fields}


def without(name: str) -> dict[str, Any]:
    fields = message()
    del fields[name]
    return fields


def events_of(sandbox: MailgunSandbox, recipient: str | None = None) -> list[str]:
    return [e["event"] for e in sandbox.events(DOMAIN) if recipient is None or e["recipient"] == recipient]


# --- Acceptance ------------------------------------------------------------------------------------


def test_an_accepted_message_gets_an_id_in_angle_brackets_and_events_carry_it_bare(sandbox: MailgunSandbox) -> None:
    response = send(sandbox, message())

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Queued. Thank you."
    assert body["id"].startswith("<")
    assert body["id"].endswith(f"@{DOMAIN}>")
    bare = body["id"][1:-1]
    assert [e["message"]["headers"]["message-id"] for e in sandbox.events(DOMAIN)] == [bare, bare]
    assert events_of(sandbox) == ["accepted", "delivered"]
    assert sandbox.messages()[0]["id"] == bare


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (without("from"), "from parameter is missing"),
        (without("to"), "to parameter is missing"),
        (
            {"from": SENDER, "to": "alice@example.com", "subject": "Hello"},
            "Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified",
        ),
        (message(html="<p>x</p>", template="welcome"), "Only one parameters 'html' or 'template' is allowed"),
        (message(to="not-an-address"), "to parameter is not a valid address. please check documentation"),
        (message(to="alice@example.com, bob@"), "to parameter is not a valid address. please check documentation"),
        (message(**{"from": "Shop <news@>"}), "from parameter is not a valid address. please check documentation"),
        (message(cc="carol at example.com"), "cc parameter is not a valid address. please check documentation"),
        (message(bcc="dave@example"), "bcc parameter is not a valid address. please check documentation"),
        (message(**{"recipient-variables": "{not json"}), "'recipient-variables' parameter is not a valid JSON"),
        (message(**{"recipient-variables": '["a"]'}), "'recipient-variables' parameter is not a valid JSON"),
        (
            message(**{"v:blob": "x" * (16 * 1024)}),
            "Send options (parameters starting with o:, h:, or v:) are limited to 16 kB total",
        ),
        (message(**{"o:deliverytime": "next tuesday"}), "next tuesday is not an RFC-2822 compliant date"),
        (message(**{"h:X-Caf\u00e9": "1"}), "Header name must be pure ASCII: X-Caf\u00e9"),
    ],
    ids=lambda value: str(value)[:40] if isinstance(value, str) else None,
)
def test_a_bad_send_gets_mailguns_400_message(
    sandbox: MailgunSandbox, fields: dict[str, Any], expected: str, encoding: str
) -> None:
    if encoding == "multipart":
        response = send(sandbox, files=[(name, (None, value)) for name, value in fields.items()])
    else:
        response = send(sandbox, fields)

    assert response.status_code == 400
    assert response.json() == {"message": expected}
    assert sandbox.messages() == []
    assert sandbox.events() == []


def test_more_than_1000_recipients_are_refused(sandbox: MailgunSandbox) -> None:
    to = [f"user{n}@example.com" for n in range(600)]
    cc = [f"copy{n}@example.com" for n in range(401)]

    response = send(sandbox, message(to=to, cc=cc))

    assert response.status_code == 400
    assert response.json() == {"message": "Too many recipients, max is 1000"}


def test_exactly_1000_recipients_with_duplicates_are_accepted(sandbox: MailgunSandbox) -> None:
    to = [f"user{n}@example.com" for n in range(1000)] + ["USER0@example.com"]

    response = send(sandbox, message(to=to))

    assert response.status_code == 200
    assert len(sandbox.messages()[0]["recipients"]) == 1000


def test_a_delivery_time_more_than_three_days_ahead_is_refused(sandbox: MailgunSandbox) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(days=3, hours=1))

    response = send(sandbox, message(**{"o:deliverytime": when}))

    assert response.status_code == 400
    assert response.json()["message"].startswith("invalid delivery time format")


def test_an_unknown_option_value_is_refused(sandbox: MailgunSandbox) -> None:
    response = send(sandbox, message(**{"o:tracking-clicks": "sometimes"}))

    assert response.status_code == 400
    assert "o:tracking-clicks" in response.json()["message"]


@pytest.mark.parametrize("value", ["yes", "no", "true", "false", "htmlonly", "HTMLONLY"])
def test_click_tracking_takes_htmlonly_and_the_yes_no_forms(sandbox: MailgunSandbox, value: str) -> None:
    assert send(sandbox, message(**{"o:tracking-clicks": value})).status_code == 200


# --- Auth, unknown domains, size ----------------------------------------------------------------


@pytest.mark.parametrize("auth", [("api", "key-wrong"), ("user", "KEY"), None])
def test_a_bad_key_on_messages_gets_the_bare_body_forbidden(sandbox: MailgunSandbox, auth: Any) -> None:
    if auth == ("user", "KEY"):
        auth = ("user", sandbox.api_key)
    response = requests.post(f"{sandbox.url}/v3/{DOMAIN}/messages", data=message(), auth=auth, timeout=10)

    assert response.status_code == 401
    assert response.text == "Forbidden"
    assert sandbox.messages() == []


def test_a_bad_key_on_messages_mime_gets_forbidden_too(sandbox: MailgunSandbox) -> None:
    response = send(sandbox, files={"to": (None, "a@example.com")}, path="messages.mime", auth=("api", "nope"))

    assert response.status_code == 401
    assert response.text == "Forbidden"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v4/domains"),
        ("GET", f"/v4/domains/{DOMAIN}"),
        ("GET", f"/v3/domains/{DOMAIN}/webhooks"),
        ("POST", f"/v3/domains/{DOMAIN}/webhooks"),
        ("GET", f"/v3/{DOMAIN}/bounces"),
        ("GET", f"/v3/{DOMAIN}/events"),
    ],
)
def test_a_bad_key_elsewhere_gets_invalid_private_key(sandbox: MailgunSandbox, method: str, path: str) -> None:
    response = requests.request(method, sandbox.url + path, auth=("api", "key-wrong"), timeout=10)

    assert response.status_code == 401
    assert response.json() == {"message": "Invalid private key"}


def test_an_unknown_domain_gets_404_domain_not_found(sandbox: MailgunSandbox) -> None:
    response = send(sandbox, message(), domain="nope.test")

    assert response.status_code == 404
    assert response.json() == {"message": "Domain not found: nope.test"}


def test_an_unverified_domain_may_not_send_until_verified(sandbox: MailgunSandbox) -> None:
    auth = ("api", sandbox.api_key)
    created = requests.post(f"{sandbox.url}/v4/domains", data={"name": "mg.new.test"}, auth=auth, timeout=10)
    assert created.json()["domain"]["state"] == "unverified"

    refused = send(sandbox, message(), domain="mg.new.test")
    assert refused.status_code == 400
    assert refused.json() == {
        "message": "Domain mg.new.test is not allowed to send: The domain is unverified and requires DNS configuration"
    }

    assert requests.post(f"{sandbox.url}/sandbox/domains/mg.new.test/verify", timeout=10).status_code == 200
    assert send(sandbox, message(), domain="mg.new.test").status_code == 200


def test_a_body_over_52_4_mib_gets_413(sandbox: MailgunSandbox) -> None:
    blob = b"x" * (int(52.4 * 1024 * 1024) + 1024)

    response = send(sandbox, message(), files={"attachment": ("big.bin", blob, "application/octet-stream")})

    assert response.status_code == 413
    assert response.json() == {"message": "request size exceeds 52.4MiB limit"}
    assert sandbox.messages() == []


def test_a_gzip_body_is_accepted(sandbox: MailgunSandbox) -> None:
    body = requests.models.RequestEncodingMixin._encode_params(message())  # type: ignore[attr-defined]

    response = send(
        sandbox,
        gzip.compress(body.encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 200
    assert sandbox.messages()[0]["subject"] == "Hello"


def test_a_json_body_is_not_a_send_form(sandbox: MailgunSandbox) -> None:
    response = send(sandbox, json.dumps(message()), headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid request content type")


def test_a_broken_multipart_body_is_malformed(sandbox: MailgunSandbox) -> None:
    response = send(sandbox, b"--nope\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=abc"})

    assert response.status_code == 400
    assert response.json() == {"message": "malformed multipart/form-data request"}


# --- Batch sending ---------------------------------------------------------------------------------


def test_recipient_variables_give_each_recipient_their_own_substituted_copy(sandbox: MailgunSandbox) -> None:
    variables = {"alice@example.com": {"name": "Alice", "code": "A1"}, "bob@example.com": {"name": "Bob", "code": "B2"}}

    response = send(
        sandbox,
        {
            "from": SENDER,
            "to": ["Alice Smith <alice@example.com>", "bob@example.com"],
            "subject": "Hello %recipient.name%",
            "text": "Your code: %recipient.code% (%recipient_email%)",
            "html": "<p>Hi %recipient.name%</p>",
            "v:code": "%recipient.code%",
            "recipient-variables": json.dumps(variables),
        },
    )

    assert response.status_code == 200
    copies = sandbox.messages()
    assert [copy["to"] for copy in copies] == [["Alice Smith <alice@example.com>"], ["bob@example.com"]]
    assert [copy["subject"] for copy in copies] == ["Hello Alice", "Hello Bob"]
    assert copies[0]["text"] == "Your code: A1 (alice@example.com)"
    assert copies[1]["html"] == "<p>Hi Bob</p>"
    assert [copy["user_variables"] for copy in copies] == [{"code": "A1"}, {"code": "B2"}]
    parsed = email.message_from_string(copies[1]["raw_mime"], policy=email.policy.default)
    assert parsed["To"] == "bob@example.com"
    assert "alice" not in copies[1]["raw_mime"].lower()
    assert len({copy["id"] for copy in copies}) == 1  # one send, one message id
    accepted = [e for e in sandbox.events(DOMAIN) if e["event"] == "accepted"]
    assert sorted(e["recipient"] for e in accepted) == ["alice@example.com", "bob@example.com"]
    assert {e["user-variables"]["code"] for e in sandbox.events(DOMAIN) if e["event"] == "delivered"} == {"A1", "B2"}


def test_without_recipient_variables_all_recipients_share_one_message(sandbox: MailgunSandbox) -> None:
    response = send(
        sandbox,
        message(to=["alice@example.com", "bob@example.com"], cc="carol@example.com", bcc="dave@example.com"),
    )

    assert response.status_code == 200
    [shared] = sandbox.messages()
    assert shared["to"] == ["alice@example.com", "bob@example.com"]
    assert shared["recipients"] == ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"]
    parsed = email.message_from_string(shared["raw_mime"], policy=email.policy.default)
    assert parsed["To"] == "alice@example.com, bob@example.com"
    assert parsed["Cc"] == "carol@example.com"
    assert parsed["Bcc"] is None
    assert sorted(e["recipient"] for e in sandbox.events(DOMAIN) if e["event"] == "delivered") == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
    ]


# --- What is stored ------------------------------------------------------------------------------


def test_the_stored_message_is_the_mime_mailgun_would_build(sandbox: MailgunSandbox) -> None:
    response = send(
        sandbox,
        files=[
            ("from", (None, SENDER)),
            ("to", (None, "alice@example.com")),
            ("subject", (None, "Caf\u00e9 news")),
            ("text", (None, "Plain words")),
            ("html", (None, "<p>Rich <b>words</b></p>")),
            ("h:Reply-To", (None, "help@shop.example")),
            ("h:List-Unsubscribe", (None, "<https://shop.example/u/abc>")),
            ("h:List-Unsubscribe-Post", (None, "List-Unsubscribe=One-Click")),
            ("v:campaign", (None, "spring")),
            ("o:tag", (None, "newsletter")),
            ("o:tracking-opens", (None, "no")),
            ("attachment", ("terms.pdf", b"%PDF-1.4 fake", "application/pdf")),
        ],
    )

    assert response.status_code == 200
    [stored] = sandbox.messages()
    assert stored["headers"]["Reply-To"] == "help@shop.example"
    assert stored["headers"]["List-Unsubscribe"] == "<https://shop.example/u/abc>"
    assert stored["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert stored["tags"] == ["newsletter"]
    assert stored["options"] == {"o:tracking-opens": "no"}
    assert stored["user_variables"] == {"campaign": "spring"}
    parsed = email.message_from_string(stored["raw_mime"], policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/mixed"
    body, attachment = parsed.get_payload()  # type: ignore[misc]
    assert body.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in body.get_payload()] == ["text/plain", "text/html"]
    assert attachment.get_filename() == "terms.pdf"
    assert attachment.get_payload(decode=True) == b"%PDF-1.4 fake"
    assert parsed["Subject"] == "Caf\u00e9 news"
    assert parsed["Message-Id"] == response.json()["id"]
    assert json.loads(parsed["X-Mailgun-Variables"]) == {"campaign": "spring"}
    assert stored["attachments"] == [{"filename": "terms.pdf", "content-type": "application/pdf", "size": 13}]


def test_a_text_only_message_is_a_single_text_part(sandbox: MailgunSandbox) -> None:
    send(sandbox, message())

    parsed = email.message_from_string(sandbox.messages()[0]["raw_mime"], policy=email.policy.default)
    assert parsed.get_content_type() == "text/plain"


def test_tags_beyond_ten_are_dropped_and_non_ascii_is_stripped(sandbox: MailgunSandbox) -> None:
    tags = ["caf\u00e9", *[f"t{n}" for n in range(11)]]

    response = send(sandbox, message(**{"o:tag": tags}))

    assert response.status_code == 200
    assert sandbox.messages()[0]["tags"] == ["caf", *[f"t{n}" for n in range(9)]]
    assert sandbox.events(DOMAIN)[0]["tags"] == ["caf", *[f"t{n}" for n in range(9)]]


def test_user_variables_over_4_kb_are_truncated_in_events_only(sandbox: MailgunSandbox) -> None:
    send(sandbox, message(**{"v:long": "y" * 5000, "v:short": "ok"}))

    assert len(sandbox.messages()[0]["user_variables"]["long"]) == 5000
    event = sandbox.events(DOMAIN)[0]
    assert event["user-variables"] == {"long": "y" * 4096, "short": "ok"}


def test_test_mode_is_delivered_with_code_650(sandbox: MailgunSandbox) -> None:
    send(sandbox, message(to="click+x@example.com", **{"o:testmode": "yes"}))

    delivered = [e for e in sandbox.events(DOMAIN) if e["event"] == "delivered"]
    assert [e["delivery-status"]["code"] for e in delivered] == [650]
    assert delivered[0]["flags"]["is-test-mode"] is True
    assert events_of(sandbox) == ["accepted", "delivered"]


def test_a_scheduled_message_waits_for_its_delivery_time(sandbox: MailgunSandbox) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(hours=2))

    assert send(sandbox, message(**{"o:deliverytime": when})).status_code == 200

    [accepted] = sandbox.events(DOMAIN)
    assert accepted["event"] == "accepted"
    assert "scheduled-for" in accepted["message"]
    assert sandbox.messages()[0]["scheduled_for"] is not None
    assert sandbox.deliver_scheduled_now() == 1
    sandbox.flush_webhooks(5)
    for _ in range(200):  # the scheduler thread delivers it; wait without a time limit of its own
        if "delivered" in events_of(sandbox):
            break
        sandbox.stopping.wait(0.01)
    assert events_of(sandbox) == ["accepted", "delivered"]


def test_messages_mime_stores_the_given_mime(sandbox: MailgunSandbox) -> None:
    mime = EmailMessage()
    mime["From"] = SENDER
    mime["To"] = "alice@example.com"
    mime["Subject"] = "Raw"
    mime["Message-Id"] = "<raw-1@mg.shop.test>"
    mime.set_content("plain")
    mime.add_alternative("<p>html</p>", subtype="html")

    response = send(
        sandbox,
        files=[
            ("to", (None, "alice@example.com")),
            ("to", (None, "bob@example.com")),
            ("h:X-Campaign", (None, "c1")),
            ("message", ("message.mime", mime.as_bytes(), "message/rfc822")),
        ],
        path="messages.mime",
    )

    assert response.status_code == 200
    assert response.json() == {"id": "<raw-1@mg.shop.test>", "message": "Queued. Thank you."}
    [stored] = sandbox.messages()
    assert stored["recipients"] == ["alice@example.com", "bob@example.com"]
    assert stored["subject"] == "Raw"
    assert stored["html"] == "<p>html</p>\n"
    assert stored["headers"]["X-Campaign"] == "c1"
    assert events_of(sandbox).count("delivered") == 2


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ([("to", (None, "alice@example.com"))], "message parameter is missing"),
        ([("to", (None, "alice@example.com")), ("message", (None, "From: x"))], "'message' parameter is not a file"),
        ([("message", ("m.eml", b"From: a@b.test\r\n\r\nx", "message/rfc822"))], "to parameter is missing"),
    ],
)
def test_messages_mime_needs_to_and_a_message_file(sandbox: MailgunSandbox, files: Any, expected: str) -> None:
    response = send(sandbox, files=files, path="messages.mime")

    assert response.status_code == 400
    assert response.json() == {"message": expected}


# --- Outcomes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipient", "expected"),
    [
        ("alice@example.com", ["accepted", "delivered"]),
        ("bounce+1@example.com", ["accepted", "failed"]),
        ("soft+1@example.com", ["accepted", "failed", "delivered"]),
        ("tempfail+1@example.com", ["accepted", "failed", "failed"]),
        ("complain+1@example.com", ["accepted", "delivered", "complained"]),
        ("open+1@example.com", ["accepted", "delivered", "opened"]),
        ("click+1@example.com", ["accepted", "delivered", "opened", "clicked"]),
        ("unsub+1@example.com", ["accepted", "delivered", "unsubscribed"]),
    ],
)
def test_the_recipients_local_part_scripts_the_events(
    sandbox: MailgunSandbox, recipient: str, expected: list[str]
) -> None:
    html = '<p><a href="https://shop.example/sale?a=1&amp;b=2">Sale</a> <a href="https://x.example">x</a></p>'

    assert send(sandbox, message(to=recipient, html=html)).status_code == 200

    events = sandbox.events(DOMAIN)
    assert [e["event"] for e in events] == expected
    assert all(e["recipient"] == recipient and e["recipient-domain"] == "example.com" for e in events)
    if recipient.startswith("click+"):
        assert events[-1]["url"] == "https://shop.example/sale?a=1&b=2"


def test_a_hard_bounce_is_permanent_550_and_suppresses_the_address(sandbox: MailgunSandbox) -> None:
    send(sandbox, message(to="bounce+x@example.com"))

    failed = sandbox.events(DOMAIN, "failed")[0]
    assert failed["severity"] == "permanent"
    assert failed["reason"] == "bounce"
    assert failed["log-level"] == "error"
    assert failed["delivery-status"]["code"] == 550
    assert failed["delivery-status"]["enhanced-code"] == "5.1.1"
    bounce = requests.get(
        f"{sandbox.url}/v3/{DOMAIN}/bounces/bounce+x@example.com", auth=("api", sandbox.api_key), timeout=10
    )
    assert bounce.status_code == 200
    assert bounce.json()["code"] == "550"


def test_a_soft_bounce_is_temporary_452_and_does_not_suppress(sandbox: MailgunSandbox) -> None:
    send(sandbox, message(to="soft+x@example.com"))

    failed, delivered = sandbox.events(DOMAIN)[1:]
    assert (failed["severity"], failed["delivery-status"]["code"], failed["log-level"]) == ("temporary", 452, "warn")
    assert delivered["delivery-status"]["attempt-no"] == 2
    assert sandbox.suppress  # the address is on no list:
    for kind in ("bounces", "unsubscribes", "complaints"):
        response = requests.get(
            f"{sandbox.url}/v3/{DOMAIN}/{kind}/soft+x@example.com", auth=("api", sandbox.api_key), timeout=10
        )
        assert response.status_code == 404


def test_click_tracking_off_means_no_clicked_event(sandbox: MailgunSandbox) -> None:
    html = '<a href="https://shop.example">go</a>'
    send(sandbox, message(to="click+x@example.com", html=html, **{"o:tracking-clicks": "no"}))
    send(sandbox, message(to="click+y@example.com", html=html, **{"o:tracking": "no"}))

    assert events_of(sandbox, "click+x@example.com") == ["accepted", "delivered", "opened"]
    assert events_of(sandbox, "click+y@example.com") == ["accepted", "delivered"]


@pytest.mark.parametrize(
    ("kind", "reason", "code", "text"),
    [
        ("bounces", "suppress-bounce", 605, "Not delivering to previously bounced address"),
        ("unsubscribes", "suppress-unsubscribe", 606, "Not delivering to unsubscribed address"),
        ("complaints", "suppress-complaint", 607, "Not delivering to a user who marked your messages as spam"),
    ],
)
def test_a_suppressed_recipient_is_accepted_then_dropped(
    sandbox: MailgunSandbox, kind: str, reason: str, code: int, text: str
) -> None:
    added = requests.post(
        f"{sandbox.url}/v3/{DOMAIN}/{kind}",
        data={"address": "gone@example.com"},
        auth=("api", sandbox.api_key),
        timeout=10,
    )
    assert added.status_code == 200

    response = send(sandbox, message(to=["gone@example.com", "fine@example.com"]))

    assert response.status_code == 200
    assert events_of(sandbox, "gone@example.com") == ["accepted", "failed"]
    assert events_of(sandbox, "fine@example.com") == ["accepted", "delivered"]
    failed = sandbox.events(DOMAIN, "failed")[0]
    assert failed["severity"] == "permanent"
    assert failed["reason"] == reason
    assert failed["delivery-status"]["code"] == code
    assert failed["delivery-status"]["message"] == text


def test_a_tag_scoped_unsubscribe_blocks_only_mail_with_that_tag(sandbox: MailgunSandbox) -> None:
    sandbox.suppress(DOMAIN, "unsubscribes", "reader@example.com", tag="newsletter")

    send(sandbox, message(to="reader@example.com", **{"o:tag": "newsletter"}))
    send(sandbox, message(to="reader@example.com", **{"o:tag": "receipt"}))

    assert [e["event"] for e in sandbox.events(DOMAIN) if e["event"] != "accepted"] == ["failed", "delivered"]


def test_the_unsubscribe_url_variable_unsubscribes_the_recipient(sandbox: MailgunSandbox) -> None:
    send(sandbox, message(to="reader@example.com", text="Leave: %unsubscribe_url%"))
    url = sandbox.messages()[0]["text"].removeprefix("Leave: ")
    assert url.startswith(f"{sandbox.url}/sandbox/unsubscribe/")

    assert requests.post(url, data="List-Unsubscribe=One-Click", timeout=10).status_code == 200

    assert events_of(sandbox, "reader@example.com")[-1] == "unsubscribed"
    assert sandbox.suppress  # and the address is now dropped:
    send(sandbox, message(to="reader@example.com"))
    assert sandbox.events(DOMAIN, "failed")[-1]["reason"] == "suppress-unsubscribe"
