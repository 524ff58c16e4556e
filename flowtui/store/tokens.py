"""REST API tokens, kept in the history so every `flowtui serve` on one database knows them.

A token is shown once, when it is created; the history keeps only its SHA-256 (a token is
32 random bytes, so a plain hash is enough: there is nothing to guess).  A request's token
is compared with every stored hash in constant time (`hmac.compare_digest`), all of them,
so the time an answer takes says nothing about which token came close.

Scopes are ordered: `read` < `run` < `approve` < `admin`; a token has its scope and every
scope below it.

On SQLite each row is sealed like a decision (flowtui/store/seal.py): an HMAC over
name, hash and scope with the history's decision key (`<db>.key`, which steps cannot
read).  A row without a valid seal — a hand-made INSERT, a step that reached the file, a
scope raised by an UPDATE — authenticates nobody.  On PostgreSQL the database's grants
guard the table instead (docs/team.md: workers and runners' steps cannot write it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from flowtui.store import seal as seals
from flowtui.store.backends import HistoryDb

SCOPES = ("read", "run", "approve", "admin")
PREFIX = "ftk_"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ACTOR_PREFIX = "token:"  # the actor a token's requests are recorded as: token:NAME
# PostgreSQL: the role whose members may write commands in a token's name (flowtui serve's
# role; the commands trigger stamps everyone else's with their session_user, docs/team.md)
API_ROLE = "flowtui_api"
INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL's SQLSTATE for a refused grant


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


def token_seal(key: bytes, name: str, hashed: str, scope: str) -> str:
    """The seal of a token row: what it says (name, hash, scope) under the decision key."""
    message = "\0".join(("api-token", name, hashed, scope))
    return hmac.new(key, message.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


class TokenStore:
    def __init__(self, db: HistoryDb) -> None:
        self.db = db
        self._key: bytes | None = None

    async def _seal_key(self, *, create: bool) -> bytes | None:
        """The SQLite history's decision key (None on PostgreSQL, or none made yet)."""
        if self.db.dialect != "sqlite":
            return None
        if self._key is None:
            path: Path = self.db.path  # type: ignore[assignment]
            self._key = await asyncio.to_thread(seals.load_key, path, create=create)
        return self._key

    def _sealed(self, key: bytes | None, name: str, hashed: str, scope: str, given: str) -> bool:
        if self.db.dialect != "sqlite":
            return True  # PostgreSQL: the grants say who may write the table
        if key is None or not given:
            return False
        return hmac.compare_digest(token_seal(key, name, hashed, scope), given)

    async def create(self, name: str, scope: str, by: str = "") -> str:
        """A new token named `name`; returns the token itself (the only time it is seen)."""
        check_name(name)
        check_scope(scope)
        token = PREFIX + secrets.token_urlsafe(32)
        hashed = digest(token)
        key = await self._seal_key(create=True)
        sealed = token_seal(key, name, hashed, scope) if key is not None else ""
        try:
            async with self.db.transaction() as conn:
                cur = await conn.execute(
                    "INSERT INTO api_tokens (name, hash, scope, created_at, created_by, seal)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (name, hashed, scope, time.time(), by, sealed),
                )
                if cur.rowcount != 1:
                    raise TokenError(
                        f"a token named {name!r} exists already "
                        "(revoke it first, or pick a new name)"
                    )
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
                raise TokenError(
                    "this database role may not create tokens (no INSERT on api_tokens): "
                    "ask the history's owner (docs/team.md, Identity and roles)"
                ) from None
            raise
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
        """The token's record, or None; every stored hash is compared, in constant time.
        A row whose seal is missing or wrong (SQLite) matches no token."""
        given = digest(token).encode()
        rows = await self.db.fetchall(
            "SELECT name, hash, scope, created_at, created_by, seal FROM api_tokens"
        )
        key = await self._seal_key(create=False) if rows else None
        found: TokenRecord | None = None
        for r in rows:
            if hmac.compare_digest(given, str(r["hash"]).encode()) and found is None:
                if not self._sealed(key, r["name"], str(r["hash"]), r["scope"], r["seal"]):
                    continue  # forged or altered: not a token flowtui token create made
                if r["scope"] not in SCOPES:
                    continue
                found = TokenRecord(r["name"], r["scope"], float(r["created_at"]), r["created_by"])
        return found
