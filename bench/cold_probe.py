"""Run in a fresh interpreter by bench.coldstart: import a handler as Lambda does, check that the
import created no AWS client and opened no connection, then invoke it twice (cold, then warm).

Prints one JSON line. The event is built from bench.payloads; the write key comes from
BENCH_WRITE_KEY.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sys
import time
from typing import Any

import botocore.session

from bench import payloads

_counts: dict[str, float] = {"clients": 0, "connects": 0, "client_seconds": 0.0}
_create_client = botocore.session.Session.create_client
_connect = socket.socket.connect


def _counting_create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
    _counts["clients"] += 1
    started = time.perf_counter()
    try:
        return _create_client(self, *args, **kwargs)
    finally:
        _counts["client_seconds"] += time.perf_counter() - started


def _counting_connect(self: socket.socket, *args: Any) -> Any:
    _counts["connects"] += 1
    return _connect(self, *args)


def main(function: str) -> None:
    botocore.session.Session.create_client = _counting_create_client  # type: ignore[method-assign]
    socket.socket.connect = _counting_connect  # type: ignore[method-assign]

    started = time.perf_counter()
    import app  # the handler module of the current directory, as Lambda imports it

    imported = time.perf_counter() - started
    at_import = dict(_counts)

    def event() -> dict[str, Any]:
        if function == "ingest":
            message = payloads.browser_track("u-probe", "a-probe")
            return payloads.http_event("track", message, os.environ["BENCH_WRITE_KEY"])
        image = {
            "pk": {"S": "p#u:probe"},
            "sk": {"S": "m:1"},
            "project_id": {"S": "p"},
            "message_id": {"S": "1"},
            "type": {"S": "track"},
            "event": {"S": "Product Added"},
            "ts": {"S": "2026-12-04T00:00:00.000Z"},
        }
        return payloads.stream_event([image])

    timings = []
    for _ in range(2):
        request = event()
        with contextlib.redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            response = app.lambda_handler(request, payloads.FakeContext())
            timings.append(time.perf_counter() - started)
        if function == "ingest" and response["statusCode"] != 200:
            raise SystemExit(f"ingest answered {response}")
    print(
        json.dumps(
            {
                "import_s": imported,
                "clients_at_import": at_import["clients"],
                "connects_at_import": at_import["connects"],
                "first_call_s": timings[0],
                "second_call_s": timings[1],
                "clients_after_first_call": _counts["clients"],
                "client_creation_s": _counts["client_seconds"],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
