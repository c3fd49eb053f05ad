from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tagmail.adapters.rendering import TEXT_WIDTH, JinjaRenderer, html_to_text
from tagmail.domain.templates import Footer, InvalidTemplate, MailContent, RenderedMail, TemplateRenderError
from tagmail.errors import InvalidInput

UNSUBSCRIBE = "https://mail.example.com/u/tok123?p=shop&x=1"
FOOTER_JA = Footer(
    unsubscribe_url=UNSUBSCRIBE,
    sender_name="サンプル商店",
    sender_address="news@mail.shop.example",
    postal_address="東京都千代田区丸の内1-1-1",
    locale="ja-JP",
)
FOOTER_EN = Footer(
    unsubscribe_url=UNSUBSCRIBE,
    sender_name="Sample Shop",
    sender_address="news@mail.shop.example",
    postal_address="1-1-1 Marunouchi, Tokyo",
    locale="en-US",
)


@pytest.fixture(scope="module")
def renderer() -> JinjaRenderer:
    return JinjaRenderer()


def cart_variables(**user: Any) -> dict[str, Any]:
    return {
        "user": {"email": "taro@example.com", **user},
        "event": {
            "name": "Cart Abandoned",
            "properties": {
                "items": [{"name": "スニーカー", "price": 12800}, {"name": "靴下", "price": Decimal("500")}],
                "total": 13300,
            },
        },
    }


def render(
    renderer: JinjaRenderer,
    html: str,
    variables: dict[str, Any] | None = None,
    *,
    subject: str = "お知らせ",
    text: str | None = None,
    footer: Footer | None = None,
) -> RenderedMail:
    content = MailContent(subject=subject, html=html, text=text)
    return renderer.render(content, cart_variables() if variables is None else variables, footer=footer)


# Attributes, defaults, loops, conditions


def test_given_a_first_name_when_rendered_then_the_attribute_is_inserted(renderer: JinjaRenderer) -> None:
    mail = render(renderer, '<p>{{ user.first_name | default("お客様") }}様</p>', cart_variables(first_name="太郎"))
    assert "<p>太郎様</p>" in mail.html


def test_given_no_first_name_when_rendered_then_the_japanese_default_is_used(renderer: JinjaRenderer) -> None:
    mail = render(
        renderer,
        '<p>{{ user.first_name | default("お客様") }}様</p>',
        subject='{{ user.first_name | default("お客様") }}様へのお知らせ',
    )
    assert "<p>お客様様</p>" in mail.html
    assert mail.subject == "お客様様へのお知らせ"


def test_given_a_null_attribute_when_rendered_then_it_counts_as_missing_and_the_default_is_used(
    renderer: JinjaRenderer,
) -> None:
    mail = render(renderer, '<p>{{ user.first_name | default("お客様") }}</p>', cart_variables(first_name=None))
    assert "<p>お客様</p>" in mail.html


def test_given_cart_items_when_looped_then_each_item_is_listed_with_its_yen_price(renderer: JinjaRenderer) -> None:
    mail = render(
        renderer,
        "<ul>{% for item in event.properties.items %}<li>{{ item.name }} {{ item.price | yen }}</li>{% endfor %}</ul>",
    )
    assert "<li>スニーカー ¥12,800</li><li>靴下 ¥500</li>" in mail.html


def test_given_a_property_named_items_then_it_wins_over_the_dict_method(renderer: JinjaRenderer) -> None:
    mail = render(renderer, "<p>{{ event.properties.items | length }} {{ event.properties['items'][0].name }}</p>")
    assert "<p>2 スニーカー</p>" in mail.html


def test_given_a_record_without_an_items_key_then_items_call_lists_its_pairs(renderer: JinjaRenderer) -> None:
    mail = render(renderer, "<p>{% for key, value in user.items() %}{{ key }}={{ value }};{% endfor %}</p>")
    assert "<p>email=taro@example.com;</p>" in mail.html


def test_given_a_loop_over_a_missing_items_property_then_the_error_names_it(renderer: JinjaRenderer) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render(renderer, "{% for item in user.items %}{{ item }}{% endfor %}")
    assert caught.value.variable == "user.items"


