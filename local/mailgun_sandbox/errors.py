"""The one exception the sandbox raises to answer a request with an error."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An HTTP error answer: a status and a body (JSON object, or plain text when ``body`` is a str)."""

    def __init__(self, status: int, body: dict[str, Any] | str) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body

    @classmethod
    def message(cls, status: int, text: str) -> ApiError:
        """Mailgun's usual error shape, ``{"message": text}``."""
        return cls(status, {"message": text})
