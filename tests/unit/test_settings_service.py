"""Settings: the product's rules on addresses and domains, secrets kept apart, and the Mailgun side
of a sending domain (created when missing, every webhook type pointed at tagmail)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tagmail.adapters.mailgun import MailgunRejected, MailgunUnavailable
from tagmail.domain.settings import MailSettings
from tagmail.domain.webhooks import WEBHOOK_TYPES as MAILGUN_WEBHOOK_TYPES
from tagmail.errors import Conflict, DependencyUnavailable, InvalidInput, NotFound
from tagmail.services.projects import ProjectAdmin
from tagmail.services.settings import (
    WEBHOOK_TYPES,
    MailgunUnreachable,
    SettingsChange,
    SettingsService,
    SettingsView,
)
from tests.unit.fakes import FakeApiKeys, FakeClock, FakeMailgunDomains, FakeMxLookup, FakeProjects, FakeSecrets

DOMAIN = "mail.shop.example"
BASE = "https://tagmail.shop.example"
OURS = f"{BASE}/webhooks/mailgun"
KEY = "key-0123456789abcdef"


class Setup:
    def __init__(self) -> None:
        self.projects = FakeProjects()
        self.secrets = FakeSecrets()
        self.mx = FakeMxLookup()
        self.mailgun = FakeMailgunDomains()
        self.service = SettingsService(
            projects=self.projects,
            secrets=self.secrets,
            mx_lookup=self.mx,
            mailgun_for=self.mailgun,
            public_base_url=BASE,
        )
        admin = ProjectAdmin(self.projects, FakeApiKeys(), self.secrets, FakeClock())
        self.project_id = admin.create_project("shop").project_id

    def save(self, api_key: str | None = None, signing_key: str | None = None, **fields: object) -> SettingsView:
        settings = replace(MailSettings(), **fields)  # type: ignore[arg-type]
        change = SettingsChange(settings=settings, mailgun_api_key=api_key, webhook_signing_key=signing_key)
        return self.service.update(self.project_id, change)

    def stored(self) -> MailSettings:
        project = self.projects.get(self.project_id)
        assert project is not None
        return project.settings


@pytest.fixture
def setup() -> Setup:
    return Setup()


def refusal(excinfo: pytest.ExceptionInfo[InvalidInput]) -> tuple[str | None, str]:
    return excinfo.value.field, excinfo.value.message


# -- addresses and domains ------------------------------------------------------------------------


def test_valid_settings_are_saved_in_canonical_form(setup: Setup) -> None:
    view = setup.save(
        sending_domain=" Mail.Shop.Example. ",
        sender_name=" Shop ",
        sender_address="news@mail.shop.example",
        reply_to="support@shop.example",
        notification_address="ops@shop.example",
        default_locale="en-US",
        timezone="Europe/Berlin",
    )

    stored = setup.stored()
    assert stored.sending_domain == DOMAIN
    assert stored.sender_name == "Shop"
    assert stored.reply_to == "support@shop.example"
    assert stored.default_locale == "en-US"
    assert view.settings == stored


def test_a_sender_off_the_domain_is_refused_with_the_spoofing_risk(setup: Setup) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        setup.save(sending_domain=DOMAIN, sender_address="news@shop.example")

    field, message = refusal(excinfo)
    assert field == "sender_address"
    assert DOMAIN in message
    assert "spoofed" in message
    assert setup.stored() == MailSettings()  # nothing was written


def test_a_sender_on_a_subdomain_of_the_domain_is_refused(setup: Setup) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        setup.save(sending_domain=DOMAIN, sender_address="news@eu.mail.shop.example")

    assert excinfo.value.field == "sender_address"


def test_the_sender_domain_is_compared_case_insensitively(setup: Setup) -> None:
    setup.save(sending_domain=DOMAIN, sender_address="News@MAIL.Shop.Example")

    assert setup.stored().sender_address == "News@MAIL.Shop.Example"


def test_a_sender_without_a_domain_is_refused(setup: Setup) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        setup.save(sender_address="news@mail.shop.example")

    assert excinfo.value.field == "sender_address"
    assert "sending_domain" in excinfo.value.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sender_address", "news(at)mail.shop.example"),
        ("reply_to", "support@@shop.example"),
        ("reply_to", "support@shop"),
        ("notification_address", "ops@-shop.example"),
        ("sending_domain", "not a domain"),
        ("sending_domain", "localhost"),
        ("sending_domain", "192.0.2.1"),
        ("sender_name", "Shop\r\nBcc: victim@example.com"),
        ("timezone", "Tokyo"),
        ("timezone", "Mars/Olympus_Mons"),
        ("default_locale", "japanese!"),
        ("mailgun_base_url", "http://sandbox.example.com"),
        ("mailgun_base_url", "ftp://api.mailgun.net"),
        ("mailgun_base_url", "https://user:pw@api.mailgun.net"),
    ],
)
def test_malformed_values_are_refused_naming_the_field(setup: Setup, field: str, value: str) -> None:
    fields: dict[str, object] = {"sending_domain": DOMAIN, field: value}

    with pytest.raises(InvalidInput) as excinfo:
        setup.save(**fields)

    assert excinfo.value.field == field


def test_an_http_base_url_is_allowed_only_to_this_machine(setup: Setup) -> None:
    setup.save(mailgun_base_url="http://127.0.0.1:8025/")

    assert setup.stored().mailgun_base_url == "http://127.0.0.1:8025"
    assert setup.stored().api_base_url == "http://127.0.0.1:8025"


def test_a_reply_to_on_a_domain_with_mx_records_is_refused(setup: Setup) -> None:
    setup.mx.hosts[DOMAIN] = ("mxa.mailgun.org", "mxb.mailgun.org")

    with pytest.raises(InvalidInput) as excinfo:
        setup.save(sending_domain=DOMAIN, sender_address=f"news@{DOMAIN}", reply_to=f"support@{DOMAIN}")

    field, message = refusal(excinfo)
    assert field == "reply_to"
    assert "MX" in message
    assert "mxa.mailgun.org" in message


def test_a_reply_to_on_the_domain_is_fine_without_mx_records(setup: Setup) -> None:
    setup.save(sending_domain=DOMAIN, sender_address=f"news@{DOMAIN}", reply_to=f"support@{DOMAIN}")

    assert setup.stored().reply_to == f"support@{DOMAIN}"
    assert setup.mx.lookups == [DOMAIN]


def test_a_reply_to_on_another_domain_needs_no_dns_lookup(setup: Setup) -> None:
    setup.mx.failing = True

    setup.save(sending_domain=DOMAIN, reply_to="support@shop.example")

    assert setup.mx.lookups == []


def test_a_failed_mx_lookup_is_reported_not_read_as_no_mx(setup: Setup) -> None:
    setup.mx.failing = True

    with pytest.raises(DependencyUnavailable, match="MX"):
        setup.save(sending_domain=DOMAIN, reply_to=f"support@{DOMAIN}")

    assert setup.stored() == MailSettings()


# -- secrets --------------------------------------------------------------------------------------


def test_secrets_go_to_the_secret_store_and_are_never_returned(setup: Setup) -> None:
    view = setup.save(api_key=KEY, signing_key="signing-0123")

    stored = setup.secrets.get(setup.project_id)
    assert stored is not None
    assert stored.mailgun_api_key == KEY
    assert stored.webhook_signing_key == "signing-0123"
    assert stored.unsubscribe_secret  # kept from project creation
    assert view.mailgun_api_key_set is True
    assert view.webhook_signing_key_set is True
    assert KEY not in repr(view)
    assert KEY not in repr(setup.stored())


def test_an_omitted_secret_is_kept_and_an_empty_one_removed(setup: Setup) -> None:
    setup.save(api_key=KEY, signing_key="signing-0123")

    setup.save(signing_key="")

    stored = setup.secrets.get(setup.project_id)
    assert stored is not None
    assert stored.mailgun_api_key == KEY
    assert stored.webhook_signing_key is None
    assert setup.service.get(setup.project_id).webhook_signing_key_set is False


def test_a_secret_with_spaces_is_refused(setup: Setup) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        setup.save(api_key="key with spaces")

    assert excinfo.value.field == "mailgun_api_key"
    assert "with spaces" not in excinfo.value.message


def test_settings_of_a_missing_project_are_not_found(setup: Setup) -> None:
    with pytest.raises(NotFound):
        setup.service.get("p-missing")


# -- the domain at Mailgun ------------------------------------------------------------------------


def test_the_service_listens_to_every_mailgun_webhook_type() -> None:
    assert set(WEBHOOK_TYPES) == set(MAILGUN_WEBHOOK_TYPES)
    assert len(WEBHOOK_TYPES) == 8


def test_a_new_domain_is_created_at_mailgun_with_webhooks_for_all_types(setup: Setup) -> None:
    view = setup.save(api_key=KEY, sending_domain=DOMAIN, sender_address=f"news@{DOMAIN}")

    assert ("create_domain", DOMAIN) in setup.mailgun.calls
    assert setup.mailgun.hooks[DOMAIN] == {kind: [OURS] for kind in WEBHOOK_TYPES}
    setup_result = view.mailgun
    assert setup_result is not None
    assert setup_result.created is True
    assert set(setup_result.webhooks.registered) == set(WEBHOOK_TYPES)
    assert {r.record_type for r in setup_result.sending_dns_records} == {"TXT", "CNAME"}
    assert [r.value for r in setup_result.receiving_dns_records] == ["mxa.mailgun.org", "mxb.mailgun.org"]
    assert setup.mailgun.api_keys == [("https://api.mailgun.net", KEY)]


def test_an_existing_domain_is_not_created_again(setup: Setup) -> None:
    setup.mailgun.create_domain(DOMAIN)
    setup.mailgun.calls.clear()

    view = setup.save(api_key=KEY, sending_domain=DOMAIN)

    assert ("create_domain", DOMAIN) not in setup.mailgun.calls
    assert view.mailgun.created is False
    assert view.mailgun.state == "unverified"


def test_urls_the_customer_added_are_kept(setup: Setup) -> None:
    theirs = "https://crm.shop.example/mailgun"
    setup.mailgun.hooks[DOMAIN] = {"delivered": [theirs], "clicked": [theirs, "https://bi.shop.example/hook"]}

    setup.save(api_key=KEY, sending_domain=DOMAIN)

    hooks = setup.mailgun.hooks[DOMAIN]
    assert hooks["delivered"] == [theirs, OURS]
    assert hooks["clicked"] == [theirs, "https://bi.shop.example/hook", OURS]
    assert ("set_webhook", DOMAIN, "delivered", "PUT") in setup.mailgun.calls
    assert ("set_webhook", DOMAIN, "opened", "POST") in setup.mailgun.calls


def test_a_second_save_changes_nothing_at_mailgun(setup: Setup) -> None:
    setup.save(api_key=KEY, sending_domain=DOMAIN)
    before = {kind: list(urls) for kind, urls in setup.mailgun.hooks[DOMAIN].items()}
    setup.mailgun.calls.clear()

    view = setup.save(api_key=KEY, sending_domain=DOMAIN)

    assert setup.mailgun.writes() == []
    assert setup.mailgun.hooks[DOMAIN] == before
    assert set(view.mailgun.webhooks.present) == set(WEBHOOK_TYPES)


def test_our_url_is_recognised_with_a_trailing_slash(setup: Setup) -> None:
    setup.mailgun.create_domain(DOMAIN)
    setup.mailgun.hooks[DOMAIN] = {kind: [OURS + "/"] for kind in WEBHOOK_TYPES}

    setup.save(api_key=KEY, sending_domain=DOMAIN)

    assert setup.mailgun.writes() == [("create_domain", DOMAIN)]


def test_a_type_with_three_other_urls_is_reported_and_left_alone(setup: Setup) -> None:
    others = [f"https://hook{n}.shop.example/" for n in range(3)]
    setup.mailgun.hooks[DOMAIN] = {"clicked": list(others)}

    view = setup.save(api_key=KEY, sending_domain=DOMAIN)

    hooks = view.mailgun.webhooks
    assert hooks.full == ("clicked",)
    assert "clicked" in hooks.problems[0]
    assert "3" in hooks.problems[0]
    assert setup.mailgun.hooks[DOMAIN]["clicked"] == others
    assert set(hooks.registered) == set(WEBHOOK_TYPES) - {"clicked"}
    assert setup.stored().sending_domain == DOMAIN  # the settings are saved


def test_edits_that_do_not_touch_the_mailgun_connection_do_not_call_mailgun(setup: Setup) -> None:
    setup.save(api_key=KEY, sending_domain=DOMAIN)
    setup.mailgun.calls.clear()
    setup.mailgun.failure = MailgunUnavailable("Mailgun error 503: down", 503)

    view = setup.save(sending_domain=DOMAIN, enabled=False)

    assert setup.mailgun.calls == []
    assert view.mailgun is None
    assert setup.stored().enabled is False


def test_a_domain_without_an_api_key_is_saved_without_mailgun(setup: Setup) -> None:
    view = setup.save(sending_domain=DOMAIN)

    assert setup.mailgun.calls == []
    assert view.mailgun is None


def test_a_changed_base_url_sets_the_domain_up_there(setup: Setup) -> None:
    setup.save(api_key=KEY, sending_domain=DOMAIN)

    setup.save(sending_domain=DOMAIN, mailgun_base_url="https://api.eu.mailgun.net")

    assert setup.mailgun.api_keys[-1] == ("https://api.eu.mailgun.net", KEY)


def test_a_refused_api_key_names_the_key_and_saves_nothing(setup: Setup) -> None:
    setup.mailgun.failure = MailgunRejected("Mailgun refused (401): Invalid private key", 401)

    with pytest.raises(InvalidInput) as excinfo:
        setup.save(api_key=KEY, sending_domain=DOMAIN)

    assert excinfo.value.field == "mailgun_api_key"
    assert "Invalid private key" in excinfo.value.message
    assert setup.stored() == MailSettings()
    stored = setup.secrets.get(setup.project_id)
    assert stored is not None
    assert stored.mailgun_api_key is None


def test_a_domain_mailgun_refuses_names_mailguns_message(setup: Setup) -> None:
    setup.mailgun.failure = MailgunRejected("Mailgun refused (400): Domain name is already taken", 400)

    with pytest.raises(InvalidInput) as excinfo:
        setup.save(api_key=KEY, sending_domain=DOMAIN)

    assert excinfo.value.field == "sending_domain"
    assert "already taken" in excinfo.value.message
    assert excinfo.value.code == "mailgun_rejected"


def test_mailgun_down_is_a_gateway_failure_and_saves_nothing(setup: Setup) -> None:
    setup.mailgun.failure = MailgunUnavailable("Mailgun error 503: Service Unavailable", 503)

    with pytest.raises(MailgunUnreachable, match="Service Unavailable"):
        setup.save(api_key=KEY, sending_domain=DOMAIN)

    assert setup.stored() == MailSettings()


def test_the_domain_report_shows_mailguns_records(setup: Setup) -> None:
    setup.save(api_key=KEY, sending_domain=DOMAIN)

    report = setup.service.domain_report(setup.project_id)

    assert report.domain == DOMAIN
    assert report.state == "unverified"
    assert len(report.sending_dns_records) == 3
    assert all(record.purpose == "receiving" for record in report.receiving_dns_records)


def test_the_domain_report_needs_a_domain_and_a_key(setup: Setup) -> None:
    with pytest.raises(Conflict, match="sending domain"):
        setup.service.domain_report(setup.project_id)

    setup.save(sending_domain=DOMAIN)
    with pytest.raises(Conflict, match="API key"):
        setup.service.domain_report(setup.project_id)


def test_a_domain_unknown_to_mailgun_is_not_found(setup: Setup) -> None:
    setup.save(sending_domain=DOMAIN)
    setup.save(sending_domain=DOMAIN, api_key=KEY)
    setup.mailgun.domains.clear()

    with pytest.raises(NotFound, match="Mailgun does not know"):
        setup.service.domain_report(setup.project_id)
