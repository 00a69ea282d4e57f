"""Alembic migrations of the center's schema (run by ``sscard center migrate``
and at ``serve``; see :func:`sscard_terminal.center.db.migrate`)."""
