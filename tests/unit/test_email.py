from __future__ import annotations

import pytest

from tagmail.domain.email import InvalidEmail, parse_email


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  bob+tag@shop.example.co.jp ", "bob+tag@shop.example.co.jp"),
        ("o'brien@example.org", "o'brien@example.org"),
        ("taro@例え.jp", "taro@例え.jp"),
        ("user@xn--r8jz45g.jp", "user@xn--r8jz45g.jp"),
    ],
)
def test_valid_addresses_keep_the_given_form_and_get_a_lower_case_one(given: str, canonical: str) -> None:
    address = parse_email(given)
    assert address.given == given.strip()
    assert address.canonical == canonical


@pytest.mark.parametrize(
    "given",
    [
        "",
        "alice",
        "alice@",
        "@example.com",
        "a@b@example.com",
        "alice@example",
        "alice@-example.com",
        "alice@example.c",
        ".alice@example.com",
        "al..ice@example.com",
        "al ice@example.com",
        '"alice"@example.com',
        "alice@exa_mple.com",
        "a" * 65 + "@example.com",
        "alice@" + "a" * 250 + ".com",
    ],
)
def test_invalid_addresses_are_refused(given: str) -> None:
    with pytest.raises(InvalidEmail):
        parse_email(given)
