"""The Mailgun sandbox's rules without a server: validation, MIME, scenarios, suppressions, signing."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from local.mailgun_sandbox.domains import Domain
from local.mailgun_sandbox.errors import ApiError
from local.mailgun_sandbox.events import query_events
from local.mailgun_sandbox.forms import Form, Upload, parse_form
from local.mailgun_sandbox.messages import build_copies, substitute
from local.mailgun_sandbox.scenarios import Outcome, first_link, outcome_for, steps
from local.mailgun_sandbox.suppressions import SuppressionTables
from local.mailgun_sandbox.validation import clean_tags, parse_addresses, valid_email, validate_send
from local.mailgun_sandbox.webhooks import RETRY_SCHEDULE_SECONDS, check_url, sign, signature_block

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def form(**fields: str | list[str]) -> Form:
    pairs: list[tuple[str, str | Upload]] = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name.replace("_", "-").replace("--", ":"), item))
    return Form(pairs)


def base(**fields: str | list[str]) -> Form:
    return form(
        **{"from": "Shop <news@mg.shop.test>", "to": "alice@example.com", "subject": "Hi", "text": "x", **fields}
    )


# --- Addresses and tags ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["a@example.com", "first.last+tag@sub.example.co.jp", '"odd name"@example.com', "x@xn--bcher-kva.example"],
)
def test_valid_addresses(address: str) -> None:
    assert valid_email(address)


@pytest.mark.parametrize(
    "address", ["", "plain", "@example.com", "a@", "a@localhost", "a b@example.com", "a..b@example.com", "a@-x.com"]
)
def test_invalid_addresses(address: str) -> None:
    assert not valid_email(address)


def test_address_fields_take_names_commas_and_repeats() -> None:
    addresses = parse_addresses(['Alice Smith <alice@example.com>, "Bob, Jr" <bob@example.com>', "c@example.com"], "to")

    assert [(a.name, a.email) for a in addresses] == [
        ("Alice Smith", "alice@example.com"),
        ("Bob, Jr", "bob@example.com"),
        ("", "c@example.com"),
    ]


def test_tags_keep_ten_ascii_and_drop_case_duplicates() -> None:
    assert clean_tags(["Sale", "sale", "caf\u00e9", *[f"t{n}" for n in range(12)]]) == [
        "Sale",
        "caf",
        *[f"t{n}" for n in range(8)],
    ]


# --- Send validation -----------------------------------------------------------------------------


def test_a_complete_send_is_parsed_with_its_options() -> None:
    request = validate_send(
        base(
            cc="carol@example.com",
            **{"o:tag": ["a", "b"], "h:Reply-To": "help@x.example", "v:uid": "7", "o:tracking": "htmlonly"},
        ),
        now=NOW,
    )

    assert [a.email for a in request.recipients] == ["alice@example.com", "carol@example.com"]
    assert request.tags == ["a", "b"]
    assert request.headers == [("Reply-To", "help@x.example")]
    assert request.user_variables == {"uid": "7"}
    assert request.options == {"o:tracking": "htmlonly"}


def test_a_past_delivery_time_means_now_and_a_near_one_is_kept() -> None:
    past = validate_send(base(**{"o:deliverytime": format_datetime(NOW - timedelta(hours=1))}), now=NOW)
    soon = validate_send(base(**{"o:deliverytime": "Fri, 01 May 2026 14:00:00 +0000"}), now=NOW)

    assert past.deliver_at is None
    assert soon.deliver_at == NOW + timedelta(hours=2)


def test_the_schedule_limit_can_be_seven_days() -> None:
    when = format_datetime(NOW + timedelta(days=5))

    with pytest.raises(ApiError):
        validate_send(base(**{"o:deliverytime": when}), now=NOW)
    assert validate_send(base(**{"o:deliverytime": when}), now=NOW, max_schedule_days=7).deliver_at is not None


def test_a_template_send_needs_no_subject_or_body() -> None:
    request = validate_send(form(**{"from": "a@mg.shop.test", "to": "b@example.com", "template": "welcome"}), now=NOW)

    assert request.template == "welcome"


def test_a_missing_subject_is_refused_without_a_template() -> None:
    with pytest.raises(ApiError) as caught:
        validate_send(form(**{"from": "a@mg.shop.test", "to": "b@example.com", "text": "x"}), now=NOW)

    assert caught.value.status == 400


def test_the_16_kb_option_limit_counts_every_prefix() -> None:
    just_under = {f"v:k{n}": "x" * 1000 for n in range(16)}
    validate_send(base(**just_under), now=NOW)
    with pytest.raises(ApiError, match="16 kB"):
        validate_send(base(**just_under, **{"h:X-More": "x" * 500}), now=NOW)


# --- Copies, substitution and MIME ---------------------------------------------------------------


def test_substitution_fills_recipient_variables_and_leaves_unknown_ones() -> None:
    values = {"recipient.name": "Ann", "recipient_email": "ann@example.com"}

    assert substitute("Hi %recipient.name% <%recipient_email%> %recipient.x%", values) == (
        "Hi Ann <ann@example.com> %recipient.x%"
    )


def _links(address: object, tags: list[str]) -> tuple[str, str]:
    return "https://u.example/all", "https://u.example/tag"


def test_inline_images_are_related_to_the_html_part() -> None:
    request = validate_send(base(html='<img src="cid:logo.png">'), now=NOW)
    request.inline.append(Upload("logo.png", "image/png", b"\x89PNG"))

    [copy] = build_copies(
        request, domain="mg.shop.test", message_id="1@mg.shop.test", now=NOW, unsubscribe_links=_links
    )

    parsed = email.message_from_string(copy.raw_mime, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    related = parsed.get_payload()[1]  # type: ignore[index]
    assert related.get_content_type() == "multipart/related"
    image = related.get_payload()[1]
    assert (image.get_content_type(), image["Content-ID"]) == ("image/png", "<logo.png>")


def test_one_recipient_gets_the_unsubscribe_url_substituted() -> None:
    request = validate_send(base(text="Leave: %unsubscribe_url% or %tag_unsubscribe_url%"), now=NOW)

    [copy] = build_copies(
        request, domain="mg.shop.test", message_id="1@mg.shop.test", now=NOW, unsubscribe_links=_links
    )

    assert copy.text == "Leave: https://u.example/all or https://u.example/tag"


# --- Forms -----------------------------------------------------------------------------------------


def test_multipart_keeps_order_repeats_and_exact_file_bytes() -> None:
    data = b"\x00\r\n--not-the-boundary\r\n\xff"
    body = (
        b'--B\r\nContent-Disposition: form-data; name="to"\r\n\r\na@example.com\r\n'
        b'--B\r\nContent-Disposition: form-data; name="to"\r\n\r\nb@example.com\r\n'
        b'--B\r\nContent-Disposition: form-data; name="attachment"; filename="x.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n--B--\r\n"
    )

    parsed = parse_form("multipart/form-data; boundary=B", body)

    assert parsed.all("to") == ["a@example.com", "b@example.com"]
    assert parsed.files("attachment") == [Upload("x.bin", "application/octet-stream", data)]


def test_a_multipart_body_without_its_closing_boundary_is_malformed() -> None:
    with pytest.raises(ApiError, match="malformed multipart"):
        parse_form("multipart/form-data; boundary=B", b'--B\r\nContent-Disposition: form-data; name="to"\r\n\r\nx')


# --- Scenarios -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "outcome"),
    [
        ("alice@example.com", Outcome.DELIVER),
        ("Bounce+1@example.com", Outcome.BOUNCE),
        ("soft+x@example.com", Outcome.SOFT),
        ("tempfail+x@example.com", Outcome.TEMPFAIL),
        ("complain+x@example.com", Outcome.COMPLAIN),
        ("open+x@example.com", Outcome.OPEN),
        ("click+x@example.com", Outcome.CLICK),
        ("unsub+x@example.com", Outcome.UNSUBSCRIBE),
        ("bounce@example.com", Outcome.DELIVER),
        ("other+x@example.com", Outcome.DELIVER),
    ],
)
def test_the_local_part_prefix_picks_the_outcome(address: str, outcome: Outcome) -> None:
    assert outcome_for(address) is outcome


def test_click_needs_tracking_and_a_link() -> None:
    assert [s.event for s in steps(Outcome.CLICK, opens=True, clicks=True, has_link=True)] == [
        "delivered",
        "opened",
        "clicked",
    ]
    assert [s.event for s in steps(Outcome.CLICK, opens=False, clicks=True, has_link=False)] == ["delivered"]


def test_the_first_http_link_is_clicked() -> None:
    html = "<a href='mailto:x@example.com'>m</a><A HREF=\"https://shop.example/?a=1&amp;b=2\">go</A>"

    assert first_link(html) == "https://shop.example/?a=1&b=2"
    assert first_link("<p>no links</p>") is None


# --- Suppressions --------------------------------------------------------------------------------


def test_suppressions_drop_in_bounce_unsubscribe_complaint_order() -> None:
    tables = SuppressionTables()
    tables.add("complaints", {"address": "A@example.com"})
    assert tables.drop_for("a@example.com", []).code == 607  # type: ignore[union-attr]
    tables.add("unsubscribes", {"address": "a@example.com"})
    assert tables.drop_for("a@example.com", []).code == 606  # type: ignore[union-attr]
    tables.add("bounces", {"address": "a@example.com"})
    assert tables.drop_for("a@example.com", []).code == 605  # type: ignore[union-attr]
    assert tables.drop_for("b@example.com", []) is None


def test_a_suppression_keeps_a_given_creation_date() -> None:
    entry = SuppressionTables().add(
        "bounces", {"address": "a@example.com", "created_at": "Thu, 11 Dec 2025 01:49:40 UTC"}
    )

    assert entry["created_at"] == "Thu, 11 Dec 2025 01:49:40 UTC"


# --- Domains, events, webhooks -------------------------------------------------------------------


def test_domain_records_follow_the_region_and_selector() -> None:
    us = Domain("mg.shop.test", state="active", dkim_selector="pic")
    eu = Domain("mg.shop.test", region="eu", use_automatic_sender_security=True)

    assert [(r["record_type"], r["name"]) for r in us.sending_dns_records()] == [
        ("TXT", "mg.shop.test"),
        ("TXT", "pic._domainkey.mg.shop.test"),
        ("CNAME", "email.mg.shop.test"),
    ]
    assert [r["name"] for r in eu.sending_dns_records()][1:3] == [
        "pdk1._domainkey.mg.shop.test",
        "pdk2._domainkey.mg.shop.test",
    ]
    assert eu.sending_dns_records()[0]["value"] == "v=spf1 include:eu.mailgun.org ~all"
    assert Domain("a.test").sending_dns_records()[1]["value"] == Domain("a.test").sending_dns_records()[1]["value"]


def test_events_query_supports_not_and_ranges() -> None:
    events = [
        {"event": "accepted", "timestamp": 1.0, "recipient": "a@x.test"},
        {"event": "delivered", "timestamp": 2.0, "recipient": "a@x.test"},
        {"event": "failed", "timestamp": 3.0, "recipient": "b@x.test", "severity": "permanent"},
    ]

    assert [e["event"] for e in query_events(events, {"event": "NOT accepted", "ascending": "yes"})] == [
        "delivered",
        "failed",
    ]
    assert [e["timestamp"] for e in query_events(events, {"begin": "2", "end": "3"})] == [2.0, 3.0]
    assert [e["timestamp"] for e in query_events(events, {"begin": "3", "end": "2"})] == [3.0, 2.0]
    assert query_events(events, {"severity": "permanent"})[0]["recipient"] == "b@x.test"


def test_the_signature_is_hmac_sha256_of_timestamp_and_token() -> None:
    block = signature_block("key-1", now=1_700_000_000)

    expected = hmac.new(b"key-1", (block["timestamp"] + block["token"]).encode(), hashlib.sha256).hexdigest()
    assert block["timestamp"] == "1700000000"
    assert len(block["token"]) == 50
    assert block["signature"] == expected == sign("key-1", block["timestamp"], block["token"])


def test_the_retry_schedule_is_mailguns_current_one() -> None:
    assert RETRY_SCHEDULE_SECONDS == (300, 600, 900, 3600, 7200, 14400)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/h", "https://hooks.example/mailgun?x=1"])
def test_http_and_https_urls_are_webhook_targets(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize("url", ["ftp://x.example", "https://", "hooks.example/mailgun"])
def test_other_urls_are_refused_with_a_reason(url: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_url(url)

    assert caught.value.status == 400
    assert set(caught.value.body) == {"Reason"}  # type: ignore[arg-type]
