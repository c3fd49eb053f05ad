"""Domain errors. Adapters translate SDK errors into these; entry points map them to responses."""

from __future__ import annotations


class TagmailError(Exception):
    """Base of every error tagmail raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(TagmailError):
    """The caller sent something tagmail refuses; `field` names where (e.g. "batch[2].traits.email")."""

    code = "invalid_input"

    def __init__(self, message: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        if code:
            self.code = code


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"


class Unauthorized(TagmailError):
    code = "unauthorized"


class NotFound(TagmailError):
    code = "not_found"


class Conflict(TagmailError):
    code = "conflict"


class Rejected(TagmailError):
    """Refused for good (a forged, stale or replayed webhook): the sender must not retry."""

    code = "rejected"


class DependencyUnavailable(TagmailError):
    """A store or provider tagmail depends on failed; the caller may retry."""

    code = "dependency_unavailable"


class ConfigurationError(TagmailError):
    code = "configuration_error"
