"""Webhook authentication: GitHub's HMAC signature, GitLab's token, a bearer token.

Every comparison is constant-time (`hmac.compare_digest`), so a caller learns nothing from
how long a wrong guess took.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Hub-Signature-256"
GITLAB_TOKEN_HEADER = "X-Gitlab-Token"
_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub would send for `body`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is `sha256=<hex>` of the body's HMAC-SHA256 with `secret`."""
    if not secret or not header or not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), _raw(header.strip()))


def _same(secret: str, given: str | None) -> bool:
    if not secret or not given:
        return False
    return hmac.compare_digest(secret.encode("utf-8"), _raw(given))


def _raw(header: str) -> bytes:
    """A header value as the bytes that were sent: aiohttp decodes them with
    surrogateescape, so bytes that are not UTF-8 must not make `.encode()` raise (a 500)."""
    return header.encode("utf-8", "surrogateescape")


def authenticate(secret: str, body: bytes, headers: Mapping[str, str]) -> str | None:
    """How the request proved it knows `secret` ("hmac", "gitlab-token", "bearer"), or None.

    `headers` must look names up case-insensitively (aiohttp's CIMultiDict does).
    """
    if verify_signature(secret, body, headers.get(SIGNATURE_HEADER)):
        return "hmac"
    if _same(secret, headers.get(GITLAB_TOKEN_HEADER)):
        return "gitlab-token"
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and _same(secret, token.strip()):
        return "bearer"
    return None


def missing_proof(kind: str) -> str:
    """A 401's error naming the headers `authenticate` checks, the one `kind`'s sender uses
    first (an incident trigger's Alertmanager sends a bearer token)."""
    if kind == "incident":
        return (
            "missing or bad credentials (Authorization: Bearer <secret>, as Alertmanager's "
            f"http_config.authorization sends; or {SIGNATURE_HEADER} or {GITLAB_TOKEN_HEADER})"
        )
    return (
        f"missing or bad signature ({SIGNATURE_HEADER}, {GITLAB_TOKEN_HEADER} "
        "or Authorization: Bearer <secret>)"
    )
