"""What the JSON API accepts: request bodies and query parameters, parsed by pydantic.

Types are strict (``"3"`` or ``3.0`` is not a quantity) and unknown fields are refused, so a
typo in an integration fails loudly instead of being ignored. Bounds come from the services,
which validate again: the schema only rejects what can never be valid.
"""

import unicodedata
from typing import Annotated

from django.core.exceptions import ValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from checkout.models import MAX_EXPIRES_IN_MINUTES, MIN_EXPIRES_IN_MINUTES
from checkout.services import (
    MAX_EXTEND_EXPIRY_MINUTES,
    MAX_ITEMS,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    MAX_QUANTITY,
    MAX_UNIT_PRICE,
    MIN_EXTEND_EXPIRY_MINUTES,
)
from orgs.emails import canonical_email

SESSION_ID_PATTERN = r"^cs_(test|live)_[A-Za-z0-9]{1,60}$"
# RFC 9110 visible characters and spaces: what survives every proxy and log unchanged.
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]{1,255}$"


def _no_control_characters(value: str) -> str:
    # NUL and lone surrogates cannot be stored in PostgreSQL text; other control characters
    # have no business in names, emails or URLs.
    if any(unicodedata.category(character) in {"Cc", "Cs"} for character in value):
        raise PydanticCustomError(
            "string_control_characters", "Must not contain control characters."
        )
    return value


def _no_unstorable_characters(value: str) -> str:
    if "\x00" in value or any(unicodedata.category(character) == "Cs" for character in value):
        raise PydanticCustomError(
            "string_unstorable_characters", "Must not contain NUL or unpaired surrogates."
        )
    return value


def _deliverable_email(value: str) -> str:
    # The service canonicalizes again; refusing here names the parameter in the message.
    try:
        return canonical_email(value)
    except ValidationError as error:
        raise PydanticCustomError("email_undeliverable", error.messages[0]) from None


def line(max_length: int, min_length: int = 0) -> type[str]:
    """A single-line string of bounded length, without control characters."""
    return Annotated[
        str,
        StringConstraints(strict=True, min_length=min_length, max_length=max_length),
        AfterValidator(_no_control_characters),
    ]


def formatted_line(max_length: int, json_format: str) -> type[str]:
    """``line(max_length)`` published with a JSON Schema ``format`` (``uri``, ``email``), so
    clients and schema-driven fuzzers see what is expected; the services validate it."""
    return Annotated[line(max_length), Field(json_schema_extra={"format": json_format})]


MetadataKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_METADATA_KEY_LENGTH),
    AfterValidator(_no_control_characters),
]
MetadataValue = Annotated[
    str,
    StringConstraints(strict=True, max_length=MAX_METADATA_VALUE_LENGTH),
    AfterValidator(_no_unstorable_characters),
]


class ApiInput(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=False, extra="forbid", strict=True
    )


class LineItemInput(ApiInput):
    name: line(250, min_length=1) = Field(description="What the customer buys.")
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    unit_price: int = Field(
        ge=0, le=MAX_UNIT_PRICE, description="In the currency's minor unit (cents for USD)."
    )


class RequiredFieldsInput(ApiInput):
    phone: bool = False
    location: bool = Field(False, description="Country and postal code.")
    shipping_address: bool = False


class CreateCheckoutSession(ApiInput):
    """Give ``items`` or a ``paymentLinkId``; everything else is optional."""

    items: list[LineItemInput] | None = Field(None, min_length=1, max_length=MAX_ITEMS)
    payment_link_id: line(64) | None = None
    currency: Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z]{3}$")] | None = (
        Field(None, description="ISO 4217 code; defaults to the link's or the org's.")
    )
    customer_email: (
        Annotated[formatted_line(254, "email"), AfterValidator(_deliverable_email)] | None
    ) = Field(None, description="Stored and returned in canonical form (domain IDNA-encoded).")
    success_url: formatted_line(2000, "uri") | None = Field(
        None, description="Where the customer lands after paying; {CHECKOUT_SESSION_ID} works."
    )
    callback_url: formatted_line(2000, "uri") | None = Field(
        None, description="Where signed callbacks for this session go."
    )
    expires_in_minutes: int = Field(60, ge=MIN_EXPIRES_IN_MINUTES, le=MAX_EXPIRES_IN_MINUTES)
    required_fields: RequiredFieldsInput | None = None
    metadata: dict[MetadataKey, MetadataValue] | None = Field(
        None, max_length=MAX_METADATA_KEYS, description="String keys to string values."
    )


class UpdateCheckoutSession(ApiInput):
    extend_expiry: int = Field(
        ge=MIN_EXTEND_EXPIRY_MINUTES,
        le=MAX_EXTEND_EXPIRY_MINUTES,
        description="Minutes to add to the current expiresAt.",
    )
