from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tagmail.domain.templates import (
    Footer,
    InvalidTemplate,
    MailContent,
    Template,
    TemplateRenderError,
    TemplateVersion,
    pick_locale,
)
from tagmail.errors import InvalidInput

NOW = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)


def version(contents: dict[str, MailContent], default: str = "ja") -> TemplateVersion:
    return TemplateVersion(template_id="t1", version=1, created_at=NOW, contents=contents, default_locale=default)


def content(subject: str) -> MailContent:
    return MailContent(subject=subject, html=f"<p>{subject}</p>")


@pytest.mark.parametrize(
    ("available", "wanted", "chosen"),
    [
        (["ja", "en"], "en", "en"),
        (["ja", "en-US"], "EN-us", "en-US"),
        (["ja", "en"], "ja-JP", "ja"),
        (["ja-JP", "en"], "ja", "ja-JP"),
        (["ja", "en"], "ja_JP", "ja"),
        (["en", "zh-Hant-TW", "zh-Hans"], "zh-TW", "zh-Hans"),
        (["ja", "en"], "fr-FR", "ja"),
        (["ja", "en"], None, "ja"),
        (["ja", "en"], "", "ja"),
    ],
)
def test_given_template_locales_when_a_reader_locale_is_picked_then_the_fallback_rule_applies(
    available: list[str], wanted: str | None, chosen: str
) -> None:
    assert pick_locale(available, wanted, default="ja") == chosen


def test_given_a_region_and_its_language_when_the_region_is_wanted_then_the_exact_tag_wins() -> None:
    assert pick_locale(["ja", "ja-JP", "en"], "ja-jp", default="en") == "ja-JP"


def test_given_no_match_and_a_default_spelled_differently_then_the_available_spelling_is_returned() -> None:
    assert pick_locale(["JA", "en"], "de", default="ja") == "JA"


def test_given_a_version_when_content_is_asked_for_a_locale_then_the_fallback_content_is_returned() -> None:
    saved = version({"ja": content("こんにちは"), "en-US": content("Hello")})

    assert saved.content_for("en-GB").subject == "Hello"
    assert saved.content_for("ko").subject == "こんにちは"
    assert saved.content_for(None).subject == "こんにちは"


def test_given_a_default_locale_without_content_when_the_version_is_made_then_it_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        version({"en": content("Hello")}, default="ja")
    assert caught.value.field == "default_locale"


def test_given_no_content_when_the_version_is_made_then_it_is_refused() -> None:
    with pytest.raises(InvalidInput):
        version({}, default="ja")


@pytest.mark.parametrize("locale", ["japanese!", "j", "ja--JP", ""])
def test_given_a_malformed_locale_tag_when_the_version_is_made_then_it_is_refused(locale: str) -> None:
    with pytest.raises(InvalidInput):
        version({"ja": content("a"), locale: content("b")})


def test_given_the_same_locale_twice_in_different_case_when_the_version_is_made_then_it_is_refused() -> None:
    with pytest.raises(InvalidInput):
        version({"ja": content("a"), "JA": content("b")})


def test_given_a_saved_version_when_its_contents_are_changed_then_that_is_impossible() -> None:
    given = {"ja": content("a")}
    saved = version(given)
    given["en"] = content("b")

    assert list(saved.contents) == ["ja"]
    with pytest.raises(TypeError):
        saved.contents["en"] = content("b")  # type: ignore[index]


def test_given_version_zero_when_the_version_is_made_then_it_is_refused() -> None:
    with pytest.raises(InvalidInput):
        TemplateVersion(template_id="t1", version=0, created_at=NOW, contents={"ja": content("a")}, default_locale="ja")


def test_given_a_template_then_its_next_version_follows_the_latest() -> None:
    template = Template(id="t1", project_id="p1", name="カゴ落ち", latest_version=3, created_at=NOW, updated_at=NOW)
    assert template.next_version == 4


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_given_an_empty_or_too_long_name_when_the_template_is_made_then_it_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Template(id="t1", project_id="p1", name=name, latest_version=1, created_at=NOW, updated_at=NOW)
    assert caught.value.field == "name"


def test_template_errors_are_invalid_input_that_name_part_line_and_variable() -> None:
    error = TemplateRenderError("html: line 3: `user.first_name` has no value", "html", 3, "user.first_name")

    assert isinstance(error, InvalidTemplate)
    assert isinstance(error, InvalidInput)
    assert (error.field, error.line, error.variable) == ("html", 3, "user.first_name")


def test_given_no_unsubscribe_url_when_a_footer_is_made_then_it_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        Footer(unsubscribe_url=" ", sender_name="Shop", sender_address="news@mail.shop.example")
    assert caught.value.field == "unsubscribe_url"
