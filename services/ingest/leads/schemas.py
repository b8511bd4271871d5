"""The lead as a client submits it (JSON or form fields), and its normalization."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from shared.domain.contact import (
    InvalidContact,
    company_domain,
    normalize_company_size,
    normalize_email,
    normalize_phone,
)
from shared.events.models import CustomValue, LeadData, Utm
from shared.http import field_errors_from_pydantic

MAX_CUSTOM_KEYS = 50
Str200 = Field(None, max_length=200)


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class LeadIn(BaseModel):
    """One lead. At least one of ``email`` or ``phone``; unknown fields are rejected."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.com",
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "company": "Analytical Engines Ltd",
                    "job_title": "VP Engineering",
                    "company_size": "201-500",
                    "country": "GB",
                    "timezone": "Europe/London",
                    "marketing_consent": True,
                    "utm_source": "google",
                    "utm_campaign": "spring-launch",
                    "form_id": "demo-request",
                }
            ]
        },
    )

    # country precedes phone: it is the default region for numbers without a country code
    country: str | None = Field(None, description="ISO 3166-1 alpha-2, e.g. US, DE")
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(
        None, max_length=40, description="any common format; +country code or the lead's country"
    )
    first_name: str | None = Str200
    last_name: str | None = Str200
    company: str | None = Str200
    website: str | None = Field(None, max_length=500, description="company website or domain")
    job_title: str | None = Str200
    company_size: str | int | None = Field(None, description="employees: 250, 201-500 or 5000+")
    industry: str | None = Str200
    region: str | None = Str200
    city: str | None = Str200
    timezone: str | None = Field(
        None, max_length=64, description="IANA time zone, e.g. America/New_York"
    )
    marketing_consent: bool | None = None
    message: str | None = Field(None, max_length=5000)
    utm_source: str | None = Str200
    utm_medium: str | None = Str200
    utm_campaign: str | None = Str200
    utm_term: str | None = Str200
    utm_content: str | None = Str200
    campaign: str | None = Str200
    form_id: str | None = Field(None, max_length=100)
    page_url: str | None = Field(None, max_length=2000)
    custom: dict[str, CustomValue] = Field(
        default_factory=dict, description=f"at most {MAX_CUSTOM_KEYS} keys"
    )

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_missing(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("company_size", mode="before")
    @classmethod
    def _size_not_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("must be a number of employees or a range like 51-200, not true/false")
        return v

    @field_validator("country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        if v is None:
            return None
        code = v.upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be an ISO 3166-1 alpha-2 country code, e.g. US")
        return code

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return normalize_email(v)
        except InvalidContact as exc:
            raise ValueError(exc.message) from None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        try:
            return normalize_phone(v, info.data.get("country"))
        except InvalidContact as exc:
            raise ValueError(exc.message) from None

    @field_validator("company_size")
    @classmethod
    def _size(cls, v: str | int | None) -> str | None:
        if v is None:
            return None
        try:
            return normalize_company_size(v)
        except InvalidContact as exc:
            raise ValueError(exc.message) from None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None and v not in _zones():
            raise ValueError("must be an IANA time zone, e.g. Europe/Berlin")
        return v

    @field_validator("custom")
    @classmethod
    def _custom(cls, v: dict[str, CustomValue]) -> dict[str, CustomValue]:
        if len(v) > MAX_CUSTOM_KEYS:
            raise ValueError(f"at most {MAX_CUSTOM_KEYS} custom keys")
        for key, value in v.items():
            if not key or len(key) > 64:
                raise ValueError("custom keys must be 1-64 characters")
            if isinstance(value, str) and len(value) > 1000:
                raise ValueError(f"custom value {key!r} is longer than 1000 characters")
        return v

    def to_lead_data(self) -> LeadData:
        return LeadData(
            email=self.email,
            phone=self.phone,
            first_name=self.first_name,
            last_name=self.last_name,
            company=self.company,
            company_domain=company_domain(self.email, self.website),
            website=self.website,
            job_title=self.job_title,
            company_size=self.company_size if isinstance(self.company_size, str) else None,
            industry=self.industry,
            country=self.country,
            region=self.region,
            city=self.city,
            timezone=self.timezone,
            marketing_consent=self.marketing_consent,
            message=self.message,
            utm=Utm(
                source=self.utm_source,
                medium=self.utm_medium,
                campaign=self.utm_campaign,
                term=self.utm_term,
                content=self.utm_content,
            ),
            campaign=self.campaign,
            form_id=self.form_id,
            page_url=self.page_url,
            custom=self.custom,
        )


LEAD_FIELDS = frozenset(LeadIn.model_fields)


class LeadInvalid(Exception):
    """Field errors for one submitted lead: ``[{"field", "message", "type"}]``."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def validate_lead(fields: dict[str, Any]) -> LeadData:
    """Validate and normalize one lead's fields; raises :class:`LeadInvalid` naming each field."""
    try:
        lead = LeadIn.model_validate(fields)
    except ValidationError as exc:
        raise LeadInvalid(field_errors_from_pydantic(exc.errors(include_url=False))) from None
    if lead.email is None and lead.phone is None:
        raise LeadInvalid(
            [
                {
                    "field": "email",
                    "message": "at least one of email or phone is required",
                    "type": "missing",
                }
            ]
        )
    return lead.to_lead_data()


def form_to_fields(body: bytes, *, ignore: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``application/x-www-form-urlencoded`` -> lead fields. ``custom[key]=v`` fills ``custom``."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise LeadInvalid(
            [{"field": "body", "message": "form body is not UTF-8", "type": "encoding"}]
        ) from None
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for key, value in pairs:
        if key in ignore:
            continue
        if key.startswith("custom[") and key.endswith("]"):
            if key[7:-1] in custom:
                raise LeadInvalid(
                    [
                        {
                            "field": key,
                            "message": f"field {key!r} given more than once",
                            "type": "duplicate",
                        }
                    ]
                )
            custom[key[7:-1]] = value
            continue
        if key in fields:
            raise LeadInvalid(
                [
                    {
                        "field": key,
                        "message": f"field {key!r} given more than once",
                        "type": "duplicate",
                    }
                ]
            )
        fields[key] = value
    if custom:
        fields["custom"] = custom
    return fields
