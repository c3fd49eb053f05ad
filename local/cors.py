"""An HTTP API's CorsConfiguration, applied the way API Gateway applies it.

With CORS configured, API Gateway answers preflight requests itself (even without an OPTIONS
route) and puts its own CORS headers on every response, replacing the integration's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class CorsPolicy:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_configuration(cls, value: Any) -> CorsPolicy | None:
        """SAM's CorsConfiguration: false/absent, true (allow everything) or an object."""
        if not value:
            return None
        if value is True:
            return cls(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
        return cls(
            allow_origins=tuple(value.get("AllowOrigins") or ()),
            allow_methods=tuple(method.upper() for method in value.get("AllowMethods") or ()),
            allow_headers=tuple(header.lower() for header in value.get("AllowHeaders") or ()),
            expose_headers=tuple(header.lower() for header in value.get("ExposeHeaders") or ()),
            max_age=int(value["MaxAge"]) if value.get("MaxAge") is not None else None,
            allow_credentials=str(value.get("AllowCredentials", False)).lower() == "true",
        )

    def _allowed_origin(self, origin: str | None) -> str | None:
        if not origin:
            return None
        if "*" in self.allow_origins:
            return "*"
        return origin if origin in self.allow_origins else None

    def response_headers(self, origin: str | None) -> Headers:
        allowed = self._allowed_origin(origin)
        if allowed is None:
            return []
        headers = [("access-control-allow-origin", allowed)]
        if self.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
        if self.expose_headers:
            headers.append(("access-control-expose-headers", ",".join(self.expose_headers)))
        return headers

    def preflight_headers(self, origin: str | None, requested_method: str, requested_headers: str) -> Headers:
        headers = self.response_headers(origin)
        if not headers:
            return []
        methods = requested_method if "*" in self.allow_methods else ",".join(self.allow_methods)
        allowed_headers = requested_headers if "*" in self.allow_headers else ",".join(self.allow_headers)
        headers.append(("access-control-allow-methods", methods))
        if allowed_headers:
            headers.append(("access-control-allow-headers", allowed_headers))
        if self.max_age is not None:
            headers.append(("access-control-max-age", str(self.max_age)))
        return headers

    def replace_headers(self, headers: Headers, origin: str | None) -> Headers:
        """API Gateway's CORS headers win over whatever the integration returned."""
        kept = [(name, value) for name, value in headers if not name.lower().startswith("access-control-")]
        return kept + self.response_headers(origin)
