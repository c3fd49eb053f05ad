"""The demo project every local stack gets, created through tagmail's own composition root."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DemoProject:
    id: str
    write_key: str
    admin_key: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def create_demo_project(name: str = "demo") -> DemoProject:
    """Create a project through tagmail.bootstrap.

    Call only after LocalStack.start(): bootstrap caches its clients, so the endpoint and table
    names must already be in os.environ and layers/core on sys.path when it is first imported.
    """
    from tagmail import bootstrap

    created = bootstrap.project_admin().create_project(name=name)
    return DemoProject(id=created.project_id, write_key=created.write_key, admin_key=created.admin_key)