@pytest.mark.parametrize(
    ("user", "shown"),
    [
        ({"rank": "gold"}, "ゴールド会員様"),
        ({"rank": "silver"}, "いつもありがとうございます"),
        ({}, "いつもありがとうございます"),
    ],
)
def test_given_a_condition_on_an_attribute_then_the_matching_branch_is_rendered(
    renderer: JinjaRenderer, user: dict[str, str], shown: str
) -> None:
    template = '<p>{% if user.rank == "gold" %}ゴールド会員様{% else %}いつもありがとうございます{% endif %}</p>'
    mail = render(renderer, template, cart_variables(**user))
    assert f"<p>{shown}</p>" in mail.html


def test_given_a_missing_attribute_then_a_condition_on_it_is_false(renderer: JinjaRenderer) -> None:
    mail = render(renderer, "<p>{% if user.coupon %}{{ user.coupon }}{% else %}none{% endif %}</p>")
    assert "<p>none</p>" in mail.html


def test_given_a_total_then_conditions_compare_numbers(renderer: JinjaRenderer) -> None:
    template = "<p>{% if event.properties.total >= 10000 %}送料無料{% endif %}</p>"
    assert "<p>送料無料</p>" in render(renderer, template).html


# Missing values are errors that name the variable


def test_given_a_missing_attribute_without_default_then_the_error_names_the_variable(
    renderer: JinjaRenderer,
) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render(renderer, "<p>\n{{ user.first_name }}様</p>")

    error = caught.value
    assert isinstance(error, InvalidInput)
    assert error.field == "html"
    assert error.variable == "user.first_name"
    assert error.line == 2
    assert "user.first_name" in error.message


def test_given_a_missing_top_level_variable_in_the_subject_then_the_error_names_it_and_the_part(
    renderer: JinjaRenderer,
) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render(renderer, "<p>hi</p>", subject="{{ coupon_code }}をどうぞ")
    assert caught.value.field == "subject"
    assert caught.value.variable == "coupon_code"


def test_given_a_missing_nested_value_then_the_whole_path_is_named(renderer: JinjaRenderer) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render(renderer, "<p>{{ user.address.city }}</p>")
    assert caught.value.variable == "user.address.city"


def test_given_a_missing_nested_value_with_default_then_the_default_is_used(renderer: JinjaRenderer) -> None:
    assert "<p>-</p>" in render(renderer, "<p>{{ user.address.city | default('-') }}</p>").html


# Multipart: text written or generated


def test_given_html_and_text_when_rendered_then_both_parts_are_present(renderer: JinjaRenderer) -> None:
    mail = render(
        renderer,
        "<p>{{ user.first_name }}様、カートに商品が残っています。</p>",
        cart_variables(first_name="花子"),
        text="{{ user.first_name }}様、カートに商品が残っています。",
    )
    assert "<p>花子様、カートに商品が残っています。</p>" in mail.html
    assert mail.text == "花子様、カートに商品が残っています。"


def test_given_no_text_when_rendered_then_it_is_generated_with_links_as_text_and_url(
    renderer: JinjaRenderer,
) -> None:
    mail = render(
        renderer,
        '<p>Your cart is waiting.</p><p><a href="https://shop.example/cart">Open your cart</a></p>'
        '<p><a href="https://shop.example/">https://shop.example/</a></p>',
    )
    assert mail.text == (
        "Your cart is waiting.\n\nOpen your cart (https://shop.example/cart)\n\nhttps://shop.example/\n"
    )


def test_given_html_structure_then_the_text_keeps_paragraphs_bullets_breaks_and_alt_text() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        '<div style="display:none">preheader</div>'
        "<h1>Sale&nbsp;&amp;&nbsp;more</h1>"
        "<p>Line one<br>Line   two</p>"
        "<ul><li>First</li><li>Second<ul><li>Nested</li></ul></li></ul>"
        "<ol><li>Step</li><li>Next</li></ol>"
        '<p><img src="logo.png" alt="Sample Shop"> <img src="pixel.gif"></p>'
        "<script>alert(1)</script>"
        "<table><tr><td>Sneakers</td><td>¥12,800</td></tr></table>"
        "</body></html>"
    )
    assert html_to_text(html) == (
        "Sale & more\n\n"
        "Line one\nLine two\n\n"
        "- First\n- Second\n  - Nested\n\n"
        "1. Step\n2. Next\n\n"
        "Sample Shop\n\n"
        "Sneakers ¥12,800\n"
    )


