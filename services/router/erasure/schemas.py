"""The erasure API's bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ErasureRequest(BaseModel):
    """Erase every lead holding this email address or phone number (one of the two)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"email": "ada@example.com"}]}
    )

    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=64)
    # an address or number several people hold (a switchboard, info@) names them all: only
    # erased with this set, after checking the holders the refusal lists
    all_holders: bool = False

    @model_validator(mode="after")
    def _one(self) -> ErasureRequest:
        if (self.email is None) == (self.phone is None):
            raise ValueError("give either email or phone")
        return self
