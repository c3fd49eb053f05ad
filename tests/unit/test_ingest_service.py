"""The ingest use case on fakes: profiles, merge rules, aliases, dedupe, keys."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tagmail.domain.projects import KeyKind
from tagmail.domain.tracking import Endpoint
from tagmail.errors import Conflict, DependencyUnavailable, InvalidInput, Unauthorized
from tagmail.services.ingest import IngestCommand
from tests.unit.conftest import World


def send(world: World, endpoint: Endpoint, document: dict[str, Any], write_key: str | None = "") -> Any:
    key = world.project.write_key if write_key == "" else write_key
    return world.ingest.ingest(IngestCommand(endpoint, json.dumps(document).encode(), key))


def identify(world: World, user_id: str, at_offset_s: float = 0, **traits: Any) -> None:
    timestamp = (world.clock() + timedelta(seconds=at_offset_s)).isoformat()
    send(world, Endpoint.IDENTIFY, {"userId": user_id, "traits": traits, "timestamp": timestamp})


def test_identify_creates_the_profile(world: World) -> None:
    identify(world, "u1", email="Alice@Example.com", subscription=True, locale="ja-JP", plan="gold")
    profile = world.users.profile(world.project.project_id, "u:u1")
    assert (profile.email, profile.email_canonical) == ("Alice@Example.com", "alice@example.com")
    assert profile.subscription is True
    assert profile.locale == "ja-JP"
    assert profile.attributes == {"plan": "gold"}


def test_later_traits_overwrite_and_absent_traits_are_kept(world: World) -> None:
    identify(world, "u1", email="a@example.com", plan="gold", city="Osaka")
    identify(world, "u1", 10, plan="silver")
    profile = world.users.profile(world.project.project_id, "u:u1")
    assert profile.email == "a@example.com"
    assert profile.attributes == {"plan": "silver", "city": "Osaka"}


def test_an_older_identify_arriving_late_only_fills_gaps(world: World) -> None:
    identify(world, "u1", 10, subscription=False, plan="silver")
    identify(world, "u1", 0, subscription=True, plan="gold", city="Osaka")
    profile = world.users.profile(world.project.project_id, "u:u1")
    assert profile.subscription is False, "a late, older consent must not resubscribe the user"
    assert profile.attributes == {"plan": "silver", "city": "Osaka"}


def test_subscription_false_is_recorded_with_when_it_changed(world: World) -> None:
    identify(world, "u1", email="a@example.com", subscription=True)
    world.clock.advance(minutes=5)
    identify(world, "u1", subscription=False)
    profile = world.users.profile(world.project.project_id, "u:u1")
    assert profile.subscription is False
    assert profile.subscription_changed_at == world.clock()


def test_a_repeated_identical_identify_does_not_write_the_profile_again(world: World) -> None:
    document = {"userId": "u1", "traits": {"email": "a@example.com"}, "messageId": "m1"}
    send(world, Endpoint.IDENTIFY, document)
    writes = world.users.writes
    send(world, Endpoint.IDENTIFY, {**document, "messageId": "m2"})
    assert world.users.writes == writes


def test_identify_with_an_anonymous_id_links_the_visitor_and_carries_their_traits(world: World) -> None:
    send(world, Endpoint.IDENTIFY, {"anonymousId": "a1", "traits": {"email": "anon@example.com", "source": "ad"}})
    send(world, Endpoint.TRACK, {"anonymousId": "a1", "event": "cart_add"})
    send(world, Endpoint.IDENTIFY, {"userId": "u1", "anonymousId": "a1", "traits": {"plan": "gold"}})
    project = world.project.project_id
    anonymous = world.users.profile(project, "a:a1")
    user = world.users.profile(project, "u:u1")
    assert anonymous.alias_of == "u1"
    assert not anonymous.mailable_address, "the address now belongs to the user, not to a second recipient"
    assert user.email_canonical == "anon@example.com"
    assert user.attributes == {"source": "ad", "plan": "gold"}


def test_an_anonymous_id_stays_linked_to_the_first_user(world: World) -> None:
    send(world, Endpoint.IDENTIFY, {"userId": "u1", "anonymousId": "a1", "traits": {}})
    send(world, Endpoint.IDENTIFY, {"userId": "u2", "anonymousId": "a1", "traits": {}})
    assert world.users.profile(world.project.project_id, "a:a1").alias_of == "u1"


def test_alias_links_the_previous_id(world: World) -> None:
    send(world, Endpoint.BATCH, {"batch": [{"type": "alias", "userId": "u1", "previousId": "a7"}]})
    assert world.users.profile(world.project.project_id, "a:a7").alias_of == "u1"


def test_a_retried_message_is_stored_once(world: World) -> None:
    document = {"userId": "u1", "event": "cart_add", "messageId": "m-42"}
    first = send(world, Endpoint.TRACK, document)
    again = send(world, Endpoint.TRACK, document)
    assert (first.stored, again.stored, again.duplicates) == (1, 0, 1)
    assert len(world.events.of(world.project.project_id)) == 1


def test_events_expire_after_the_retention(world: World) -> None:
    send(world, Endpoint.TRACK, {"userId": "u1", "event": "x", "messageId": "m"})
    [(_, expires_at)] = world.events.items.values()
    assert expires_at == world.clock() + timedelta(days=400)


def test_a_bad_batch_stores_nothing(world: World) -> None:
    batch = [
        {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}},
        {"type": "track", "userId": "u1", "event": "x"},
        {"type": "track", "userId": "u1"},
    ]
    with pytest.raises(InvalidInput):
        send(world, Endpoint.BATCH, {"batch": batch})
    assert world.events.items == {}
    assert world.users.items == {}


def test_a_batch_interrupted_by_a_store_failure_is_completed_by_the_retry_without_duplicates(world: World) -> None:
    batch = [{"type": "track", "userId": "u1", "event": "x", "messageId": f"m{i}"} for i in range(5)]
    world.events.fail_on = 3
    with pytest.raises(DependencyUnavailable):
        send(world, Endpoint.BATCH, {"batch": batch})
    result = send(world, Endpoint.BATCH, {"batch": batch})
    assert (result.stored, result.duplicates) == (3, 2)
    assert len(world.events.of(world.project.project_id)) == 5


def test_unknown_missing_and_admin_keys_are_unauthorized(world: World) -> None:
    document = {"userId": "u1", "event": "x"}
    for key in ("wk_made_up", None, world.project.admin_key):
        with pytest.raises(Unauthorized):
            send(world, Endpoint.TRACK, document, write_key=key)
    assert world.events.items == {}


def test_the_write_key_may_come_in_the_body(world: World) -> None:
    document = {"userId": "u1", "event": "x", "writeKey": world.project.write_key}
    assert send(world, Endpoint.TRACK, document, write_key=None).stored == 1


def test_keys_are_cached_per_container(world: World) -> None:
    for _ in range(5):
        world.resolver.project_for(world.project.write_key, KeyKind.WRITE)
    assert world.keys.reads == 1
    world.clock.advance(seconds=61)
    world.resolver.project_for(world.project.write_key, KeyKind.WRITE)
    assert world.keys.reads == 2


def test_concurrent_profile_writes_are_merged_by_retrying(world: World) -> None:
    world.users.collide_next = 2
    identify(world, "u1", email="a@example.com")
    assert world.users.profile(world.project.project_id, "u:u1").email == "a@example.com"


def test_endless_collisions_end_in_a_retryable_conflict(world: World) -> None:
    world.users.collide_next = 100
    with pytest.raises(Conflict):
        identify(world, "u1", email="a@example.com")


def test_projects_keys_are_stored_only_as_hashes(world: World) -> None:
    stored = list(world.keys.items)
    assert world.project.write_key not in stored
    assert world.project.admin_key not in stored
    assert len(stored) == 2


def test_the_clients_locale_and_zone_fill_the_profile_but_never_override_the_shop(world: World) -> None:
    context = {"locale": "en-US", "timezone": "America/New_York"}
    send(world, Endpoint.IDENTIFY, {"userId": "u1", "traits": {}, "context": context})
    profile = world.users.profile(world.project.project_id, "u:u1")
    assert (profile.locale, profile.timezone) == ("en-US", "America/New_York")

    send(world, Endpoint.IDENTIFY, {"userId": "u2", "traits": {"locale": "ja-JP", "timezone": "Asia/Tokyo"}})
    send(world, Endpoint.IDENTIFY, {"userId": "u2", "traits": {}, "context": context})
    profile = world.users.profile(world.project.project_id, "u:u2")
    assert (profile.locale, profile.timezone) == ("ja-JP", "Asia/Tokyo")


def test_an_invalid_client_context_is_ignored_not_refused(world: World) -> None:
    context = {"locale": 42, "timezone": "Nowhere/City"}
    assert send(world, Endpoint.IDENTIFY, {"userId": "u1", "traits": {}, "context": context}).stored == 1
    assert world.users.profile(world.project.project_id, "u:u1").locale is None