def test_given_long_lines_then_the_text_wraps_at_78_columns_without_breaking_urls() -> None:
    url = "https://shop.example/products/very-long-product-slug-that-goes-on-and-on?utm_source=mail&utm_medium=x"
    words = "word " * 40
    text = html_to_text(f'<p>{words}<a href="{url}">see</a> {words}</p>')

    assert url in text
    for line in text.splitlines():
        assert len(line) <= TEXT_WIDTH or url in line


def test_given_long_japanese_text_then_lines_wrap_by_display_width() -> None:
    sentence = "お買い物カゴに商品が残っています。お早めにご購入ください。" * 4
    text = html_to_text(f"<p>{sentence}</p>")

    lines = text.splitlines()
    assert len(lines) > 1
    assert "".join(lines) == sentence
    assert all(sum(2 for _ in line) <= TEXT_WIDTH + 2 for line in lines)
    assert not any(line.startswith(("。", "、")) for line in lines)


# CSS


def test_given_a_style_block_when_rendered_then_css_is_inlined_and_media_queries_are_kept(
    renderer: JinjaRenderer,
) -> None:
    mail = render(
        renderer,
        "<html><head><style>p{color:red} @media (max-width: 600px) { p { color: blue } }</style></head>"
        "<body><p>hi</p></body></html>",
    )
    assert '<p style="color: red;">hi</p>' in mail.html
    assert "@media (max-width: 600px)" in mail.html
    assert "p{color:red}" not in mail.html


def test_given_a_linked_stylesheet_then_it_is_never_loaded(renderer: JinjaRenderer, tmp_path: Path) -> None:
    stylesheet = tmp_path / "mail.css"
    stylesheet.write_text("p { color: green }")
    mail = render(renderer, f'<html><head><link rel="stylesheet" href="{stylesheet}"></head><body><p>x</p></body>')
    assert "green" not in mail.html


def test_given_a_doctype_then_it_survives_inlining(renderer: JinjaRenderer) -> None:
    mail = render(renderer, "<!DOCTYPE html><html><head></head><body><p>x</p></body></html>")
    assert mail.html.startswith("<!DOCTYPE html>")


# The unsubscribe footer


def test_given_marketing_mail_without_unsubscribe_link_then_a_footer_is_added_before_body_end(
    renderer: JinjaRenderer,
) -> None:
    mail = render(renderer, "<html><body><p>セール開催中</p></body></html>", footer=FOOTER_JA)

    footer_at = mail.html.index("tagmail-footer")
    assert mail.html.index("セール開催中") < footer_at < mail.html.index("</body>")
    assert 'href="https://mail.example.com/u/tok123?p=shop&amp;x=1"' in mail.html
    assert "サンプル商店" in mail.html
    assert "news@mail.shop.example" in mail.html
    assert "東京都千代田区丸の内1-1-1" in mail.html
    assert UNSUBSCRIBE in mail.text
    assert "サンプル商店" in mail.text


def test_given_a_fragment_without_body_then_the_footer_still_ends_the_mail(renderer: JinjaRenderer) -> None:
    mail = render(renderer, "<p>セール開催中</p>", footer=FOOTER_JA)
    assert "tagmail-footer" in mail.html
    assert mail.html.index("セール開催中") < mail.html.index("tagmail-footer")


def test_given_the_template_places_the_unsubscribe_url_then_no_second_footer_is_added(
    renderer: JinjaRenderer,
) -> None:
    mail = render(
        renderer,
        '<html><body><p>セール</p><a href="{{ unsubscribe_url }}">配信停止</a></body></html>',
        footer=FOOTER_JA,
    )
    assert "tagmail-footer" not in mail.html
    assert mail.html.count("tok123") == 1
    assert mail.text.count(UNSUBSCRIBE) == 1


