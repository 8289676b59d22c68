"""Documents kept as one versioned row per key (approval chains, tenant parameters).

Writers replace the whole document; the version goes up by one and a concurrent writer loses
with :class:`~loanflow.engine.errors.Conflict` instead of overwriting silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, insert, select, update

from loanflow.engine.errors import Conflict

__all__ = ["put_versioned"]


def put_versioned(
    conn: Connection,
    table: Table,
    keys: Mapping[str, Any],
    column: str,
    document: Any,
    *,
    actor: str | None,
    now: datetime,
    what: str,
) -> tuple[int, Any | None]:
    """Store ``document`` in ``column`` of the row at ``keys``.

    Returns the new version, and the existing row when the document is unchanged (then
    nothing is written). The caller's transaction must turn an ``IntegrityError`` (two first
    writes at once) into a Conflict as well; ``what`` names the object in messages.
    """
    where = and_(*(table.c[name] == value for name, value in keys.items()))
    query = select(table).where(where)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is not None and getattr(row, column) == document:
        return int(row.version), row
    values = {column: document, "updated_at": now, "updated_by": actor}
    if row is None:
        conn.execute(insert(table), {**keys, "version": 1, **values})
        return 1, None
    version = int(row.version) + 1
    changed = conn.execute(
        update(table).where(where, table.c.version == row.version).values(version=version, **values)
    )
    if changed.rowcount != 1:
        raise Conflict(f"{what} changed meanwhile; read it again")
    return version, None
