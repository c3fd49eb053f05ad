"""The unsubscribe handler and pages: GET shows, POST (one-click or the button) changes, pages are
localized, escaped and locked down."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tagmail import bootstrap
from tagmail.domain.projects import Project
from tagmail.domain.settings import MailSettings, ProjectSecrets
from tagmail.domain.stats import Counter
from tagmail.domain.users import UserProfile
from tagmail.pages.unsubscribe import choose_locale
from tests.handlers import load_handler
from tests.unit.test_unsubscribe_service import PROJECT, Unsubscribes

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "events" / "unsubscribe"


@pytest.fixture
def subs(monkeypatch: pytest.MonkeyPatch) -> Unsubscribes:
    subs = Unsubscribes()
    monkeypatch.setattr(bootstrap, "unsubscribe_service", lambda: subs.service)
    return subs


Call = Callable[..., dict[str, Any]]


@pytest.fixture
def call(subs: Unsubscribes) -> Call:
    handler = load_handler("unsubscribe")

    def invoke(
        method: str,
        token: str,
        body: bytes = b"",
        content_type: str = "application/x-www-form-urlencoded",
        languages: str | None = None,
    ) -> dict[str, Any]:
        event = json.loads((SAMPLES / ("page.json" if method == "GET" else "one_click.json")).read_text())
        event["requestContext"]["http"]["method"] = method
        event["rawPath"] = f"/u/{token}"
        event["pathParameters"] = {"token": token}
        event["headers"]["content-type"] = content_type
        if languages is None:
            event["headers"].pop("accept-language", None)
        else:
            event["headers"]["accept-language"] = languages
        event["body"] = base64.b64encode(body).decode() if body else None
        event["isBase64Encoded"] = bool(body)
        return handler.lambda_handler(event, None)  # type: ignore[no-any-return]

    return invoke


def assert_locked_down(response: dict[str, Any]) -> None:
    headers = response["headers"]
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "no-store"
    assert headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "<script" not in response["body"]


def test_get_shows_a_confirmation_and_changes_nothing(subs: Unsubscribes, call: Call) -> None:
    response = call("GET", subs.token("u:bob"), languages="ja,en;q=0.8")

    assert response["statusCode"] == 200
    assert_locked_down(response)
    body = response["body"]
    assert "Shop p1 からのメールの配信を停止しますか" in body
    assert '<form method="post"><input type="hidden" name="action" value="unsubscribe">' in body
    assert subs.subscribed("u:bob") is True


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"List-Unsubscribe=One-Click", "application/x-www-form-urlencoded", id="urlencoded"),
        pytest.param(
            b'--b0undary\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
            b"One-Click\r\n--b0undary--\r\n",
            "multipart/form-data; boundary=b0undary",
            id="multipart",
        ),
        pytest.param(b"action=unsubscribe", "application/x-www-form-urlencoded", id="the page's button"),
    ],
)
def test_a_one_click_post_unsubscribes_at_once(subs: Unsubscribes, call: Call, body: bytes, content_type: str) -> None:
    response = call("POST", subs.token("u:bob"), body, content_type)

    assert response["statusCode"] == 200
    assert_locked_down(response)
    assert subs.subscribed("u:bob") is False
    assert 'value="resubscribe"' in response["body"]
    assert subs.stats.total(Counter.UNSUBSCRIBED) == 1


def test_the_resubscribe_button_subscribes_again(subs: Unsubscribes, call: Call) -> None:
    call("POST", subs.token("u:bob"), b"List-Unsubscribe=One-Click")
    response = call("POST", subs.token("u:bob"), b"action=resubscribe", languages="en")

    assert response["statusCode"] == 200
    assert "You will receive e-mail from Shop p1 again." in response["body"]
    assert subs.subscribed("u:bob") is True


def test_a_post_that_asks_for_nothing_is_400_and_changes_nothing(subs: Unsubscribes, call: Call) -> None:
    response = call("POST", subs.token("u:bob"), b"something=else")
    assert response["statusCode"] == 400
    assert_locked_down(response)
    assert subs.subscribed("u:bob") is True


def test_a_forged_token_shows_an_error_page_and_changes_nothing(subs: Unsubscribes, call: Call) -> None:
    token = subs.token("u:bob")
    forged = call("POST", token[:-3] + "xyz", b"List-Unsubscribe=One-Click", languages="en")
    unknown = call("GET", token.replace(f"{PROJECT}.", "p9.", 1), languages="ja")

    assert forged["statusCode"] == 400
    assert "This link is not valid" in forged["body"]
    assert unknown["statusCode"] == 404
    assert "このリンクは無効です" in unknown["body"]
    assert_locked_down(forged)
    assert subs.subscribed("u:bob") is True


def test_the_page_speaks_the_profiles_language_before_the_browsers(subs: Unsubscribes, call: Call) -> None:
    # alice's profile says en-US; the browser prefers Japanese
    assert (
        "Do you want to stop receiving e-mail from Shop p1?"
        in call("GET", subs.token("u:alice"), languages="ja")["body"]
    )
    # bob's profile has no locale: the browser decides, then the project's default (ja)
    assert '<html lang="en">' in call("GET", subs.token("u:bob"), languages="fr, en;q=0.5")["body"]
    assert '<html lang="ja">' in call("GET", subs.token("u:bob"))["body"]


def test_the_sender_name_is_escaped(subs: Unsubscribes, call: Call) -> None:
    project = subs.projects.items[PROJECT]
    evil = '<script>alert("x")</script> & Co'
    subs.projects.update(replace(project, settings=replace(project.settings, sender_name=evil)))

    body = call("GET", subs.token("u:bob"), languages="en")["body"]
    assert "<script>" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in body


def test_a_test_send_link_says_nothing_changed(subs: Unsubscribes, call: Call) -> None:
    response = call("POST", subs.token("test"), b"List-Unsubscribe=One-Click", languages="en")
    assert response["statusCode"] == 200
    assert "nothing has been changed" in response["body"]
    assert not subs.stats.counts


@pytest.mark.parametrize(
    ("profile", "header", "default", "expected"),
    [
        ("en-US", "ja", "ja", "en"),
        (None, "en-GB,ja;q=0.9", "ja", "en"),
        (None, "ja;q=0.2, en;q=0.9", "ja", "en"),
        (None, "fr-CA, de", "en", "en"),
        (None, "en;q=0", "ja", "ja"),
        ("zh", None, None, "ja"),
        ("ja_JP", "en", "en", "ja"),
    ],
)
def test_choose_locale(profile: str | None, header: str | None, default: str | None, expected: str) -> None:
    assert choose_locale(profile, header, default) == expected


def test_a_project_without_a_sender_name_shows_its_address(subs: Unsubscribes, call: Call) -> None:
    project: Project = subs.projects.items[PROJECT]
    settings = replace(project.settings, sender_name=None, sender_address="news@mail.shop.example")
    subs.projects.update(replace(project, settings=settings))
    assert "news@mail.shop.example" in call("GET", subs.token("u:bob"), languages="en")["body"]


def test_the_sample_events_work_with_the_sample_secret(subs: Unsubscribes) -> None:
    sample_project = "p0123456789abcdef"
    subs.projects.add(Project(sample_project, "sample", subs.clock(), MailSettings(sender_name="Sample Shop")))
    subs.secrets.put(sample_project, ProjectSecrets(unsubscribe_secret="sample-unsubscribe-secret"))
    profile = replace(UserProfile.new(sample_project, "u:user-42", subs.clock()), subscription=True)
    subs.users.save(profile, expected=None)
    handler = load_handler("unsubscribe")

    def run(name: str) -> dict[str, Any]:
        return handler.lambda_handler(json.loads((SAMPLES / f"{name}.json").read_text()), None)  # type: ignore[no-any-return]

    assert "Sample Shop" in run("page")["body"]
    assert subs.subscribed("u:user-42", sample_project) is True
    assert run("one_click")["statusCode"] == 200
    assert subs.subscribed("u:user-42", sample_project) is False
    assert run("resubscribe")["statusCode"] == 200
    assert subs.subscribed("u:user-42", sample_project) is True
