"""Templates and the values they print are untrusted: nothing in them may run code, reach Python
objects, read configuration or the environment, or make a render hang or eat the memory."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import pytest
from markupsafe import Markup

from tagmail.adapters import rendering
from tagmail.adapters.rendering import JinjaRenderer
from tagmail.domain.templates import Footer, MailContent, RenderedMail
from tagmail.errors import InvalidInput

SECRET = "s3cr3t-value-that-must-never-appear"

SSTI_PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__.os.environ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ config }}",
    "{{ config.items() }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum.__globals__['os'].environ }}",
    "{{ request.application.__globals__ }}",
    "{% set x = namespace() %}{{ x }}",
    "{{ dict(a=1) }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ [].append.__self__ }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ user.__dict__ }}",
    "{{ user.__class__ }}",
    "{{ user.email.__class__.__mro__ }}",
    "{{ user._data }}",
    '{{ "{0.__class__}".format(user) }}',
    '{{ "{0.__init__.__globals__}".format(user.email) }}',
    "{{ '{x.__class__}'.format_map({'x': user}) }}",
    "{{ user | attr('__class__') }}",
    "{{ user.email | attr('__class__') }}",
    "{{ range.__globals__ }}",
    "{{ loop.__class__ }}",
    "{% for x in range(1) %}{{ loop.__init__.__globals__ }}{% endfor %}",
    "{{ user.email.upper.__globals__ }}",
    "{% macro m() %}{% endmacro %}{{ m.__globals__ }}",
    "{% macro m() %}{% endmacro %}{{ m._func.__globals__ }}",
    "{{ 'abc' | map('__class__') | list }}",
    "{{ user | map(attribute='__class__') | list }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% extends '/etc/passwd' %}",
    "{{ '%s' % self }}",
    "{{ '%r' % user }}",
    "{{ user.email.ljust(100) }}",
]


@pytest.fixture(scope="module")
def renderer() -> JinjaRenderer:
    return JinjaRenderer()


@pytest.fixture(autouse=True)
def _secrets_and_no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret in the environment, and process creation turned into a test failure."""
    monkeypatch.setenv("TAGMAIL_TEST_SECRET", SECRET)
    monkeypatch.setenv("MAILGUN_API_KEY", SECRET)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a template started a process")

    monkeypatch.setattr(os, "popen", refuse)
    monkeypatch.setattr(os, "system", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def variables(**user: Any) -> dict[str, Any]:
    return {
        "user": {"email": "taro@example.com", "first_name": "太郎", **user},
        "event": {"name": "Order Completed", "properties": {"items": [{"name": "靴", "price": 1200}]}},
    }


def render_untrusted(renderer: JinjaRenderer, content: MailContent, values: dict[str, Any]) -> str:
    """Everything a render shows to anyone: the mail, or the error message."""
    try:
        mail = renderer.render(content, values, footer=None)
    except InvalidInput as error:
        return f"error: {error.message}"
    return f"mail: {mail.subject}\n{mail.html}\n{mail.text}"


def leaks(shown: str) -> list[str]:
    found = [marker for marker in ("<class", "<function", "<module", "<built-in", "__builtins__") if marker in shown]
    found += [f"environment value {name}" for name, value in os.environ.items() if len(value) >= 12 and value in shown]
    return found


@pytest.mark.parametrize("payload", SSTI_PAYLOADS)
@pytest.mark.parametrize("part", ["subject", "html", "text"])
def test_given_a_template_injection_payload_then_it_is_refused_and_leaks_nothing(
    renderer: JinjaRenderer, payload: str, part: str
) -> None:
    sources = {"subject": "s", "html": "<p>x</p>", "text": "t", part: payload}
    content = MailContent(sources["subject"], sources["html"], sources["text"])

    shown = render_untrusted(renderer, content, variables())

    assert shown.startswith("error: "), shown
    assert leaks(shown) == []


@pytest.mark.parametrize("payload", SSTI_PAYLOADS)
def test_given_a_payload_as_an_attribute_value_then_it_is_printed_literally(
    renderer: JinjaRenderer, payload: str
) -> None:
    mail = renderer.render(
        MailContent("{{ user.first_name }}", "<p>{{ user.first_name }}</p>", "{{ user.first_name }}"),
        variables(first_name=payload),
        footer=None,
    )
    assert mail.subject == " ".join(payload.split())
    assert mail.text == payload
    assert leaks(mail.html + mail.text) == []


def test_given_an_arithmetic_expression_in_an_attribute_then_it_is_not_evaluated(renderer: JinjaRenderer) -> None:
    mail = renderer.render(
        MailContent("{{ user.first_name }}", "<p>{{ user.first_name }}</p>", None),
        variables(first_name="{{ 7*7 }}{% if true %}yes{% endif %}"),
        footer=None,
    )
    assert mail.subject == "{{ 7*7 }}{% if true %}yes{% endif %}"
    assert "49" not in mail.html
    assert "{{ 7*7 }}" in mail.html


def test_given_markup_in_the_variables_then_it_is_still_escaped(renderer: JinjaRenderer) -> None:
    mail = renderer.render(
        MailContent("s", "<p>{{ user.first_name }}</p>", None),
        variables(first_name=Markup("<img src=x onerror=alert(1)>")),
        footer=None,
    )
    assert "<img" not in mail.html


def test_given_the_environment_holds_secrets_then_no_template_variable_reaches_them(
    renderer: JinjaRenderer,
) -> None:
    probes = "{{ environ }}{{ env }}{{ os }}{{ settings }}{{ self }}"
    shown = render_untrusted(renderer, MailContent("s", probes, None), variables())
    assert SECRET not in shown


def test_given_a_footer_then_the_template_sees_only_sender_and_unsubscribe_url(renderer: JinjaRenderer) -> None:
    footer = Footer("https://mail.example.com/u/t", "Shop", "news@mail.shop.example", None, "en")
    mail: RenderedMail = renderer.render(
        MailContent("s", "<p>{{ sender.name }} {{ sender.address }}</p><a href='{{ unsubscribe_url }}'>u</a>", None),
        variables(),
        footer=footer,
    )
    assert "<p>Shop news@mail.shop.example</p>" in mail.html


# Hostile templates end with a clean error, quickly.

HOSTILE_TEMPLATES = [
    pytest.param(
        "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}", id="nested-empty-loops"
    ),
    pytest.param(
        "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}x{% endfor %}"
        "{% endfor %}{% endfor %}",
        id="triple-loop-with-output",
    ),
    pytest.param("{% for i in range(10**9) %}{% endfor %}", id="huge-range"),
    pytest.param("{{ range(10**9) | list | length }}", id="huge-range-list"),
    pytest.param("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", id="infinite-recursion"),
    pytest.param(
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        id="exponential-macro-calls",
    ),
    pytest.param("{{ 'x' * 1000000000 }}", id="string-repeat"),
    pytest.param("{{ ('x' * 900000) + ('y' * 900000) }}", id="string-add"),
    pytest.param("{{ [1] * 1000000000 }}", id="list-repeat"),
    pytest.param("{% set n = 100000000 %}{{ 10 ** n }}", id="huge-power"),
    pytest.param("{{ 2 ** 1000000000 }}", id="constant-folded-power"),
    pytest.param("{% set a = 10 ** 600 %}{{ a * a * a * a * a * a * a * a }}", id="huge-product"),
    pytest.param(
        "{% set a = 'x' * 1000 %}" + "{% set a = a ~ a %}" * 40 + "{{ a | length }}",
        id="concat-doubling",
    ),
    pytest.param(
        "{% set a = 'x' * 1000 %}" + "{% set a %}{{ a }}{{ a }}{% endset %}" * 40 + "{{ a | length }}",
        id="set-block-doubling",
    ),
    pytest.param(
        "{% macro d(s) %}{{ s }}{{ s }}{% endmacro %}{% set a = 'x' * 1000 %}"
        + "{% set a = d(a) %}" * 40
        + "{{ a | length }}",
        id="macro-doubling",
    ),
    pytest.param(
        "{% set a = 'x' * 1000 %}" + "{% set a = a | replace('x', 'xx') %}" * 40 + "{{ a | length }}",
        id="replace-doubling",
    ),
    pytest.param("{{ 'x' | replace('', 'y' * 1000000) }}", id="replace-amplifies"),
    pytest.param("{{ range(10000) | join('y' * 1000) }}", id="join-amplifies"),
    pytest.param("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", id="output-too-large"),
    pytest.param("{{ '%999999999d' % 1 }}", id="percent-format-width"),
    pytest.param("{{ '%*d' % (999999999, 1) }}", id="percent-format-star-width"),
    pytest.param("{{ '%.999999999f' % 1 }}", id="percent-format-precision"),
    pytest.param("{{ 'x'.center(1000000000) }}", id="center-method"),
    pytest.param("{{ 'x' | center(1000000000) }}", id="center-filter"),
    pytest.param("{{ 'a b' | wordwrap(1, wrapstring='x' * 1000000) }}", id="wordwrap-filter"),
    pytest.param("{{ [1, 2] | batch(1000000000, 'x') | list }}", id="batch-filter"),
    pytest.param("{% for x in range(3) recursive %}{{ loop(range(3)) }}{% endfor %}", id="recursive-loop"),
]


@pytest.mark.parametrize("template", HOSTILE_TEMPLATES)
def test_given_a_hostile_template_then_rendering_stops_with_a_clean_error(
    renderer: JinjaRenderer, template: str
) -> None:
    started = time.monotonic()
    with pytest.raises(InvalidInput) as caught:
        renderer.render(MailContent("s", template, None), variables(), footer=None)
    assert caught.value.field == "html"
    assert time.monotonic() - started < 10


def test_given_a_big_but_fair_template_then_it_renders(renderer: JinjaRenderer) -> None:
    template = "{% for a in range(100) %}<p>{% for b in range(100) %}{{ b }}{% endfor %}</p>{% endfor %}"
    mail = renderer.render(MailContent("s", template, None), variables(), footer=None)
    assert mail.html.count("<p>") == 100


def test_given_a_slow_template_then_the_wall_clock_limit_stops_it(
    renderer: JinjaRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rendering, "MAX_SECONDS", -1.0)  # every budget check finds the time is up
    with pytest.raises(InvalidInput) as caught:
        renderer.render(MailContent("s", "{% for i in range(1000) %}{% endfor %}", None), variables(), footer=None)
    assert "longer than" in caught.value.message


def test_given_small_percent_formats_then_numbers_are_formatted(renderer: JinjaRenderer) -> None:
    mail = renderer.render(MailContent("s", "{{ '%.2f' % 3.14159 }} {{ '%05d' % 42 }}", None), variables(), footer=None)
    assert mail.text == "3.14 00042\n"


def test_given_printing_a_macro_or_function_then_it_is_refused(renderer: JinjaRenderer) -> None:
    for template in ("{% macro m() %}{% endmacro %}{{ m }}", "{{ range }}", "{{ [self] | join }}", "{{ self }}"):
        with pytest.raises(InvalidInput):
            renderer.render(MailContent("s", template, None), variables(), footer=None)
