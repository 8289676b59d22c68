"""Alembic migrations of the loanflow store."""
