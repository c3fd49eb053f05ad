"""Render throughput on one core: tagmail's JinjaRenderer against a bare Jinja2 render of the same
template source, and where the renderer's time goes.

Every stage runs on the same personalised mails, one mail after the other, interleaved stage by
stage so that changes in the machine's speed hit them alike. Templates are compiled before the
clock starts (the renderer caches compiled templates per container; the bare environments keep
the Template object).

Stages (each timed alone, on the output of the one before it, as `JinjaRenderer.render` runs them):
- bare Jinja2: `jinja2.Environment(autoescape=True)`, plain dicts, subject and HTML only: no
  sandbox, no CSS inlining, no text part, no footer;
- Jinja2's own sandbox: `ImmutableSandboxedEnvironment(autoescape=True)`, the same;
- tagmail's data wrapping: the variables turned into read-only records that name missing values;
- tagmail's sandboxed render of the subject and HTML from those records (tagmail's environment:
  bounded loops, calls and output, a step budget);
- CSS inlining (css-inline), HTML to text, the unsubscribe footer (HTML and text), the subject
  clean-up;
- and the whole `JinjaRenderer.render`, whose time the stages should add up to.

The stages call the renderer's own internals (`_wrap`, `_render_part`, `_inline_css`) so that
they measure exactly the code the send path runs.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from secrets import token_hex
from typing import Any

from bench import shop_mail
from bench.throughput import percentile

STAGES = {
    "bare_jinja2": "bare Jinja2 (Environment(autoescape=True)): subject + HTML",
    "jinja2_sandbox": "Jinja2's ImmutableSandboxedEnvironment: subject + HTML",
    "tagmail_wrap": "tagmail: variables to read-only records",
    "tagmail_sandbox_render": "tagmail's sandboxed environment: subject + HTML from the records",
    "css_inline": "CSS inlining (css-inline)",
    "html_to_text": "text part from the HTML",
    "footer_html": "unsubscribe footer, HTML (looks for the link first, then inserts it)",
    "footer_text": "unsubscribe footer, text part",
    "subject": "subject clean-up",
    "renderer_total": "JinjaRenderer.render, the whole",
}
# The stages JinjaRenderer.render runs, in order (their sum is compared with renderer_total).
RENDERER_STAGES = (
    "tagmail_wrap",
    "tagmail_sandbox_render",
    "css_inline",
    "html_to_text",
    "footer_html",
    "footer_text",
    "subject",
)


@dataclass(frozen=True)
class Mail:
    variables: dict[str, Any]
    footer: Any


def mails(count: int) -> list[Mail]:
    """Distinct recipients and carts, with the variables and footer the send path builds."""
    from tagmail.domain.settings import MailSettings, ProjectSecrets
    from tagmail.domain.unsubscribe import UnsubscribeClaim
    from tagmail.domain.users import UserProfile, user_key
    from tagmail.services.send import mail_variables, marketing_footer, unsubscribe_link

    settings = MailSettings(
        sending_domain="mg.shop.example",
        sender_name="Example Shop",
        sender_address="news@mg.shop.example",
        reply_to="support@shop.example.com",
        postal_address="東京都千代田区丸の内1-2-3",
    )
    secrets = ProjectSecrets(unsubscribe_secret=token_hex(32))
    now = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    result = []
    for index in range(count):
        address = f"shopper{index}@example.jp"
        given = shop_mail.traits(index, address)
        attributes = {k: v for k, v in given.items() if k not in ("email", "subscription", "locale", "timezone")}
        key = user_key(f"user-{index:05d}")
        profile = UserProfile(
            project_id="p-bench",
            key=key,
            created_at=now,
            updated_at=now,
            email=address,
            email_canonical=address,
            subscription=True,
            locale="ja-JP",
            timezone="Asia/Tokyo",
            attributes=attributes,
        )
        url = unsubscribe_link(
            "https://mail-api.shop.example", secrets, UnsubscribeClaim("p-bench", key, "cart-abandonment")
        )
        variables = mail_variables(
            settings, profile=profile, address=address, event=shop_mail.checkout_event(index), unsubscribe_url=url
        )
        result.append(Mail(variables, marketing_footer(settings, url, "ja")))
    return result


def _yen(value: Any) -> str:
    return f"¥{int(value):,}"


def stage_functions(sample: list[Mail]) -> dict[str, Callable[[Mail, dict[str, Any]], None]]:
    """One function per stage; each reads what earlier stages left in `state` and adds its output."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from tagmail.adapters import rendering
    from tagmail.domain.templates import MailContent

    content = MailContent(shop_mail.SUBJECT, shop_mail.HTML)
    renderer = rendering.JinjaRenderer()
    bare = jinja2.Environment(autoescape=True)
    bare.filters["yen"] = _yen
    stock_sandbox = ImmutableSandboxedEnvironment(autoescape=True)
    stock_sandbox.filters["yen"] = _yen
    compiled = {
        "bare": (bare.from_string(shop_mail.SUBJECT), bare.from_string(shop_mail.HTML)),
        "sandbox": (stock_sandbox.from_string(shop_mail.SUBJECT), stock_sandbox.from_string(shop_mail.HTML)),
    }

    def bare_jinja2(mail: Mail, state: dict[str, Any]) -> None:
        subject, html = compiled["bare"]
        state["bare"] = (subject.render(mail.variables), html.render(mail.variables))

    def jinja2_sandbox(mail: Mail, state: dict[str, Any]) -> None:
        subject, html = compiled["sandbox"]
        state["sandboxed"] = (subject.render(mail.variables), html.render(mail.variables))

    def tagmail_wrap(mail: Mail, state: dict[str, Any]) -> None:
        data = dict(mail.variables)
        data.setdefault("unsubscribe_url", mail.footer.unsubscribe_url)
        data.setdefault("sender", {"name": mail.footer.sender_name, "address": mail.footer.sender_address})
        state["context"] = {str(k): rendering._wrap(v, str(k)) for k, v in data.items() if v is not None}

    def tagmail_sandbox_render(mail: Mail, state: dict[str, Any]) -> None:
        with rendering._budgeted():
            state["subject"] = renderer._render_part("subject", content.subject, state["context"])
            state["html"] = renderer._render_part("html", content.html, state["context"])

    def css_inline(mail: Mail, state: dict[str, Any]) -> None:
        state["inlined"] = renderer._inline_css(state["html"])

    def html_to_text(mail: Mail, state: dict[str, Any]) -> None:
        state["text"] = rendering.html_to_text(state["html"])

    def footer_html(mail: Mail, state: dict[str, Any]) -> None:
        state["final_html"] = rendering.add_html_footer(state["inlined"], mail.footer)

    def footer_text(mail: Mail, state: dict[str, Any]) -> None:
        state["final_text"] = rendering.add_text_footer(state["text"], mail.footer)

    def subject(mail: Mail, state: dict[str, Any]) -> None:
        state["final_subject"] = rendering.clean_subject(state["subject"])

    def renderer_total(mail: Mail, state: dict[str, Any]) -> None:
        state["rendered"] = renderer.render(content, mail.variables, footer=mail.footer)

    functions: dict[str, Callable[[Mail, dict[str, Any]], None]] = {
        "bare_jinja2": bare_jinja2,
        "jinja2_sandbox": jinja2_sandbox,
        "tagmail_wrap": tagmail_wrap,
        "tagmail_sandbox_render": tagmail_sandbox_render,
        "css_inline": css_inline,
        "html_to_text": html_to_text,
        "footer_html": footer_html,
        "footer_text": footer_text,
        "subject": subject,
        "renderer_total": renderer_total,
    }
    # Warm-up: compiles the renderer's templates and checks that the stages rebuild its output.
    for mail in sample:
        state: dict[str, Any] = {}
        for function in functions.values():
            function(mail, state)
        rendered = state["rendered"]
        if (state["final_subject"], state["final_html"], state["final_text"]) != (
            rendered.subject,
            rendered.html,
            rendered.text,
        ):
            raise RuntimeError("the stages do not add up to JinjaRenderer.render's output")
    return functions


