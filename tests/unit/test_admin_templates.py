"""Templates as admins manage them (immutable versions, no lost updates), previews that render
exactly like sends, and test sends queued on the one send path."""

from __future__ import annotations

import pytest

from tagmail.adapters.rendering import JinjaRenderer
from tagmail.domain.sending import SendKind, SendRequest
from tagmail.domain.settings import MailSettings, ProjectSecrets
from tagmail.domain.templates import InvalidTemplate, MailContent, TemplateRenderError
from tagmail.domain.users import UserProfile
from tagmail.errors import Conflict, InvalidInput, NotFound
from tagmail.services.preview import PreviewCommand, PreviewService, SampleData, TestSendCommand, TestSendService
from tagmail.services.projects import ProjectAdmin
from tagmail.services.templates import TemplateAdmin, VersionDraft
from tests.unit.fakes import (
    FakeApiKeys,
    FakeClock,
    FakeProjects,
    FakeSecrets,
    FakeSendQueue,
    FakeTemplateStore,
    FakeUsers,
)

BASE = "https://tagmail.shop.example"
DOMAIN = "mail.shop.example"


def draft(subject: str = "Hello {{ user.name }}", html: str = "<p>{{ event.item }}</p>") -> VersionDraft:
    return VersionDraft(contents={"ja": MailContent(subject=subject, html=html)}, default_locale="ja")


class Templates:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.store = FakeTemplateStore()
        self.projects = FakeProjects()
        self.secrets = FakeSecrets()
        self.users = FakeUsers()
        self.queue = FakeSendQueue()
        renderer = JinjaRenderer()
        self.admin = TemplateAdmin(templates=self.store, checker=renderer, clock=self.clock)
        self.project_id = (
            ProjectAdmin(self.projects, FakeApiKeys(), self.secrets, self.clock).create_project("shop").project_id
        )
        self.previews = PreviewService(
            projects=self.projects,
            secrets=self.secrets,
            users=self.users,
            templates=self.store,
            renderer=renderer,
            checker=renderer,
            public_base_url=BASE,
        )
        self.test_sends = TestSendService(previews=self.previews, secrets=self.secrets, queue=self.queue)

    def ready_to_send(self) -> None:
        project = self.projects.get(self.project_id)
        assert project is not None
        settings = MailSettings(sending_domain=DOMAIN, sender_address=f"news@{DOMAIN}", sender_name="Shop")
        self.projects.update(type(project)(project.project_id, project.name, project.created_at, settings))
        stored = self.secrets.get(self.project_id)
        assert stored is not None
        self.secrets.put(
            self.project_id, ProjectSecrets(unsubscribe_secret=stored.unsubscribe_secret, mailgun_api_key="key-1")
        )


@pytest.fixture
def t() -> Templates:
    return Templates()


# -- versions -------------------------------------------------------------------------------------


def test_a_new_version_never_changes_an_earlier_one(t: Templates) -> None:
    created = t.admin.create(t.project_id, "welcome", draft(subject="v1"))

    t.admin.add_version(t.project_id, created.template.id, draft(subject="v2"))

    first = t.admin.get(t.project_id, created.template.id, version=1)
    latest = t.admin.get(t.project_id, created.template.id)
    assert first.version.contents["ja"].subject == "v1"
    assert latest.version.contents["ja"].subject == "v2"
    assert latest.template.latest_version == 2


def test_a_concurrent_writer_of_the_same_version_gets_a_conflict(t: Templates) -> None:
    created = t.admin.create(t.project_id, "welcome", draft())
    other = TemplateAdmin(templates=t.store, checker=JinjaRenderer(), clock=t.clock)
    # The other editor saves version 2 between this one's read and its write.
    t.store.before_write = lambda: other.add_version(t.project_id, created.template.id, draft(subject="theirs"))

    with pytest.raises(Conflict):
        t.admin.add_version(t.project_id, created.template.id, draft(subject="mine"))

    assert t.admin.get(t.project_id, created.template.id).version.contents["ja"].subject == "theirs"


def test_an_edit_based_on_an_old_version_is_a_conflict(t: Templates) -> None:
    created = t.admin.create(t.project_id, "welcome", draft())
    t.admin.add_version(t.project_id, created.template.id, draft(subject="v2"), based_on=1)

    with pytest.raises(Conflict, match="version 2"):
        t.admin.add_version(t.project_id, created.template.id, draft(subject="stale"), based_on=1)


def test_a_syntax_error_names_the_locale_part_and_line(t: Templates) -> None:
    broken = VersionDraft(
        contents={"en": MailContent(subject="Hi", html="<p>ok</p>\n\n{% for x in %}")}, default_locale="en"
    )

    with pytest.raises(InvalidTemplate) as excinfo:
        t.admin.create(t.project_id, "welcome", broken)

    assert excinfo.value.field == "contents.en.html"
    assert excinfo.value.line == 3
    assert t.store.templates == {}


