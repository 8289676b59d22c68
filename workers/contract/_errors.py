"""What can go wrong with a contract, under loanflow's one exception root::

    LoanflowError
     └── ContractError        anything about contracts a caller can act on (``retryable``)
          ├── RenderError      the contract cannot be rendered: font missing, template broken
          ├── CertificateError no usable CA or signer certificate; an import that does not fit
          └── SigningError     the PDF cannot be signed: no such field, already signed, TSA failed

``retryable`` tells a worker runner whether trying again can help (a TSA that did not
answer) or not (a template with an unknown placeholder); the workers turn it into
``WorkerError(retryable=...)``.
"""

from __future__ import annotations

from loanflow.engine.errors import LoanflowError

__all__ = ["CertificateError", "ContractError", "RenderError", "SigningError"]


class ContractError(LoanflowError):
    """Root of the contract errors; ``retryable`` is False unless a retry can help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class RenderError(ContractError):
    """The contract PDF cannot be produced from this template and input."""


class CertificateError(ContractError):
    """No usable certificate, or certificate material that was refused."""


class SigningError(ContractError):
    """The PDF cannot be signed as asked."""
