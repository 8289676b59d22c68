"""The ``loanflow`` command: run the engine, deploy diagrams, inspect and repair, try workers.

Commands that touch the store (``serve``, ``deploy``, ``instances``, ``incidents``, ``retry``)
build an :class:`Engine` from :class:`EngineSettings` (``--database-url`` overrides
``LOANFLOW_DATABASE_URL``) and bring its schema up to date first. ``workers``, ``worker call``
and ``bench`` never open the database, so they work on a machine without one.

Exit codes: 0 success, 1 a refused or failed command (any :class:`LoanflowError`), 2 bad
arguments or unreadable input, 3 a worker's business error (``worker call``).

``app`` is assembled in ``_app`` from the commands in ``_deploy``, ``_serve``, ``_inspect``,
``_workers`` and ``_bench``; what they share (settings, the engine session, error handling and
output) is in ``_common``.
"""

from loanflow.engine.cli._app import app, main

__all__ = ["app", "main"]
