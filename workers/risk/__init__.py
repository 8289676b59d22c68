"""Risk decisions: external data, anti-fraud, scorecards, pricing and the risk report.

The ``risk.*`` workers and what they need. ``risk.scorecard`` and ``risk.pricing`` are pure
functions of their input (module-level workers); ``risk.external_data``, ``risk.antifraud``
and ``risk.report`` need the engine's database (a cache, sightings, reports) and are made
around their services by :func:`risk_workers`.

All of them read the same :class:`Application`; their thresholds come from the tenant's
``risk`` parameters (:class:`RiskParameters`), which the process maps into each task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loanflow.workers.risk._antifraud import (
    AntifraudInput,
    AntifraudOutput,
    AntifraudRules,
    AntifraudService,
    antifraud_worker,
)
from loanflow.workers.risk._external import (
    SANDBOX_RESERVED,
    ExternalDataInput,
    ExternalDataOutput,
    ExternalDataService,
    ExternalDataSettings,
    HttpAdapter,
    SandboxAdapter,
    build_adapter,
    external_data_worker,
)
from loanflow.workers.risk._models import Applicant, Application, Business, Location
from loanflow.workers.risk._params import (
    DEMO_RISK_PARAMETERS,
    AdmissionThresholds,
    RiskParameters,
    risk_parameters_schema,
    validate_risk_parameters,
)
from loanflow.workers.risk._pricing import (
    PricingInput,
    PricingOutput,
    PricingRules,
    price_application,
)
from loanflow.workers.risk._report import ReportService, render_html, render_pdf, report_worker
from loanflow.workers.risk._scorecard import (
    Scorecard,
    ScorecardInput,
    ScorecardOutput,
    ScorecardSettings,
    score_application,
)

if TYPE_CHECKING:
    from redis import Redis

    from loanflow.engine.engine import Engine

__all__ = [
    "DEMO_RISK_PARAMETERS",
    "SANDBOX_RESERVED",
    "AdmissionThresholds",
    "AntifraudInput",
    "AntifraudOutput",
    "AntifraudRules",
    "AntifraudService",
    "Applicant",
    "Application",
    "Business",
    "ExternalDataInput",
    "ExternalDataOutput",
    "ExternalDataService",
    "ExternalDataSettings",
    "HttpAdapter",
    "Location",
    "PricingInput",
    "PricingOutput",
    "PricingRules",
    "ReportService",
    "RiskParameters",
    "SandboxAdapter",
    "Scorecard",
    "ScorecardInput",
    "ScorecardOutput",
    "ScorecardSettings",
    "antifraud_worker",
    "build_adapter",
    "external_data_worker",
    "price_application",
    "render_html",
    "render_pdf",
    "report_worker",
    "risk_parameters_schema",
    "risk_workers",
    "score_application",
    "validate_risk_parameters",
]


def risk_workers(
    engine: Engine,
    settings: ExternalDataSettings | None = None,
    *,
    redis: Redis | None = None,
    key_prefix: str = "loanflow:",
) -> list[Callable[..., Any]]:
    """The five ``risk.*`` workers on ``engine``'s database (and ``redis`` for anti-fraud
    counts, when given); external data through the adapter ``settings`` name."""
    settings = settings or ExternalDataSettings()
    return [
        external_data_worker(ExternalDataService(engine, build_adapter(settings), settings)),
        antifraud_worker(AntifraudService(engine, redis, key_prefix)),
        score_application,
        price_application,
        report_worker(ReportService(engine)),
    ]
