"""The moto server that stands in for AWS, bound to 127.0.0.1 only."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import boto3
import requests
from botocore.config import Config
from moto.server import ThreadedMotoServer

from local.template import REGION

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# Step Functions only runs definitions (Wait, sqs:sendMessage) with this mock config.
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}}


class MotoServer:
    def __init__(self, port: int = 0, region: str = REGION) -> None:
        self.requested_port = port
        self.region = region
        self.port = 0
        self._server: ThreadedMotoServer | None = None
        self._session = boto3.session.Session(region_name=region, **CREDENTIALS)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        server = ThreadedMotoServer(ip_address=HOST, port=self.requested_port, verbose=False)
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]
        # ThreadedMotoServer does not set it; moto builds some URLs (queue URLs) from it.
        os.environ["MOTO_PORT"] = str(self.port)
        response = requests.post(f"{self.url}/moto-api/config", json=MOTO_CONFIG, timeout=5)
        response.raise_for_status()
        logger.info("moto server started", extra={"url": self.url})

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stop()
        # stop() shuts the loop down but leaves the socket bound; close it so the port is free.
        inner = getattr(server, "_server", None)
        if inner is not None:
            inner.server_close()
        self._clients.clear()
        logger.info("moto server stopped", extra={"url": self.url})

    def client(self, service: str) -> Any:
        """A boto3 client for moto (cached; boto3 clients are thread-safe, sessions are not)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(
                    service,
                    endpoint_url=self.url,
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}),
                )
            return self._clients[service]
