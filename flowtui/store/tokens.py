"""REST API tokens, kept in the history so every `flowtui serve` on one database knows them.

A token is shown once, when it is created; the history keeps only its SHA-256 (a token is
32 random bytes, so a plain hash is enough: there is nothing to guess).  A request's token
is compared with every stored hash in constant time (`hmac.compare_digest`), all of them,
so the time an answer takes says nothing about which token came close.

Scopes are ordered: `read` < `run` < `approve` < `admin`; a token has its scope and every
scope below it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from flowtui.store.backends import HistoryDb

SCOPES = ("read", "run", "approve", "admin")
PREFIX = "ftk_"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ACTOR_PREFIX = "token:"  # the actor a token's requests are recorded as: token:NAME


class TokenError(ValueError):
    """A token name or scope that cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class TokenRecord:
    name: str
    scope: str
    created_at: float
    created_by: str

    @property
    def actor(self) -> str:
        """Who a request with this token is recorded as (approver lists may name it)."""
        return ACTOR_PREFIX + self.name

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise TokenError(
            f"token name {name!r}: use 1-64 letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit)"
        )
    return name


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise TokenError(f"scope {scope!r}: one of {', '.join(SCOPES)}")
    return scope


class TokenStore:
    def __init__(self, db: HistoryDb) -> None:
        self.db = db

    async def create(self, name: str, scope: str, by: str = "") -> str:
        """A new token named `name`; returns the token itself (the only time it is seen)."""
        check_name(name)
        check_scope(scope)
        token = PREFIX + secrets.token_urlsafe(32)
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO api_tokens (name, hash, scope, created_at, created_by)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (name, digest(token), scope, time.time(), by),
            )
            if cur.rowcount != 1:
                raise TokenError(
                    f"a token named {name!r} exists already (revoke it first, or pick a new name)"
                )
        return token

    async def list(self) -> list[TokenRecord]:
        rows = await self.db.fetchall(
            "SELECT name, scope, created_at, created_by FROM api_tokens ORDER BY name"
        )
        return [
            TokenRecord(r["name"], r["scope"], float(r["created_at"]), r["created_by"])
            for r in rows
        ]

    async def revoke(self, name: str) -> bool:
        """Forget token `name`; False when there was none."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM api_tokens WHERE name = ?", (name,))
            return cur.rowcount == 1

    async def authenticate(self, token: str) -> TokenRecord | None:
        """The token's record, or None; every stored hash is compared, in constant time."""
        given = digest(token).encode()
        rows = await self.db.fetchall(
            "SELECT name, hash, scope, created_at, created_by FROM api_tokens"
        )
        found: TokenRecord | None = None
        for r in rows:
            if hmac.compare_digest(given, str(r["hash"]).encode()) and found is None:
                found = TokenRecord(r["name"], r["scope"], float(r["created_at"]), r["created_by"])
        return found
