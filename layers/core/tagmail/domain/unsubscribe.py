"""Unsubscribe tokens: they name the project and the user, and a per-project secret signs them, so
one cannot be forged or altered to unsubscribe someone else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass

from tagmail.errors import InvalidInput, NotFound

_SIGNATURE_BYTES = 16  # 128-bit HMAC tag keeps links short and forgery out of reach


@dataclass(frozen=True)
class UnsubscribeClaim:
    project_id: str
    user_key: str
    campaign_id: str


def make_token(secret: str, claim: UnsubscribeClaim) -> str:
    payload = _b64(json.dumps([claim.user_key, claim.campaign_id], separators=(",", ":")).encode())
    return f"{claim.project_id}.{payload}.{_sign(secret, claim.project_id, payload)}"


def read_token(token: str, secret_for: Callable[[str], str | None]) -> UnsubscribeClaim:
    """Verify a token (constant-time) with the secret of the project it names."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts) or len(token) > 1024:
        raise InvalidInput("the unsubscribe link is malformed", field="token")
    project_id, payload, signature = parts
    secret = secret_for(project_id)
    if secret is None:
        raise NotFound("the unsubscribe link is not valid")
    if not hmac.compare_digest(_sign(secret, project_id, payload), signature):
        raise InvalidInput("the unsubscribe link is not valid", field="token")
    try:
        user_key, campaign_id = json.loads(_unb64(payload))
    except (ValueError, TypeError) as exc:
        raise InvalidInput("the unsubscribe link is malformed", field="token") from exc
    return UnsubscribeClaim(project_id=project_id, user_key=str(user_key), campaign_id=str(campaign_id))


def _sign(secret: str, project_id: str, payload: str) -> str:
    mac = hmac.new(secret.encode(), f"{project_id}.{payload}".encode(), hashlib.sha256).digest()
    return _b64(mac[:_SIGNATURE_BYTES])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
