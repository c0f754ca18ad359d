"""Persistence: tables, the engine for SQLite and PostgreSQL, and the repositories (all SQL lives here)."""
