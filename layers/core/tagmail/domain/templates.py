"""Saved mail templates: their versions, one content per locale, the locale fallback rule, and what
rendering produces."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from tagmail.errors import InvalidInput

MAX_NAME_LENGTH = 200
# A locale tag as sites send it: "ja", "ja-JP", "en_US", "zh-Hant-TW".
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


class InvalidTemplate(InvalidInput):
    """A template part that cannot be compiled or breaks a template rule; `field` names the part."""

    code = "invalid_template"

    def __init__(self, message: str, field: str | None = None, line: int | None = None) -> None:
        super().__init__(message, field=field)
        self.line = line


class TemplateRenderError(InvalidTemplate):
    """Rendering a template for one recipient failed: a variable without value or default, a
    refused operation, a limit reached. `variable` names the missing variable when that was it."""

    code = "template_render_error"

    def __init__(
        self, message: str, field: str | None = None, line: int | None = None, variable: str | None = None
    ) -> None:
        super().__init__(message, field=field, line=line)
        self.variable = variable


@dataclass(frozen=True)
class MailContent:
    """One locale of one template version: Jinja sources of the subject, HTML and (optional) text."""

    subject: str
    html: str
    text: str | None = None


@dataclass(frozen=True)
class TemplateVersion:
    """An immutable version of a template; sends name the version they rendered."""

    template_id: str
    version: int
    created_at: datetime
    contents: Mapping[str, MailContent]
    default_locale: str

    def __post_init__(self) -> None:
        if self.version < 1:
            raise InvalidInput("must be 1 or more", field="version")
        if not self.contents:
            raise InvalidInput("a template version needs the content of at least one locale", field="contents")
        for locale in self.contents:
            if not _LOCALE.match(locale):
                raise InvalidInput(f"{locale!r} is not a locale tag such as 'ja' or 'en-US'", field="contents")
        if len({normalize_locale(locale) for locale in self.contents}) != len(self.contents):
            raise InvalidInput("a locale is given twice (locale tags are case-insensitive)", field="contents")
        if self.default_locale not in self.contents:
            raise InvalidInput("the default locale must be one of the contents' locales", field="default_locale")
        # Frozen means frozen: callers cannot change a stored version through the mapping.
        object.__setattr__(self, "contents", MappingProxyType(dict(self.contents)))

    def locale_for(self, wanted: str | None) -> str:
        return pick_locale(self.contents, wanted, self.default_locale)

    def content_for(self, wanted: str | None) -> MailContent:
        """The content to send to a recipient who reads `wanted` (their profile's locale)."""
        return self.contents[self.locale_for(wanted)]


@dataclass(frozen=True)
class Template:
    """A named template of a project; its contents live in numbered versions."""

    id: str
    project_id: str
    name: str
    latest_version: int
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidInput("must not be empty", field="name")
        if len(self.name) > MAX_NAME_LENGTH:
            raise InvalidInput(f"must be at most {MAX_NAME_LENGTH} characters", field="name")
        if self.latest_version < 1:
            raise InvalidInput("must be 1 or more", field="latest_version")

    @property
    def next_version(self) -> int:
        return self.latest_version + 1


@dataclass(frozen=True)
class Footer:
    """The sender's identity and the visible unsubscribe link every marketing mail must carry
    (bulk-sender rules and Japanese law). Operational mail has none."""

    unsubscribe_url: str
    sender_name: str | None
    sender_address: str
    postal_address: str | None = None
    locale: str | None = None

    def __post_init__(self) -> None:
        if not self.unsubscribe_url.strip():
            raise InvalidInput("a marketing mail needs an unsubscribe link", field="unsubscribe_url")


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    html: str
    text: str


def normalize_locale(tag: str) -> str:
    return tag.strip().replace("_", "-").lower()


def _language(tag: str) -> str:
    return normalize_locale(tag).split("-", 1)[0]


def pick_locale(available: Iterable[str], wanted: str | None, default: str) -> str:
    """The available locale to use for a reader of `wanted`: the same tag (case-insensitive), else
    its language ("ja-JP" → "ja"), else another tag of that language ("ja" → "ja-JP"), else
    `default`. Returns the tag as spelled in `available` (`default` itself when it is not there)."""
    by_tag: dict[str, str] = {}
    for tag in available:
        by_tag.setdefault(normalize_locale(tag), tag)
    for candidate in (wanted, default):
        if not candidate or not candidate.strip():
            continue
        tag = normalize_locale(candidate)
        if tag in by_tag:
            return by_tag[tag]
        language = _language(candidate)
        if language in by_tag:
            return by_tag[language]
        same_language = sorted(key for key in by_tag if key.split("-", 1)[0] == language)
        if same_language:
            return by_tag[same_language[0]]
    return default
