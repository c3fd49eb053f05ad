"""Fixtures of the integration tests that need no local stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.mailgun_sandbox import MailgunSandbox


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[MailgunSandbox]:
    """A fresh Mailgun sandbox with the test module's ``DOMAIN`` active. A module may also set
    ``SIGNING_KEY`` and ``WEBHOOK_RETRY_SCALE`` (e.g. to run Mailgun's retry schedule in moments)."""
    module = request.module
    box = MailgunSandbox(port=0, signing_key=getattr(module, "SIGNING_KEY", None))
    box.webhook_retry_scale = getattr(module, "WEBHOOK_RETRY_SCALE", 1.0)
    box.start()
    box.add_domain(module.DOMAIN, state="active")
    try:
        yield box
    finally:
        box.stop()
