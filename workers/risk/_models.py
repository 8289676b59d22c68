"""The loan application as the ``risk.*`` workers read it.

Every risk worker takes the same ``application`` object, mapped in from the process
variable of that name, so one diagram feeds all of them without reshaping data.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Applicant", "Application", "Business", "Location"]


class Location(BaseModel):
    """WGS-84 coordinates in degrees."""

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)


class Applicant(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(
        pattern=r"^\d{17}[\dXx]$", description="18-digit resident ID number (GB 11643)."
    )
    phone: str | None = Field(default=None, pattern=r"^1\d{10}$", description="Mobile number.")
    birth_date: date | None = Field(
        default=None, description="Taken from the ID number when absent."
    )
    id_expiry: date | None = Field(
        default=None, description="Last day the ID card is valid; None for 长期 (no expiry)."
    )
    monthly_income: float = Field(default=0, ge=0, allow_inf_nan=False, description="Yuan.")
    monthly_debt_payment: float = Field(
        default=0, ge=0, allow_inf_nan=False, description="Yuan due each month on other debts."
    )
    address: str | None = Field(default=None, max_length=300)
    home_location: Location | None = Field(
        default=None, description="Where the registered address is (from the core system)."
    )


class Business(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=200)
    credit_code: str = Field(
        pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$",
        description="Unified social credit code (GB 32100).",
    )
    annual_revenue: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class Application(BaseModel):
    """A loan application; extra fields are kept so tables and scorecards can read them."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=128, description="Application id (business key).")
    product: str = Field(default="*", max_length=64)
    amount: float = Field(gt=0, allow_inf_nan=False, description="Yuan asked for.")
    term_months: int = Field(default=12, ge=1, le=360)
    applied_on: date | None = Field(default=None, description="Today when absent.")
    applicant: Applicant
    business: Business | None = None
    device_id: str | None = Field(default=None, max_length=128)
    gps: Location | None = Field(default=None, description="Where the application was taken.")
