"""API tokens in the history, on SQLite and PostgreSQL: created once, only the hash kept,
found by the token in constant time, scopes ordered, revoked at once."""

from __future__ import annotations

import pytest

from flowtui.store import RunStore
from flowtui.store.tokens import TokenError, TokenStore, digest


async def test_a_token_is_shown_once_and_only_its_hash_is_kept(store: RunStore) -> None:
    tokens = TokenStore(store.db)
    token = await tokens.create("ci-bot", "run", "ann")
    rows = await store.db.fetchall("SELECT * FROM api_tokens")
    assert [(r["name"], r["scope"], r["created_by"]) for r in rows] == [("ci-bot", "run", "ann")]
    assert rows[0]["hash"] == digest(token) and token not in str(dict(rows[0]))
    found = await tokens.authenticate(token)
    assert found is not None and found.name == "ci-bot" and found.actor == "token:ci-bot"
    assert found.allows("read") and found.allows("run") and not found.allows("approve")
    assert await tokens.authenticate(token + "x") is None
    assert await tokens.authenticate("") is None


async def test_names_are_unique_and_checked_and_revoke_forgets(store: RunStore) -> None:
    tokens = TokenStore(store.db)
    first = await tokens.create("ops", "admin")
    with pytest.raises(TokenError, match="exists already"):
        await tokens.create("ops", "read")
    with pytest.raises(TokenError, match="token name"):
        await tokens.create("bad name", "read")
    with pytest.raises(TokenError, match="scope 'root'"):
        await tokens.create("other", "root")
    assert [t.name for t in await tokens.list()] == ["ops"]
    assert await tokens.revoke("ops") and not await tokens.revoke("ops")
    assert await tokens.authenticate(first) is None
