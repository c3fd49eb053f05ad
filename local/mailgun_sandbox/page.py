"""GET /sandbox/: a readable page of accepted messages, newest first, and recent webhook deliveries.

Message HTML is shown in a sandboxed iframe (``sandbox=""``: no scripts, no forms, no same-origin)
through an escaped ``srcdoc``; remote images are blocked by the page's Content-Security-Policy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; base-uri 'none'; "
    "form-action 'none'"
)

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222;max-width:70rem}
h1{font-size:1.3rem} details{border:1px solid #ccc;border-radius:6px;margin:.6rem 0;padding:.4rem .8rem}
summary{cursor:pointer} summary b{margin-right:.5rem} .meta{color:#666;font-size:.85rem}
iframe{width:100%;height:24rem;border:1px solid #ddd;background:#fff}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.6rem;border-radius:4px;overflow:auto}
table{border-collapse:collapse;font-size:.85rem}
td,th{border:1px solid #ddd;padding:.2rem .4rem;text-align:left;vertical-align:top}
.tag{display:inline-block;background:#eef;border-radius:3px;padding:0 .3rem;margin-right:.2rem;font-size:.8rem}
"""


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _message(message: dict[str, Any]) -> str:
    tags = "".join(f'<span class="tag">{escape(tag)}</span>' for tag in message["tags"])
    headers = "".join(
        f"<tr><th>{escape(name)}</th><td>{escape(str(value))}</td></tr>" for name, value in message["headers"].items()
    )
    variables = "".join(
        f"<tr><th>{escape(name)}</th><td>{escape(str(value))}</td></tr>"
        for name, value in message["user_variables"].items()
    )
    parts = []
    if message.get("html"):
        parts.append(
            '<h4>HTML</h4><iframe sandbox="" referrerpolicy="no-referrer" '
            f'title="HTML part" srcdoc="{escape(message["html"], quote=True)}"></iframe>'
        )
    if message.get("text"):
        parts.append(f"<h4>Text</h4><pre>{escape(message['text'])}</pre>")
    if variables:
        parts.append(f"<h4>User variables</h4><table>{variables}</table>")
    parts.append(f"<h4>Headers</h4><table>{headers}</table>")
    scheduled = f" · scheduled for {escape(message['scheduled_for'])}" if message.get("scheduled_for") else ""
    return (
        "<details>"
        f"<summary><b>{escape(message['subject'] or '(no subject)')}</b>"
        f"<span class=meta>to {escape(', '.join(message['recipients']))} · from {escape(message['from'])} · "
        f"{_when(message['timestamp'])}{scheduled}</span> {tags}</summary>"
        f"<p class=meta>id {escape(message['id'])} · storage key {escape(message['storage_key'])} · "
        f'<a href="/sandbox/messages/{escape(message["storage_key"])}">JSON</a> · '
        f'<a href="/sandbox/messages/{escape(message["storage_key"])}/raw">MIME</a></p>'
        f"{''.join(parts)}</details>"
    )


def _delivery(delivery: dict[str, Any]) -> str:
    answers = ", ".join(str(attempt["status"] or attempt["error"]) for attempt in delivery["attempts"])
    cells = (delivery["event"], delivery["recipient"], delivery["url"], delivery["state"], answers)
    return "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in cells) + "</tr>"


def render(messages: list[dict[str, Any]], deliveries: list[dict[str, Any]]) -> str:
    rows = "".join(_delivery(delivery) for delivery in reversed(deliveries[-50:]))
    body = "".join(_message(message) for message in messages) or "<p>No messages yet.</p>"
    table = (
        "<table><tr><th>event</th><th>recipient</th><th>url</th><th>state</th><th>answers</th></tr>" + rows + "</table>"
        if rows
        else "<p>No webhook deliveries yet.</p>"
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Mailgun sandbox</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Mailgun sandbox — {len(messages)} message(s)</h1>"
        '<p class=meta>JSON: <a href="/sandbox/messages">/sandbox/messages</a> · '
        '<a href="/sandbox/events">/sandbox/events</a> · '
        '<a href="/sandbox/webhook-deliveries">/sandbox/webhook-deliveries</a></p>'
        f"{body}<h2>Webhook deliveries (latest 50)</h2>{table}</body></html>"
    )


def unsubscribed(address: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Unsubscribed</title></head>"
        f"<body><p>{escape(address)} has been unsubscribed.</p></body></html>"
    )
