"""The AWS and Mailgun side of the send-path benchmark: the local stack with the Mailgun sandbox and
the demo project (bench.mail_stack_process) in a child process, so that neither moto's nor the
sandbox's CPU time is counted as the handlers'."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from bench.aws import ROOT, Stack, table_specs


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
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.mail_stack_process"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the local stack did not start (run `python -m bench.mail_stack_process` to see why)")
        facts = json.loads(line)
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
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
