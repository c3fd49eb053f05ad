"""The unsubscribe pages (ja, en): confirm, unsubscribed (with a way back), subscribed again, errors.

Everything shown is escaped; the pages load nothing, run no script, cannot be framed and post
only to themselves.
"""

from __future__ import annotations

from html import escape
from typing import Any

from tagmail.errors import InvalidInput
from tagmail.pages.forms import read_form
from tagmail.services.unsubscribe import UnsubscribeAction, UnsubscribeResult

SUPPORTED_LOCALES = ("ja", "en")
FALLBACK_LOCALE = "ja"

PAGE_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}

_TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "confirm_title": "配信停止の確認",
        "confirm_lead": "{sender} からのメールの配信を停止しますか？",  # noqa: RUF001 - Japanese punctuation
        "unsubscribe": "配信を停止する",
        "done_title": "配信を停止しました",
        "done_lead": "{sender} からのメールは今後お送りしません。",
        "done_undo": "間違えて停止した場合は、下のボタンで配信を再開できます。",
        "resubscribe": "配信を再開する",
        "again_title": "配信を再開しました",
        "again_lead": "{sender} からのメールの配信を再開しました。",
        "test_note": "これはテスト送信のリンクです。配信設定は変更されません。",
        "error_400_title": "このリンクは無効です",
        "error_400_lead": "リンクが途中で切れているか、変更されています。メールのリンクをもう一度開いてください。",
        "error_404_title": "このリンクは無効です",
        "error_404_lead": "このリンクはもう使えません。",
        "error_title": "ただいま処理できません",
        "error_lead": "しばらくしてから、もう一度お試しください。",
    },
    "en": {
        "confirm_title": "Unsubscribe",
        "confirm_lead": "Do you want to stop receiving e-mail from {sender}?",
        "unsubscribe": "Unsubscribe",
        "done_title": "You have been unsubscribed",
        "done_lead": "You will no longer receive e-mail from {sender}.",
        "done_undo": "Unsubscribed by mistake? You can subscribe again with the button below.",
        "resubscribe": "Subscribe again",
        "again_title": "You are subscribed again",
        "again_lead": "You will receive e-mail from {sender} again.",
        "test_note": "This link comes from a test mail; nothing has been changed.",
        "error_400_title": "This link is not valid",
        "error_400_lead": "The link is incomplete or has been changed. Please open the link in the e-mail again.",
        "error_404_title": "This link is not valid",
        "error_404_lead": "This link can no longer be used.",
        "error_title": "This cannot be done right now",
        "error_lead": "Please try again in a little while.",
    },
}

_STYLE = (
    "body{font-family:system-ui,-apple-system,'Hiragino Sans','Noto Sans JP',sans-serif;background:#f6f6f4;"
    "color:#222;margin:0;padding:2rem 1rem;line-height:1.6}"
    "main{max-width:32rem;margin:0 auto;background:#fff;border-radius:8px;padding:2rem;"
    "box-shadow:0 1px 3px rgba(0,0,0,.1)}"
    "h1{font-size:1.35rem;margin:0 0 1rem}"
    "button{font:inherit;padding:.6rem 1.4rem;border:0;border-radius:6px;background:#1f5fbf;color:#fff;cursor:pointer}"
    "button.secondary{background:#e8e8e4;color:#222}"
    ".note{color:#666;font-size:.9rem}"
)


def requested_action(method: str, content_type: str, body: bytes) -> UnsubscribeAction:
    """GET only shows; a POST unsubscribes (RFC 8058 one-click or the page's button) or subscribes again."""
    if method in ("GET", "HEAD"):
        return UnsubscribeAction.VIEW
    if method != "POST":
        raise InvalidInput(f"{method} is not supported here", field="method")
    fields = read_form(content_type, body)
    action = fields.get("action", "").strip().lower()
    if fields.get("List-Unsubscribe", "").strip().lower() == "one-click" or action == "unsubscribe":
        return UnsubscribeAction.UNSUBSCRIBE
    if action == "resubscribe":
        return UnsubscribeAction.RESUBSCRIBE
    raise InvalidInput("the form asks for neither unsubscribe nor resubscribe", field="action")


def choose_locale(profile_locale: str | None, accept_language: str | None, default: str | None = None) -> str:
    """The recipient's own locale, else the browser's preference, else the project's default."""
    for candidate in (profile_locale, *_preferred(accept_language or ""), default):
        language = (candidate or "").replace("_", "-").split("-", 1)[0].strip().lower()
        if language in SUPPORTED_LOCALES:
            return language
    return FALLBACK_LOCALE


def render_result(result: UnsubscribeResult, locale: str) -> str:
    text = _TEXT[locale]
    unsubscribed = result.action is UnsubscribeAction.UNSUBSCRIBE or (
        result.action is UnsubscribeAction.VIEW and result.subscribed is False
    )
    if unsubscribed:
        title, lead = text["done_title"], text["done_lead"]
        parts = [_paragraph(lead, result.sender_name), _paragraph(text["done_undo"])]
        parts.append(_button("resubscribe", text["resubscribe"], secondary=True))
    elif result.action is UnsubscribeAction.RESUBSCRIBE:
        title = text["again_title"]
        parts = [_paragraph(text["again_lead"], result.sender_name)]
        parts.append(_button("unsubscribe", text["unsubscribe"], secondary=True))
    else:
        title = text["confirm_title"]
        parts = [_paragraph(text["confirm_lead"], result.sender_name), _button("unsubscribe", text["unsubscribe"])]
    if result.test_link:
        parts.append(f'<p class="note">{escape(text["test_note"])}</p>')
    return _document(locale, title, "\n".join(parts))


def render_error(status: int, locale: str) -> str:
    text = _TEXT[locale]
    key = f"error_{status}" if status in (400, 404) else "error"
    return _document(locale, text[f"{key}_title"], _paragraph(text[f"{key}_lead"]))


def page_response(status: int, html: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": dict(PAGE_HEADERS), "body": html, "isBase64Encoded": False}


def _document(locale: str, title: str, content: str) -> str:
    return (
        "<!doctype html>\n"
        f'<html lang="{escape(locale)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n<h1>{escape(title)}</h1>\n{content}\n</main>\n</body>\n</html>\n"
    )


def _paragraph(text: str, sender: str = "") -> str:
    return f"<p>{escape(text.format(sender=sender))}</p>"


def _button(action: str, label: str, secondary: bool = False) -> str:
    # No action attribute: the form posts back to this very URL (the token stays out of the markup).
    css = ' class="secondary"' if secondary else ""
    return (
        f'<form method="post"><input type="hidden" name="action" value="{escape(action)}">'
        f'<button type="submit"{css}>{escape(label)}</button></form>'
    )


def _preferred(header: str) -> list[str]:
    """Accept-Language tags by preference (q value, then order); q=0 excluded."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]
