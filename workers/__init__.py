"""loanflow workers.

Declare a worker with :func:`worker`, collect workers with :func:`collect_workers` or an
explicit :class:`WorkerRegistry`, run one job with :func:`run_worker`. A worker raises
:class:`BusinessError` for an outcome the diagram handles and anything else for a failure
worth retrying.
"""

from loanflow.engine.errors import BusinessError, WorkerError
from loanflow.workers.registry import PluginProblem, WorkerRegistry, collect_workers
from loanflow.workers.sdk import (
    WorkerDefinition,
    definition_of,
    run_worker,
    run_worker_async,
    worker,
)

__all__ = [
    "BusinessError",
    "PluginProblem",
    "WorkerDefinition",
    "WorkerError",
    "WorkerRegistry",
    "collect_workers",
    "definition_of",
    "run_worker",
    "run_worker_async",
    "worker",
]