def _pin_to_one_core() -> Callable[[], None]:
    """Run on one CPU (as a Lambda function at 512 MB has less than one); returns the undo."""
    if not hasattr(os, "sched_getaffinity"):
        return lambda: None
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    return lambda: os.sched_setaffinity(0, before)


def run(count: int, distinct: int = 200, block: int = 50) -> dict[str, Any]:
    """`count` mails per stage, in blocks of `block` mails; the groups of stages take turns going first."""
    sample = mails(distinct)
    functions = stage_functions(sample)
    # Each mail's inputs to every stage, from one pass of the whole chain (the warm-up).
    states: list[dict[str, Any]] = []
    for mail in sample:
        state: dict[str, Any] = {}
        for function in functions.values():
            function(mail, state)
        states.append(state)
    rounds = max(1, count // block)
    wall: dict[str, list[float]] = {name: [] for name in functions}
    cpu: dict[str, list[float]] = {name: [] for name in functions}
    # Whole renders and the two baselines are timed a block at a time; the renderer's stages are
    # timed one by one inside a block that runs them in the renderer's order for each mail, so
    # that each stage meets the caches as it does inside JinjaRenderer.render.
    groups: list[tuple[str, ...]] = [("bare_jinja2",), ("jinja2_sandbox",), RENDERER_STAGES, ("renderer_total",)]
    unpin = _pin_to_one_core()
    gc.collect()
    try:
        for round_ in range(rounds):
            chosen = [(round_ * block + i) % distinct for i in range(block)]
            turn = round_ % len(groups)
            for group in groups[turn:] + groups[:turn]:
                spent_wall = dict.fromkeys(group, 0.0)
                spent_cpu = dict.fromkeys(group, 0.0)
                for i in chosen:
                    for name in group:
                        started_wall, started_cpu = time.perf_counter(), time.process_time()
                        functions[name](sample[i], states[i])
                        spent_wall[name] += time.perf_counter() - started_wall
                        spent_cpu[name] += time.process_time() - started_cpu
                for name in group:
                    wall[name].append(spent_wall[name] / block)
                    cpu[name].append(spent_cpu[name] / block)
    finally:
        unpin()

    def figures(name: str) -> dict[str, Any]:
        per_mail = statistics.median(wall[name])
        return {
            "description": STAGES[name],
            "mails": rounds * block,
            "mails_per_second": 1 / per_mail,
            "ms_per_mail": per_mail * 1000,
            "ms_per_mail_block_p95": percentile(wall[name], 0.95) * 1000,
            "cpu_ms_per_mail": statistics.median(cpu[name]) * 1000,
        }

    stages = {name: figures(name) for name in functions}
    total = stages["renderer_total"]["ms_per_mail"]
    for name in RENDERER_STAGES:
        stages[name]["share_of_renderer"] = stages[name]["ms_per_mail"] / total
    example, rendered = states[0], states[0]["rendered"]
    return {
        "stages": stages,
        "block": block,
        "sum_of_renderer_stages_ms": sum(stages[name]["ms_per_mail"] for name in RENDERER_STAGES),
        "renderer_vs_bare": total / stages["bare_jinja2"]["ms_per_mail"],
        "distinct_mails": distinct,
        "sizes": {
            "template_html_chars": len(shop_mail.HTML),
            "bare_html_chars": len(example["bare"][1]),
            "rendered_html_chars": len(example["html"]),
            "inlined_html_chars": len(example["inlined"]),
            "final_html_chars": len(rendered.html),
            "final_html_bytes": len(rendered.html.encode()),
            "text_chars": len(rendered.text),
            "text_bytes": len(rendered.text.encode()),
        },
    }
