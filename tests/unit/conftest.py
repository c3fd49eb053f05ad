from __future__ import annotations

import socket
from datetime import timedelta

import pytest

from tagmail.services.ingest import IngestService
from tagmail.services.keys import KeyResolver
from tagmail.services.projects import CreatedProject, ProjectAdmin
from tests.unit.fakes import FakeApiKeys, FakeClock, FakeEvents, FakeProjects, FakeSecrets, FakeUsers


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests never touch the network: a connection attempt fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("unit tests must not open network connections")

    monkeypatch.setattr(socket.socket, "connect", refuse)


class World:
    """The ingest service wired to fakes, with one project."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.keys = FakeApiKeys()
        self.users = FakeUsers()
        self.events = FakeEvents()
        self.projects = FakeProjects()
        self.secrets = FakeSecrets()
        self.resolver = KeyResolver(self.keys, self.clock)
        self.ingest = IngestService(self.resolver, self.users, self.events, self.clock, timedelta(days=400))
        self.admin = ProjectAdmin(self.projects, self.keys, self.secrets, self.clock)
        self.project: CreatedProject = self.admin.create_project("shop")


@pytest.fixture
def world() -> World:
    return World()