def test_a_default_locale_without_content_is_refused(t: Templates) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        t.admin.create(t.project_id, "welcome", VersionDraft({"ja": MailContent("s", "<p>h</p>")}, "en"))

    assert excinfo.value.field == "default_locale"


def test_templates_of_another_project_are_not_found(t: Templates) -> None:
    created = t.admin.create(t.project_id, "welcome", draft())

    with pytest.raises(NotFound):
        t.admin.get("p-other", created.template.id)
    assert t.admin.list("p-other") == []


# -- previews -------------------------------------------------------------------------------------


def test_a_preview_of_sample_data_has_the_send_paths_variables_and_footer(t: Templates) -> None:
    t.ready_to_send()

    preview = t.previews.preview(
        t.project_id,
        PreviewCommand(
            content=MailContent(subject="{{ user.name }} / {{ sender.name }}", html="<p>{{ user.email }}</p>"),
            data=SampleData(user={"name": "Hanako"}),
        ),
    )

    assert preview.subject == "Hanako / Shop"
    assert "recipient@example.com" in preview.html  # sample data always has an address
    assert f"{BASE}/u/{t.project_id}." in preview.html  # the footer's unsubscribe link
    assert f"news@{DOMAIN}" in preview.text  # the footer names the sender


def test_a_preview_for_a_stored_user_uses_their_profile_and_locale(t: Templates) -> None:
    created = t.admin.create(
        t.project_id,
        "welcome",
        VersionDraft(
            {
                "ja": MailContent("こんにちは {{ user.name }}", "<p>ja</p>"),
                "en": MailContent("Hi {{ user.name }}", "<p>en</p>"),
            },
            "ja",
        ),
    )
    profile = UserProfile.new(t.project_id, "u:42", t.clock())
    t.users.save(
        type(profile)(**{**profile.__dict__, "email": "h@example.com", "locale": "en-GB", "attributes": {"name": "H"}}),
        None,
    )

    preview = t.previews.preview(
        t.project_id, PreviewCommand(template_id=created.template.id, data=SampleData(user_id="42"))
    )

    assert preview.subject == "Hi H"
    assert preview.locale == "en"
    assert preview.template_version == 1


def test_a_missing_variable_is_named(t: Templates) -> None:
    with pytest.raises(TemplateRenderError) as excinfo:
        t.previews.preview(
            t.project_id,
            PreviewCommand(content=MailContent(subject="Hi {{ user.first_name }}", html="<p>x</p>")),
        )

    assert excinfo.value.variable == "user.first_name"
    assert excinfo.value.field == "content.subject"


def test_a_preview_for_an_unknown_user_is_not_found(t: Templates) -> None:
    with pytest.raises(NotFound, match="user nobody"):
        t.previews.preview(
            t.project_id,
            PreviewCommand(content=MailContent("s", "<p>h</p>"), data=SampleData(user_id="nobody")),
        )


def test_a_preview_needs_content_or_a_template(t: Templates) -> None:
    with pytest.raises(InvalidInput):
        t.previews.preview(t.project_id, PreviewCommand())


# -- test sends -----------------------------------------------------------------------------------


def test_a_test_send_is_queued_with_the_version_it_rendered(t: Templates) -> None:
    t.ready_to_send()
    created = t.admin.create(t.project_id, "welcome", draft())

    queued = t.test_sends.send(
        t.project_id,
        TestSendCommand(
            to="QA@Shop.Example",
            template_id=created.template.id,
            data=SampleData(user={"name": "QA"}, event={"item": "tea"}),
        ),
    )

    [request] = t.queue.requests
    assert request.kind is SendKind.TEST
    assert request.to == "QA@Shop.Example"
    assert request.template_version == 1
    assert request.event == {"item": "tea"}
    assert queued.send_key == request.send_key
    assert SendRequest.from_json(request.to_json()) == request  # the send function can read it


def test_every_test_send_is_a_new_send(t: Templates) -> None:
    t.ready_to_send()
    created = t.admin.create(t.project_id, "welcome", draft())
    command = TestSendCommand(
        to="qa@shop.example", template_id=created.template.id, data=SampleData(user={"name": "QA"}, event={"item": "x"})
    )

    first = t.test_sends.send(t.project_id, command)
    second = t.test_sends.send(t.project_id, command)

    assert first.send_key != second.send_key


def test_a_broken_test_send_fails_now_not_in_the_queue(t: Templates) -> None:
    t.ready_to_send()
    created = t.admin.create(t.project_id, "welcome", draft())

    with pytest.raises(TemplateRenderError) as excinfo:
        t.test_sends.send(t.project_id, TestSendCommand(to="qa@shop.example", template_id=created.template.id))

    assert excinfo.value.variable in ("user.name", "event.item")
    assert t.queue.requests == []


def test_a_project_that_cannot_send_yet_says_what_is_missing(t: Templates) -> None:
    created = t.admin.create(t.project_id, "welcome", draft())

    with pytest.raises(Conflict, match="sending_domain, sender_address, mailgun_api_key"):
        t.test_sends.send(t.project_id, TestSendCommand(to="qa@shop.example", template_id=created.template.id))
