"""Run by bench.aws in a child process: the project's local stack (moto + every resource of
template.yaml), with no event sources wired, so the benchmark process holds only the handlers.

Prints one JSON line (moto URL, physical names, the functions' environments), then serves until
its stdin is closed.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from local.stack import LocalStack

FUNCTIONS = ("IngestFunction", "TriggerFunction")


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no log line per moto request
    root = Path(__file__).resolve().parent.parent
    stack = LocalStack(root, api_port=0, moto_port=0, event_sources=frozenset(), web_root=None).start()
    try:
        facts = {
            "moto_url": stack.moto_url,
            "physical_names": stack.physical_names,
            "environment": {fid: {**stack.environment, **stack.function(fid).environment} for fid in FUNCTIONS},
        }
        sys.stdout.write(json.dumps(facts) + "\n")
        sys.stdout.flush()
        sys.stdin.read()  # until the benchmark closes the pipe
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
