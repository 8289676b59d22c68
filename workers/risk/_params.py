"""The ``risk`` parameter set: everything a county bank may tune without touching a table.

The schema the engine validates tenant documents by (``forms/risk_params.schema.json``) is
generated from :class:`RiskParameters`, so the workers' own input models and the store can
never disagree; ``python -m loanflow.workers.risk.schema`` rewrites it and a test checks it is
current. Pydantic validators that JSON Schema cannot express (bins that overlap, a minimum
age above the maximum) run through :func:`validate_risk_parameters`, which the API registers
with the store.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loanflow.engine.errors import InvalidInput
from loanflow.workers.risk._antifraud import AntifraudRules
from loanflow.workers.risk._external import ALL_SOURCES, Source
from loanflow.workers.risk._pricing import PricingRules
from loanflow.workers.risk._scorecard import ScorecardSettings, default_scorecard_settings

__all__ = [
    "DEMO_RISK_PARAMETERS",
    "AdmissionThresholds",
    "RiskParameters",
    "risk_parameters_schema",
    "validate_risk_parameters",
]


class AdmissionThresholds(BaseModel):
    """What the shared admission table (``processes/risk_admission.dmn``) compares against."""

    model_config = ConfigDict(extra="forbid")

    min_score: float = Field(
        default=550, ge=0, le=1000, description="Below this score: rejected (准入分数线)."
    )
    auto_approve_score: float = Field(
        default=650, ge=0, le=1000, description="From this score on: no manual review."
    )
    max_overdue_24m: int = Field(
        default=3, ge=0, description="More overdue payments in 24 months: rejected."
    )


class ExternalDataChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[Source] = Field(
        default_factory=lambda: list(ALL_SOURCES),
        description="Which external sources the process asks (business only for businesses).",
    )


class RiskParameters(BaseModel):
    """A tenant's effective risk parameters (defaults ← province ← county bank)."""

    model_config = ConfigDict(extra="forbid", title="Risk parameters")

    admission: AdmissionThresholds = Field(default_factory=AdmissionThresholds)
    antifraud: AntifraudRules = Field(default_factory=AntifraudRules)
    scorecard: ScorecardSettings = Field(default_factory=default_scorecard_settings)
    pricing: PricingRules = Field(default_factory=PricingRules)
    external_data: ExternalDataChoice = Field(default_factory=ExternalDataChoice)


#: what demo mode starts with: the province's cut-off, and one county bank stricter than it
DEMO_RISK_PARAMETERS: dict[str, dict[str, Any]] = {
    "hubei": {"admission": {"min_score": 560}},
    "xiantao": {
        "admission": {"min_score": 600, "auto_approve_score": 680},
        "antifraud": {"max_distance_km": 30},
    },
}


def risk_parameters_schema() -> dict[str, Any]:
    """JSON Schema of :class:`RiskParameters`, its full default under ``default``."""
    schema = RiskParameters.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$comment"] = (
        "Generated from loanflow.workers.risk.RiskParameters by "
        "'python -m loanflow.workers.risk.schema'; do not edit by hand."
    )
    schema["default"] = json.loads(RiskParameters().model_dump_json())
    return schema


def validate_risk_parameters(document: dict[str, Any]) -> None:
    """The checks JSON Schema cannot make; :class:`InvalidInput` naming each field."""
    try:
        RiskParameters.model_validate(document)
    except ValidationError as exc:
        details = {
            "/" + "/".join(str(p) for p in error["loc"]): error["msg"] for error in exc.errors()
        }
        first = exc.errors()[0]
        raise InvalidInput(
            f"risk parameters: {'/'.join(str(p) for p in first['loc'])}: {first['msg']}",
            details,
        ) from None
