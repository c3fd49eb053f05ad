"""Run by bench.mail_stack in a child process: the project's local stack (moto + every resource of
template.yaml) with the Mailgun sandbox, the demo project sending through it, and a receiver for
the sandbox's webhooks that keeps each signed body as it was posted (answering 200, as tagmail
does) so that the benchmark can hand them to the webhook function itself, in its own process.

No event source is wired: the send, webhook and unsubscribe functions run in the benchmark
process. Prints one JSON line of facts, then serves until its stdin is closed.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.demo import create_demo_project
from local.mailgun_sandbox.sandbox import DEMO_DOMAIN
from local.stack import LocalStack

FUNCTIONS = ("SendFunction", "WebhookFunction", "UnsubscribeFunction", "IngestFunction", "TriggerFunction")


class WebhookReceiver(ThreadingHTTPServer):
    """POST anything: kept, answered 200. GET /received?from=N: the bodies kept from the N-th on."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.bodies: list[str] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _Handler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode("utf-8")
        with self.server.lock:
            self.server.bodies.append(body)
        self._answer({"message": "ok"})

    def do_GET(self) -> None:
        start = int(self.path.partition("from=")[2] or 0)
        with self.server.lock:
            bodies = self.server.bodies[start:]
        self._answer(bodies)

    def _answer(self, document: Any) -> None:
        data = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # one line per webhook is noise here
        return


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no log line per moto request
    # Only the facts go to stdout (the benchmark reads them there); what tagmail logs while the
    # demo project is set up goes to stderr.
    facts_out, sys.stdout = sys.stdout, sys.stderr
    root = Path(__file__).resolve().parent.parent
    # The receiver takes the API's port (no HTTP API is served here): the webhook URL tagmail
    # registers at the sandbox and the links in mails name it.
    receiver = WebhookReceiver()
    thread = threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stack = LocalStack(
        root, api_port=receiver.port, moto_port=0, event_sources=frozenset(), web_root=None, sandbox_port=0
    )
    try:
        stack.start()
        assert stack.sandbox is not None
        project = create_demo_project("bench", stack.sandbox, receiver.url)
        registered = stack.sandbox.list_webhooks(DEMO_DOMAIN)["webhooks"]
        facts = {
            "moto_url": stack.moto_url,
            "physical_names": stack.physical_names,
            "environment": {fid: {**stack.environment, **stack.function(fid).environment} for fid in FUNCTIONS},
            "project": project.as_dict(),
            "sandbox_url": stack.sandbox.url,
            "receiver_url": receiver.url,
            # The webhook types tagmail registered (Mailgun posts only these).
            "webhook_types": sorted(
                kind for kind, hook in registered.items() if any(receiver.url in url for url in hook.get("urls", []))
            ),
        }
        facts_out.write(json.dumps(facts) + "\n")
        facts_out.flush()
        sys.stdin.read()  # until the benchmark closes the pipe
    finally:
        receiver.shutdown()
        receiver.server_close()
        stack.stop()


if __name__ == "__main__":
    main()
