"""The insert fast path of a command: every row it adds, in as few round trips as the driver allows.

A start writes an instance, its first jobs or user tasks and its audit events. Through the
ORM-free Core API that is still one statement (and on PostgreSQL one network round trip) per
table, plus SQLAlchemy's per-statement overhead, which together cost more than running the
diagram. Here the rows go straight to the DB-API connection of the same transaction:
PostgreSQL gets them in one pipelined batch (psycopg 3 pipeline mode), SQLite through
``executemany`` on its own connection. Values are converted as the SQLAlchemy column types
would (UTC timestamps, JSON).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, Table

from loanflow.engine.store.models import UtcDateTime

__all__ = ["insert_rows"]

Converter = Callable[[Any], Any]
_prepared: dict[tuple[str, str], tuple[str, list[str], list[Converter | None]]] = {}


def _sqlite_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(sep=" ", timespec="microseconds")


def _sqlite_json(value: Any) -> str:
    return json.dumps(value)


def _pg_time(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _pg_json(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def _prepare(table: Table, dialect: str) -> tuple[str, list[str], list[Converter | None]]:
    key = (table.name, dialect)
    found = _prepared.get(key)
    if found is not None:
        return found
    names = [c.name for c in table.columns if not (c.autoincrement is True and c.primary_key)]
    converters: list[Converter | None] = []
    for name in names:
        column_type = table.c[name].type
        if isinstance(column_type, UtcDateTime):
            converters.append(_sqlite_time if dialect == "sqlite" else _pg_time)
        elif isinstance(column_type, JSON):
            converters.append(_sqlite_json if dialect == "sqlite" else _pg_json)
        else:
            converters.append(None)
    marker = "?" if dialect == "sqlite" else "%s"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(marker for _ in names)})"
    )
    _prepared[key] = (sql, names, converters)
    return sql, names, converters


def _params(
    rows: Sequence[dict[str, Any]], names: list[str], converters: list[Converter | None]
) -> list[tuple[Any, ...]]:
    return [
        tuple(
            row.get(name) if convert is None else convert(row.get(name))
            for name, convert in zip(names, converters, strict=True)
        )
        for row in rows
    ]


def insert_rows(
    conn: Connection,
    batches: Sequence[tuple[Table, Sequence[dict[str, Any]]]],
    *,
    commit: bool = False,
) -> None:
    """Insert every batch of rows inside ``conn``'s transaction; tables in the order given.

    ``commit=True`` (PostgreSQL) sends the COMMIT in the same pipelined batch: only for a
    caller whose transaction ends here. SQLAlchemy's own commit afterwards finds nothing to do.
    """
    batches = [(table, rows) for table, rows in batches if rows]
    if not batches:
        return
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        from sqlalchemy import insert

        for table, rows in batches:
            conn.execute(insert(table), list(rows))
        return
    dbapi: Any = conn.connection.driver_connection
    if dbapi is None:
        raise RuntimeError("the connection has no DB-API connection")
    if dialect == "sqlite":
        cursor = dbapi.cursor()
        try:
            for table, rows in batches:
                sql, names, converters = _prepare(table, dialect)
                cursor.executemany(sql, _params(rows, names, converters))
        finally:
            cursor.close()
        return
    with dbapi.pipeline(), dbapi.cursor() as cursor:
        for table, rows in batches:
            sql, names, converters = _prepare(table, dialect)
            params = _params(rows, names, converters)
            if len(params) == 1:
                cursor.execute(sql, params[0])
            else:
                head, values = sql.split(" VALUES ", 1)
                flat = [value for row in params for value in row]
                cursor.execute(f"{head} VALUES {', '.join(values for _ in params)}", flat)
        if commit:
            dbapi.commit()
