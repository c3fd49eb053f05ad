"""``make run``: the local stack on 127.0.0.1 until Ctrl-C or SIGTERM.

Ports come from TAGMAIL_API_PORT (3000), TAGMAIL_MOTO_PORT (5000) and TAGMAIL_SANDBOX_PORT
(3001); 0 picks a free port. The facts people and tests need are printed and written to
.tagmail/local.json (or the file TAGMAIL_FACTS_FILE names).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from local import logs
from local.stack import LocalStack

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
FACTS_FILE = Path(".tagmail") / "local.json"


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def write_facts(root: Path, facts: dict[str, Any]) -> Path:
    path = root / os.environ.get("TAGMAIL_FACTS_FILE", str(FACTS_FILE))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readers poll for this file; replace it whole so they never see half of it.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def main() -> int:
    logs.configure()
    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        del frame
        logger.info("stopping", extra={"signal": signal.Signals(number).name})
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    stack = LocalStack(
        ROOT,
        api_port=_port("TAGMAIL_API_PORT", 3000),
        moto_port=_port("TAGMAIL_MOTO_PORT", 5000),
        sandbox_port=_port("TAGMAIL_SANDBOX_PORT", 3001),
    )
    with stack:
        project = stack.create_demo_project()
        assert stack.sandbox is not None
        facts: dict[str, Any] = {
            "api": stack.api_url,
            "sandbox": stack.sandbox.url,
            "moto": stack.moto_url,
            "project": project.as_dict(),
            "mailgun": stack.sandbox.facts(),
        }
        path = write_facts(ROOT, facts)
        print(
            f"\ntagmail is running offline\n"
            f"  tracking API     {stack.api_url}\n"
            f"  site tag         {stack.api_url}/web/tag/\n"
            f"  Mailgun sandbox  {stack.sandbox.url}  (sent mail: {stack.sandbox.url}/sandbox/)\n"
            f"  demo shop page   {stack.api_url}/web/demo/index.html?writeKey={project.write_key}\n"
            f"  AWS (moto)       {stack.moto_url}\n"
            f"  demo project     {project.id}\n"
            f"  write key        {project.write_key}\n"
            f"  admin key        {project.admin_key}\n"
            f"  facts file       {path}\n"
            f"Press Ctrl-C to stop.\n",
            flush=True,
        )
        stop.wait()
    return 0
