"""The FastAPI application: ``create_app(settings)`` builds it around one engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from loanflow.api.errors import install_error_handlers
from loanflow.api.limits import BodyLimitMiddleware
from loanflow.api.settings import ApiSettings
from loanflow.engine import Engine

__all__ = ["create_app"]

DESCRIPTION = """
The HTTP API of loanflow: integrators start processes and correlate messages, loan officers and
approvers work their inbox, process designers deploy diagrams, tenant administrators configure
approval chains, operators retry incidents.

Authenticate with `POST /api/v1/auth/token` (OAuth2 `password` for people,
`client_credentials` for systems) and send `Authorization: Bearer <token>`. Every route is
scoped to a tenant (a county bank); another tenant's objects answer 404.
"""


def create_app(
    settings: ApiSettings | None = None,
    *,
    engine: Engine | None = None,
    background: bool = False,
) -> FastAPI:
    """Build the app. ``background`` also runs the webhook sender (``loanflow serve`` does)."""
    settings = settings or ApiSettings()
    if engine is None:
        from loanflow.workers import collect_workers

        workers, _problems = collect_workers()
        engine = Engine(settings, workers=workers)
        engine.migrate()
    built_engine = engine

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sender: Any = None
        if background:
            from loanflow.api.webhooks import WebhookSender

            sender = WebhookSender(built_engine, settings)
            sender.start()
        try:
            yield
        finally:
            if sender is not None:
                sender.stop()

    app = FastAPI(
        title="loanflow",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.engine = built_engine
    app.state.settings = settings
    from loanflow.engine.approvals import ApprovalChains

    app.state.approval_chains = ApprovalChains(built_engine)
    from loanflow.workers.risk import ReportService, validate_risk_parameters

    app.state.risk_reports = ReportService(built_engine)
    built_engine.parameters.validators.setdefault("risk", validate_risk_parameters)
    from loanflow.workers.video import VideoService

    app.state.video = VideoService.for_engine(built_engine, demo=settings.demo)
    app.add_middleware(
        BodyLimitMiddleware, max_json=settings.max_body_bytes, max_upload=settings.max_upload_bytes
    )
    install_error_handlers(app)

    from loanflow.api import auth
    from loanflow.api.routes import (
        approval_chains,
        deployments,
        documents,
        health,
        instances,
        messages,
        operations,
        parameters,
        risk_reports,
        tasks,
    )

    auth.install(app, built_engine, settings)
    for module in (
        health,
        instances,
        tasks,
        deployments,
        documents,
        messages,
        approval_chains,
        risk_reports,
        operations,
    ):
        app.include_router(module.router)
    app.include_router(parameters.risk_router)
    app.include_router(parameters.deployment_router)
    from loanflow.api.routes import video

    video.install(app)
    from loanflow.api.routes import engine_rest

    engine_rest.install(app)
    if settings.demo:
        from loanflow.api.demo import seed_demo
        from loanflow.engine.approvals import DEMO_CHAINS

        seed_demo(built_engine, settings)
        chains = app.state.approval_chains
        for tenant, products in DEMO_CHAINS.items():
            for product, chain in products.items():
                if chains.get(tenant, product) is None:
                    chains.put(tenant, product, chain, "demo")
        from loanflow.workers.risk import DEMO_RISK_PARAMETERS

        for tenant, document in DEMO_RISK_PARAMETERS.items():
            if built_engine.parameters.own(tenant, "risk") is None:
                built_engine.parameters.put(tenant, "risk", document, "demo")
    return app
