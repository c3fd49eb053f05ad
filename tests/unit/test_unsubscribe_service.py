"""Unsubscribing by link on fakes: only the user a project's signed token names changes, only on POST."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from tagmail.domain.projects import Project
from tagmail.domain.settings import MailSettings, ProjectSecrets
from tagmail.domain.stats import Counter
from tagmail.domain.unsubscribe import UnsubscribeClaim, make_token
from tagmail.domain.users import UserProfile
from tagmail.errors import InvalidInput, NotFound
from tagmail.services.unsubscribe import (
    UnsubscribeAction,
    UnsubscribeCommand,
    UnsubscribeResult,
    UnsubscribeService,
)
from tests.unit.fakes import FakeClock, FakeProjects, FakeSecrets, FakeStats, FakeUsers

PROJECT, OTHER = "p1", "p2"
SECRET, OTHER_SECRET = "unsubscribe-secret-p1", "unsubscribe-secret-p2"

VIEW, UNSUBSCRIBE, RESUBSCRIBE = UnsubscribeAction.VIEW, UnsubscribeAction.UNSUBSCRIBE, UnsubscribeAction.RESUBSCRIBE


class Unsubscribes:
    """The unsubscribe service on fakes: two projects, users A and B subscribed in the first."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.projects = FakeProjects()
        self.secrets = FakeSecrets()
        self.users = FakeUsers()
        self.stats = FakeStats()
        self.service = UnsubscribeService(
            projects=self.projects, secrets=self.secrets, users=self.users, stats=self.stats, clock=self.clock
        )
        for project_id, secret in ((PROJECT, SECRET), (OTHER, OTHER_SECRET)):
            settings = MailSettings(sender_name=f"Shop {project_id}", default_locale="ja")
            self.projects.add(Project(project_id, project_id, self.clock(), settings))
            self.secrets.put(project_id, ProjectSecrets(unsubscribe_secret=secret))
        for key, locale in (("u:alice", "en-US"), ("u:bob", None)):
            profile = replace(UserProfile.new(PROJECT, key, self.clock()), subscription=True, locale=locale)
            self.users.save(profile, expected=None)

    def token(self, user_key: str = "u:alice", campaign: str = "c1", project: str = PROJECT) -> str:
        secret = SECRET if project == PROJECT else OTHER_SECRET
        return make_token(secret, UnsubscribeClaim(project, user_key, campaign))

    def subscribed(self, key: str, project: str = PROJECT) -> bool | None:
        return self.users.profile(project, key).subscription

    def run(self, token: str, action: UnsubscribeAction = UNSUBSCRIBE) -> UnsubscribeResult:
        return self.service.handle(UnsubscribeCommand(token=token, action=action))


@pytest.fixture
def subs() -> Unsubscribes:
    return Unsubscribes()


def test_an_unsubscribe_turns_the_named_users_subscription_off_at_once(subs: Unsubscribes) -> None:
    result = subs.run(subs.token("u:alice"))

    assert result.changed
    assert result.subscribed is False
    assert subs.subscribed("u:alice") is False
    assert subs.users.profile(PROJECT, "u:alice").subscription_changed_at == subs.clock()
    assert subs.subscribed("u:bob") is True
    assert subs.stats.counts == {(PROJECT, "c1", "-"): {Counter.UNSUBSCRIBED: 1}}


def test_viewing_the_page_changes_nothing(subs: Unsubscribes) -> None:
    result = subs.run(subs.token("u:alice"), VIEW)

    assert (result.action, result.subscribed, result.changed) == (VIEW, True, False)
    assert (result.sender_name, result.profile_locale, result.default_locale) == ("Shop p1", "en-US", "ja")
    assert subs.subscribed("u:alice") is True
    assert subs.users.writes == 2  # the two profiles of the setup, nothing since
    assert not subs.stats.counts


def test_unsubscribing_twice_counts_once(subs: Unsubscribes) -> None:
    subs.run(subs.token())
    again = subs.run(subs.token())

    assert not again.changed
    assert again.subscribed is False
    assert subs.stats.total(Counter.UNSUBSCRIBED) == 1


def test_resubscribing_turns_the_subscription_back_on(subs: Unsubscribes) -> None:
    subs.run(subs.token())
    result = subs.run(subs.token(), RESUBSCRIBE)

    assert result.changed
    assert result.subscribed is True
    assert subs.subscribed("u:alice") is True
    assert subs.stats.total(Counter.UNSUBSCRIBED) == 1


def _flip_last(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def _altered(token: str, user_key: str) -> str:
    project_id, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps([user_key, "c1"], separators=(",", ":")).encode()).rstrip(b"=")
    return f"{project_id}.{payload.decode()}.{signature}"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda s: _altered(s.token("u:alice"), "u:bob"), id="payload altered to another user"),
        pytest.param(lambda s: _flip_last(s.token("u:bob")), id="signature altered"),
        pytest.param(lambda s: make_token(OTHER_SECRET, UnsubscribeClaim(PROJECT, "u:bob", "c1")), id="other secret"),
        pytest.param(lambda s: s.token("u:bob").replace(f"{PROJECT}.", f"{OTHER}.", 1), id="other project named"),
        pytest.param(lambda s: "not-a-token", id="malformed"),
    ],
)
def test_a_token_for_user_a_cannot_unsubscribe_user_b(subs: Unsubscribes, forge: Callable[[Unsubscribes], str]) -> None:
    with pytest.raises(InvalidInput):
        subs.run(forge(subs))
    assert subs.subscribed("u:alice") is True
    assert subs.subscribed("u:bob") is True
    assert not subs.stats.counts


@pytest.mark.parametrize("project_id", ["p-unknown", "p1/p2", "p1 "])
def test_a_token_of_an_unknown_project_is_not_found(subs: Unsubscribes, project_id: str) -> None:
    token = make_token(SECRET, UnsubscribeClaim(project_id, "u:bob", "c1"))
    with pytest.raises(NotFound):
        subs.run(token)
    assert subs.subscribed("u:bob") is True


def test_a_test_send_link_shows_the_pages_but_changes_nothing(subs: Unsubscribes) -> None:
    result = subs.run(subs.token("test"))

    assert result.test_link
    assert not result.changed
    assert result.subscribed is None
    assert subs.subscribed("u:alice") is True
    assert not subs.stats.counts


def test_an_anonymous_key_linked_to_a_user_unsubscribes_that_user(subs: Unsubscribes) -> None:
    subs.users.save(replace(UserProfile.new(PROJECT, "a:visitor", subs.clock()), alias_of="bob"), expected=None)

    assert subs.run(subs.token("a:visitor")).changed
    assert subs.subscribed("u:bob") is False
    assert subs.users.profile(PROJECT, "a:visitor").subscription is None


def test_a_link_for_a_deleted_user_creates_no_profile(subs: Unsubscribes) -> None:
    result = subs.run(subs.token("u:gone"))

    assert not result.changed
    assert (PROJECT, "u:gone") not in subs.users.items
    assert not subs.stats.counts


def test_a_concurrent_profile_write_is_retried(subs: Unsubscribes) -> None:
    subs.users.collide_next = 2
    assert subs.run(subs.token()).changed
    assert subs.subscribed("u:alice") is False
