"""API tokens in the history, on SQLite and PostgreSQL: created once, only the hash kept,
found by the token in constant time, scopes ordered, revoked at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtui.store import RunStore, seal
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


async def test_a_forged_or_altered_token_row_authenticates_nobody_on_sqlite(
    tmp_path: Path,
) -> None:
    """Anything that can write the history file (a hand-made INSERT, an unsandboxed step)
    cannot make itself a token: rows are sealed with the history's decision key."""
    store = await RunStore.open(tmp_path / "h.db")
    try:
        tokens = TokenStore(store.db)
        real = await tokens.create("ci-bot", "read", "ann")  # the key exists from here on
        forged = "ftk_known-to-the-forger"
        async with store.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO api_tokens (name, hash, scope, created_at, created_by)"
                " VALUES ('evil', ?, 'admin', 0, 'me')",
                (digest(forged),),
            )
            # a copied seal does not fit another row either
            await conn.execute(
                "INSERT INTO api_tokens (name, hash, scope, created_at, created_by, seal)"
                " SELECT 'evil2', ?, 'admin', 0, 'me', seal FROM api_tokens WHERE name = 'ci-bot'",
                (digest(forged + "2"),),
            )
        assert await tokens.authenticate(forged) is None
        assert await tokens.authenticate(forged + "2") is None
        found = await tokens.authenticate(real)
        assert found is not None and found.scope == "read"
        # raising a real token's scope by hand breaks its seal: it stops working at all
        async with store.db.transaction() as conn:
            await conn.execute("UPDATE api_tokens SET scope = 'admin' WHERE name = 'ci-bot'")
        assert await tokens.authenticate(real) is None
        assert seal.key_path(tmp_path / "h.db").stat().st_mode & 0o777 == 0o600
    finally:
        await store.close()
