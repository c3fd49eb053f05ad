"""The AWS and Mailgun side of the send-path benchmark: the local stack with the Mailgun sandbox and
the demo project (bench.mail_stack_process) in a child process, so that neither moto's nor the
sandbox's CPU time is counted as the handlers'."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from bench.aws import ROOT, Stack, stack_process, table_specs


@dataclass(frozen=True)
class MailStack(Stack):
    project_id: str = ""
    write_key: str = ""
    sandbox_url: str = ""
    receiver_url: str = ""
    webhook_types: tuple[str, ...] = ()

    def webhook_bodies(self, start: int = 0) -> list[str]:
        """The webhook bodies the sandbox posted, from the `start`-th on, as it posted them."""
        answer = requests.get(f"{self.receiver_url}/received?from={start}", timeout=10)
        answer.raise_for_status()
        return list(answer.json())

    def wait_for_webhooks(self, count: int, timeout: float = 60.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            bodies = self.webhook_bodies()
            if len(bodies) >= count or time.monotonic() > deadline:
                return bodies
            time.sleep(0.2)

    def sandbox_messages(self) -> list[dict[str, Any]]:
        """What the sandbox accepted (newest first), without the raw MIME."""
        answer = requests.get(f"{self.sandbox_url}/sandbox/messages", timeout=30)
        answer.raise_for_status()
        return list(answer.json())


@contextlib.contextmanager
def mail_stack() -> Iterator[MailStack]:
    with stack_process("bench.mail_stack_process") as facts:
        yield MailStack(
            facts["moto_url"],
            facts["physical_names"],
            facts["environment"],
            table_specs(ROOT / "template.yaml", facts["physical_names"]),
            project_id=facts["project"]["id"],
            write_key=facts["project"]["write_key"],
            sandbox_url=facts["sandbox_url"],
            receiver_url=facts["receiver_url"],
            webhook_types=tuple(facts["webhook_types"]),
        )
