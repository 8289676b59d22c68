"""loanflow's HTTP API (FastAPI): ``create_app(settings)``; only this package knows HTTP."""

from loanflow.api.app import create_app
from loanflow.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
