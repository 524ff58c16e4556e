"""Fixtures every test folder may use: a real PostgreSQL server (tests/pgserver.py)."""

pytest_plugins = ["tests.pgserver"]