def test_given_the_unsubscribe_url_only_in_a_hidden_element_then_the_footer_is_added(
    renderer: JinjaRenderer,
) -> None:
    mail = render(
        renderer, '<div style="display: none"><a href="{{ unsubscribe_url }}">x</a></div><p>hi</p>', footer=FOOTER_JA
    )
    assert "tagmail-footer" in mail.html


def test_given_a_written_text_part_without_the_url_then_the_text_footer_is_added_once(
    renderer: JinjaRenderer,
) -> None:
    mail = render(renderer, "<p>hi</p>", text="セール開催中", footer=FOOTER_JA)
    assert mail.text.startswith("セール開催中\n\n--\n")
    assert mail.text.count(UNSUBSCRIBE) == 1


def test_given_the_reader_locale_then_the_footer_is_in_japanese_or_english(renderer: JinjaRenderer) -> None:
    japanese = render(renderer, "<p>x</p>", footer=FOOTER_JA)
    english = render(renderer, "<p>x</p>", footer=FOOTER_EN)

    assert "配信停止" in japanese.text
    assert "配信を停止" in japanese.html
    assert "Unsubscribe" not in japanese.html
    assert "Unsubscribe" in english.html
    assert "Unsubscribe" in english.text
    assert "配信" not in english.html


def test_given_sender_name_with_html_then_the_footer_escapes_it(renderer: JinjaRenderer) -> None:
    footer = Footer(UNSUBSCRIBE, "<b>Shop</b>", "news@mail.shop.example", None, "en")
    mail = render(renderer, "<p>x</p>", footer=footer)
    assert "&lt;b&gt;Shop&lt;/b&gt;" in mail.html


def test_given_operational_mail_then_no_footer_is_added(renderer: JinjaRenderer) -> None:
    mail = render(renderer, "<p>Your monthly quota is 90 % used.</p>", footer=None)
    assert "tagmail-footer" not in mail.html
    assert mail.text == "Your monthly quota is 90 % used.\n"


def test_given_a_footer_then_templates_may_use_sender_and_unsubscribe_url(renderer: JinjaRenderer) -> None:
    mail = render(renderer, "<p>{{ sender.name }}</p><a href='{{ unsubscribe_url }}'>stop</a>", footer=FOOTER_EN)
    assert "<p>Sample Shop</p>" in mail.html


# Subject


@pytest.mark.parametrize("separator", ["\r\n", "\n", "\r", "\u2028", "\x0b"])
def test_given_line_breaks_in_an_attribute_then_the_subject_stays_one_line(
    renderer: JinjaRenderer, separator: str
) -> None:
    mail = render(
        renderer,
        "<p>x</p>",
        cart_variables(first_name=f"Taro{separator}Bcc: victim@example.com"),
        subject="Hello {{ user.first_name }}\n",
    )
    assert mail.subject == "Hello Taro Bcc: victim@example.com"


def test_given_html_in_the_subject_then_it_is_not_escaped(renderer: JinjaRenderer) -> None:
    mail = render(renderer, "<p>x</p>", cart_variables(first_name="A&B"), subject="{{ user.first_name }} <sale>")
    assert mail.subject == "A&B <sale>"


def test_given_a_very_long_subject_then_it_is_cut(renderer: JinjaRenderer) -> None:
    mail = render(renderer, "<p>x</p>", cart_variables(first_name="あ" * 1000), subject="{{ user.first_name }}")
    assert len(mail.subject) <= 255
    assert mail.subject.endswith("…")


# Escaping


def test_given_an_attribute_with_html_then_it_is_escaped_in_html_and_kept_in_text(renderer: JinjaRenderer) -> None:
    mail = render(
        renderer,
        "<p>{{ user.first_name }}</p>",
        cart_variables(first_name='<script>alert("x")</script>'),
        text="{{ user.first_name }}",
    )
    assert "<script>" not in mail.html
    assert '&lt;script&gt;alert("x")&lt;/script&gt;' in mail.html
    assert mail.text.startswith('<script>alert("x")</script>')


