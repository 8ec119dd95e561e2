"""Integration tests share the per-worker database and the `db` fixture from tests/conftest.py."""
