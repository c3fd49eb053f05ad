"""Notices tagmail itself sends to a project's notification address, and their built-in contents.

A notice is operational mail: it goes through the one send path, but names a reserved template id
instead of a saved template, so it needs nothing the project's admins must set up first. Each kind
has a Japanese and an English content, rendered like a saved template from the request's variables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from tagmail.domain.templates import MailContent, TemplateVersion

# Saved templates never have ids with this prefix; only operational sends may name one.
NOTICE_TEMPLATE_PREFIX = "tagmail:notice:"
_BUILT_IN = datetime(2026, 1, 1, tzinfo=UTC)


class NoticeKind(StrEnum):
    QUOTA_NEARLY_REACHED = "quota_90"  # the month's sends reached 90 % of the monthly limit
    QUOTA_REACHED = "quota_100"  # ... and 100 %
    DOMAIN_RECORD_BROKEN = "domain_record_broken"  # a required DNS record of the sending domain broke

    @property
    def template_id(self) -> str:
        return NOTICE_TEMPLATE_PREFIX + self.value


_QUOTA_FACTS_JA = (
    "<p>{{ project_name }} の {{ month }} の送信数が {{ sent }} 通になり、"
    "月間の送信上限 {{ limit }} 通の {{ percent }}% に達しました。</p>"
)
_QUOTA_FACTS_EN = (
    "<p>{{ project_name }} has sent {{ sent }} mails in {{ month }}: {{ percent }} % of its "
    "monthly limit of {{ limit }}.</p>"
)

# Variables: project_name, month, percent, sent, limit, allow_overage.
_CONTENTS: dict[NoticeKind, dict[str, MailContent]] = {
    NoticeKind.QUOTA_NEARLY_REACHED: {
        "ja": MailContent(
            "[tagmail] {{ project_name }}: 今月の送信数が上限の{{ percent }}%に達しました",
            _QUOTA_FACTS_JA + "<p>{% if allow_overage %}超過送信が許可されているため、上限を超えても送信は続きます。"
            "{% else %}上限に達すると、翌月になるか上限を引き上げるまで送信が止まります。"
            "必要なら管理画面で月間の送信上限を引き上げてください。{% endif %}</p>",
        ),
        "en": MailContent(
            "[tagmail] {{ project_name }}: {{ percent }} % of this month's sending limit used",
            _QUOTA_FACTS_EN + "<p>{% if allow_overage %}Sending continues past the limit (overage is allowed)."
            "{% else %}At the limit, sending stops until next month or until the limit is raised; "
            "raise the monthly limit in the settings if you need more.{% endif %}</p>",
        ),
    },
    NoticeKind.QUOTA_REACHED: {
        "ja": MailContent(
            "[tagmail] {{ project_name }}: 今月の送信数が上限に達しました",
            _QUOTA_FACTS_JA + "<p>{% if allow_overage %}超過送信が許可されているため、送信は続きます。"
            "{% else %}送信を止めました。翌月になるか、月間の送信上限を引き上げると再開します。"
            "上限で止まった配信は、もう一度実行すると止まったところから送られます。{% endif %}</p>",
        ),
        "en": MailContent(
            "[tagmail] {{ project_name }}: this month's sending limit is reached",
            _QUOTA_FACTS_EN + "<p>{% if allow_overage %}Sending continues, as overage is allowed."
            "{% else %}Sending has stopped. It starts again next month, or as soon as the monthly limit "
            "is raised; a delivery the limit stopped continues where it stopped when it is run again."
            "{% endif %}</p>",
        ),
    },
    # Variables: project_name, domain, checked_at, wait_hours, checks [{name, summary, records}].
    NoticeKind.DOMAIN_RECORD_BROKEN: {
        "ja": MailContent(
            "[tagmail] {{ project_name }}: 送信ドメイン {{ domain }} のDNSレコードが壊れています",
            "<p>{{ project_name }} の送信ドメイン {{ domain }} を {{ checked_at }} に確認したところ、"
            "必須のDNSレコードが正しくありませんでした。直るまでマーケティングメールとテスト送信は止まり、"
            "直ったことを確認してから {{ wait_hours }} 時間後に再開します。</p>"
            "{% for check in checks %}<h3>{{ check.name }}</h3><p>{{ check.summary }}</p>"
            "{% if check.records %}<p>DNSに追加するレコード:</p><pre>{% for record in check.records %}"
            "{{ record }}\n{% endfor %}</pre>{% endif %}{% endfor %}"
            "<p>最新の状態は管理APIの GET /admin/v1/domain、またはコマンド tagmail domain check で確認できます。</p>",
        ),
        "en": MailContent(
            "[tagmail] {{ project_name }}: a DNS record of {{ domain }} broke",
            "<p>The check of {{ project_name }}'s sending domain {{ domain }} at {{ checked_at }} found a required "
            "DNS record broken. Marketing mail and test sends stop until it is fixed, and start again "
            "{{ wait_hours }} hours after the fix is seen.</p>"
            "{% for check in checks %}<h3>{{ check.name }}</h3><p>{{ check.summary }}</p>"
            "{% if check.records %}<p>Records to add to DNS:</p><pre>{% for record in check.records %}"
            "{{ record }}\n{% endfor %}</pre>{% endif %}{% endfor %}"
            "<p>See the current state with GET /admin/v1/domain or the command tagmail domain check.</p>",
        ),
    },
}


def notice_template(template_id: str) -> TemplateVersion | None:
    """The built-in content a reserved template id names; None for any other id."""
    if not template_id.startswith(NOTICE_TEMPLATE_PREFIX):
        return None
    try:
        kind = NoticeKind(template_id.removeprefix(NOTICE_TEMPLATE_PREFIX))
    except ValueError:
        return None
    return TemplateVersion(kind.template_id, 1, _BUILT_IN, _CONTENTS[kind], "ja")
