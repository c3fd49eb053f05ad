"""Starting and stopping the local stack: nothing left running, listening or changed."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from local.stack import LocalStack
from local.template import TemplateError

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "local"
OUR_THREADS = ("poller-", "schedule-", "local-http-api")


def port_is_free(port: int) -> bool:
    """Nothing listens there and a server could bind it again (TIME_WAIT leftovers are fine)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        pass
    else:
        return False
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_stop_frees_every_port_thread_and_environment_variable() -> None:
    before = os.environ.get("AWS_ENDPOINT_URL")
    stack = LocalStack(DATA, api_port=0, moto_port=0, stack_name="tagmail-stop")  # every event source
    stack.start()
    assert stack.api is not None
    ports = [stack.api.port, stack.moto.port]
    assert os.environ["AWS_ENDPOINT_URL"] == stack.moto_url
    assert any(thread.name.startswith(OUR_THREADS) for thread in threading.enumerate())

    kept_alive = http.client.HTTPConnection("127.0.0.1", stack.api.port, timeout=5)
    kept_alive.request("GET", "/nowhere")
    response = kept_alive.getresponse()
    assert (response.status, response.read()) == (404, b'{"message": "Not Found"}')

    started = time.monotonic()
    stack.stop()

    assert time.monotonic() - started < 8
    assert all(port_is_free(port) for port in ports)
    assert not [thread.name for thread in threading.enumerate() if thread.name.startswith(OUR_THREADS)]
    assert os.environ.get("AWS_ENDPOINT_URL") == before
    assert "STAGE" not in os.environ
    assert kept_alive.sock is not None
    assert kept_alive.sock.recv(1) == b""  # the server closed the kept-alive connection
    kept_alive.close()


def test_a_failed_start_stops_what_it_started(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text("Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n")
    stack = LocalStack(tmp_path, api_port=0, moto_port=0)
    with pytest.raises(TemplateError, match="AWS::S3::Bucket"):
        stack.start()
    assert port_is_free(stack.moto.port)


def test_event_sources_can_be_left_out() -> None:
    with LocalStack(DATA, api_port=0, moto_port=0, stack_name="tagmail-quiet", event_sources=set()) as stack:
        assert stack.api_url is None
        assert stack.pollers == []
        assert stack.run_schedule_now("ScheduledFunction")  # schedules still fire on demand
    with pytest.raises(ValueError, match="Kinesis"):
        LocalStack(DATA, event_sources={"Kinesis"})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_make_run_serves_the_demo_project_until_sigterm(tmp_path: Path) -> None:
    facts_file = tmp_path / "local.json"
    api_port, moto_port = free_port(), free_port()
    environment = {
        **os.environ,
        "TAGMAIL_API_PORT": str(api_port),
        "TAGMAIL_MOTO_PORT": str(moto_port),
        "TAGMAIL_FACTS_FILE": str(facts_file),
    }
    environment.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not facts_file.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert facts_file.exists(), process.stdout.read() if process.poll() is not None else "no facts file"  # type: ignore[union-attr]
        facts = json.loads(facts_file.read_text())
        assert facts["api"] == f"http://127.0.0.1:{api_port}"
        assert facts["moto"] == f"http://127.0.0.1:{moto_port}"
        assert set(facts["project"]) == {"id", "write_key", "admin_key"}
        assert "sandbox" in facts

        key = base64.b64encode(f"{facts['project']['write_key']}:".encode()).decode()
        response = requests.post(
            f"{facts['api']}/v1/track",
            json={"userId": "u-1", "event": "Viewed", "messageId": "m-1"},
            headers={"Authorization": f"Basic {key}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert facts["project"]["write_key"] in output  # printed for people
    assert port_is_free(api_port)
    assert port_is_free(moto_port)
