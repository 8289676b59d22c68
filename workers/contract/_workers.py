"""The ``contract.*`` workers, bound to one :class:`ContractService`.

They need a tenant's certificates, keys and storage, so they are made by
:func:`contract_workers` around a service rather than declared at module level (a
module-level worker could only reach those through hidden global state)::

    service = ContractService(CertificateStore(engine.db, sealer, engine.clock), ...)
    registry = WorkerRegistry([*BUILTIN_WORKERS, *contract_workers(service)])

A :class:`ContractError` becomes a ``WorkerError`` that is retried only if it says a
retry can help (a TSA that did not answer); any other exception is retried as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from loanflow.engine.errors import WorkerError
from loanflow.workers.contract._errors import ContractError
from loanflow.workers.contract._render import ContractRequest
from loanflow.workers.contract._service import (
    ContractService,
    RenderOutput,
    SignInput,
    SignOutput,
    VerifyInput,
    VerifyOutput,
)
from loanflow.workers.sdk import worker

__all__ = ["contract_workers"]


@contextmanager
def _as_worker_errors() -> Iterator[None]:
    try:
        yield
    except ContractError as exc:
        raise WorkerError(str(exc), retryable=exc.retryable) from exc


def contract_workers(service: ContractService) -> list[Callable[..., Any]]:
    """``contract.render``, ``contract.sign`` and ``contract.verify`` working on ``service``."""

    @worker("contract.render", retries=2, backoff=5.0)
    def render_contract(job: ContractRequest) -> RenderOutput:
        """Render a loan contract PDF from the product's template; same input, same bytes."""
        with _as_worker_errors():
            return service.render(job)

    @worker("contract.sign", retries=3, backoff=10.0)
    def sign_contract(job: SignInput) -> SignOutput:
        """Sign the contract's fields (customer, then bank seal) and the SM2 evidence digest."""
        with _as_worker_errors():
            return service.sign(job)

    @worker("contract.verify", retries=1, backoff=5.0)
    def verify_contract(job: VerifyInput) -> VerifyOutput:
        """Verify every signature offline, modifications after signing, and the SM2 evidence.

        With ``strict`` an invalid contract raises the BPMN error ``CONTRACT_INVALID``.
        """
        with _as_worker_errors():
            return service.verify(job)

    return [render_contract, sign_contract, verify_contract]
