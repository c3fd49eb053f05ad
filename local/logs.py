"""Readable structured logs for the local stack: the message, then ``key=value`` extras."""

from __future__ import annotations

import logging

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = " ".join(
            f"{key}={value!r}" if isinstance(value, str) and " " in value else f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _STANDARD
        )
        if not extras:
            return text
        first, newline, rest = text.partition("\n")  # keep tracebacks below the fields
        return f"{first} {extras}{newline}{rest}"


def configure(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # werkzeug logs every moto request at INFO; that drowns the stack's own lines.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