def test_given_an_attribute_in_an_html_attribute_then_quotes_cannot_break_out(renderer: JinjaRenderer) -> None:
    mail = render(renderer, '<a href="{{ user.site }}">x</a>', cart_variables(site='" onclick="evil()'))
    assert 'onclick="evil()"' not in mail.html


# Filters


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1200, "¥1,200"), ("1200", "¥1,200"), (Decimal("1234567"), "¥1,234,567"), (99.5, "¥100"), (-300, "-¥300")],
)
def test_yen_formats_amounts(renderer: JinjaRenderer, value: object, shown: str) -> None:
    assert render(renderer, "{{ user.price | yen }}", cart_variables(price=value)).text.strip() == shown


def test_currency_formats_with_the_code_decimals(renderer: JinjaRenderer) -> None:
    mail = render(renderer, "{{ 12.5 | currency('USD') }} {{ 1200 | currency }} {{ 3 | currency('XYZ') }}")
    assert mail.text.strip() == "$12.50 ¥1,200 3.00 XYZ"


def test_yen_of_text_is_an_error(renderer: JinjaRenderer) -> None:
    with pytest.raises(TemplateRenderError):
        render(renderer, "{{ user.email | yen }}")


def test_date_formats_iso_timestamps_in_a_time_zone(renderer: JinjaRenderer) -> None:
    mail = render(
        renderer,
        "{{ user.ordered_at | date('%Y年%m月%d日 %H:%M', 'Asia/Tokyo') }} {{ user.ordered_at | date }}",
        cart_variables(ordered_at="2025-03-31T16:30:00Z"),
    )
    assert mail.text.strip() == "2025年04月01日 01:30 2025-03-31"


# Validation at save


@pytest.mark.parametrize(
    ("content", "part", "line"),
    [
        (MailContent("{{ user.name ", "<p>x</p>"), "subject", 1),
        (MailContent("s", "<p>\n\n{% for x in y %}</p>"), "html", 3),
        (MailContent("s", "<p>x</p>", "ok\n{% endif %}"), "text", 2),
        (MailContent("s", "<p>{{ x | no_such_filter }}</p>"), "html", 1),
        (MailContent("s", "<p>{% include 'other.html' %}</p>"), "html", 1),
        (MailContent("s", "{% autoescape false %}{{ x }}{% endautoescape %}"), "html", 1),
    ],
)
def test_given_a_broken_template_when_validated_then_the_error_names_part_and_line(
    renderer: JinjaRenderer, content: MailContent, part: str, line: int
) -> None:
    with pytest.raises(InvalidTemplate) as caught:
        renderer.validate(content)
    assert caught.value.field == part
    assert caught.value.line == line
    assert caught.value.message.startswith(f"{part}: line {line}:")


def test_given_an_empty_subject_when_validated_then_it_is_refused(renderer: JinjaRenderer) -> None:
    with pytest.raises(InvalidInput) as caught:
        renderer.validate(MailContent(" ", "<p>x</p>"))
    assert caught.value.field == "subject"


def test_given_a_good_template_when_validated_then_nothing_is_raised(renderer: JinjaRenderer) -> None:
    renderer.validate(
        MailContent(
            '{{ user.first_name | default("お客様") }}様',
            "{% for item in event.properties.items %}{{ item.price | yen }}{% endfor %}",
            "{{ unsubscribe_url }}",
        )
    )


def test_given_a_broken_template_when_rendered_then_it_is_a_render_error(renderer: JinjaRenderer) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render(renderer, "<p>{% if %}</p>")
    assert caught.value.field == "html"


def test_given_a_blank_text_part_then_the_text_is_generated_from_the_html(renderer: JinjaRenderer) -> None:
    mail = render(renderer, "<p>セール開催中</p>", text="  \n")
    assert mail.text == "セール開催中\n"


def test_given_absurdly_nested_variables_then_rendering_fails_cleanly(renderer: JinjaRenderer) -> None:
    nested: dict[str, Any] = {}
    for _ in range(5000):
        nested = {"a": nested}
    with pytest.raises(InvalidInput):
        render(renderer, "<p>x</p>", {"user": nested})
