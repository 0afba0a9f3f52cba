"""What the JSON API accepts: request bodies and query parameters, parsed by pydantic.

Types are strict (``"3"`` or ``3.0`` is not a quantity) and unknown fields are refused, so a
typo in an integration fails loudly instead of being ignored. Bounds come from the services,
which validate again: the schema only rejects what can never be valid.

``expected_at`` reads back what the schema accepts at a place in a request (its type and its
``ge``/``le``/``min_length``/``max_length``/pattern), so error messages say it in our words.
"""

import enum
import types
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import GroupedMetadata
from django.core.exceptions import ValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
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
CURRENCY_PATTERN = r"^[A-Za-z]{3}$"
MAX_PAGE_SIZE = 100

# A client cannot be expected to read a regular expression: what each pattern allows, in words.
PATTERN_IN_WORDS = {
    SESSION_ID_PATTERN: "a checkout session id (cs_test_… or cs_live_…)",
    IDEMPOTENCY_KEY_PATTERN: "1–255 printable ASCII characters",
    CURRENCY_PATTERN: "a three-letter ISO 4217 currency code, like USD",
}


# The errors our own validators raise: their messages are already ours.
OWN_ERROR_TYPES = frozenset(
    {"string_control_characters", "string_unstorable_characters", "email_undeliverable"}
)


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


# The bodies the docs page offers under "Try it out": sent as they are, each must succeed
# (items and paymentLinkId exclude each other, so the example has items only).
CREATE_EXAMPLE = {
    "items": [
        {"name": "Espresso beans, 1 kg", "quantity": 2, "unitPrice": 2400},
        {"name": "Shipping", "quantity": 1, "unitPrice": 500},
    ],
    "currency": "USD",
    "customerEmail": "jenny.rosen@example.com",
    "successUrl": "https://example.com/thanks?session={CHECKOUT_SESSION_ID}",
    "expiresInMinutes": 60,
    "requiredFields": {"phone": False, "location": False, "shippingAddress": True},
    "metadata": {"orderRef": "A-1001"},
}
UPDATE_EXAMPLE = {"extendExpiry": 30}


class CreateCheckoutSession(ApiInput):
    """Give ``items`` or a ``paymentLinkId``; everything else is optional."""

    model_config = ConfigDict(json_schema_extra={"examples": [CREATE_EXAMPLE]})

    items: list[LineItemInput] | None = Field(None, min_length=1, max_length=MAX_ITEMS)
    payment_link_id: line(64) | None = None
    currency: Annotated[str, StringConstraints(strict=True, pattern=CURRENCY_PATTERN)] | None = (
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
    model_config = ConfigDict(json_schema_extra={"examples": [UPDATE_EXAMPLE]})

    extend_expiry: int = Field(
        ge=MIN_EXTEND_EXPIRY_MINUTES,
        le=MAX_EXTEND_EXPIRY_MINUTES,
        description="Minutes to add to the current expiresAt.",
    )


# --- What a place in a request accepts, in words (for error messages) -------------------------

_CONSTRAINTS = ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern")


def _collect_constraints(metadata: Sequence[Any], into: dict[str, Any]) -> None:
    for item in metadata:
        if isinstance(item, FieldInfo):
            _collect_constraints(item.metadata, into)
        elif isinstance(item, GroupedMetadata):
            _collect_constraints(list(item), into)
        else:
            for name in _CONSTRAINTS:
                if (value := getattr(item, name, None)) is not None:
                    into.setdefault(name, value)


def _unwrap(annotation: Any, constraints: dict[str, Any]) -> Any:
    """The bare type under ``Annotated[…]`` and ``… | None``, collecting constraints on the way."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *metadata = get_args(annotation)
            _collect_constraints(metadata, constraints)
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _field_named(model: type[BaseModel], name: str) -> FieldInfo | None:
    for python_name, info in model.model_fields.items():
        if name in (info.alias, info.validation_alias, python_name):
            return info
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _listed(values: Sequence[Any], conjunction: str = "or") -> str:
    words = [str(value) for value in values]
    return ", ".join(words[:-1]) + f" {conjunction} {words[-1]}" if len(words) > 1 else words[0]


@dataclass(frozen=True)
class Expected:
    """What the schema accepts at one place in a request: a bare type and its constraints."""

    annotation: Any
    constraints: dict[str, Any] = field(default_factory=dict)
    is_key: bool = False  # the place is a key of an object (metadata's keys), not a value

    @property
    def is_list(self) -> bool:
        return get_origin(self.annotation) is list

    @property
    def is_object(self) -> bool:
        return get_origin(self.annotation) is dict or _is_model(self.annotation)

    def in_words(self) -> str | None:
        """``a whole number from 1 to 10000``: what may stand here, to follow "must be"."""
        annotation, bounds = self.annotation, self.constraints
        low = bounds.get("ge", bounds.get("min_length"))
        high = bounds.get("le", bounds.get("max_length"))
        if annotation is bool:
            return "true or false"
        if annotation is int:
            if low is not None and high is not None:
                return f"a whole number from {low} to {high}"
            if low is not None:
                return f"a whole number of at least {low}"
            return "a whole number"
        if annotation is str:
            if bounds.get("pattern") in PATTERN_IN_WORDS:
                return PATTERN_IN_WORDS[bounds["pattern"]]
            if low and high is not None:
                return f"a string of {low} to {_count(high, 'character')}"
            if high is not None:
                return f"a string of at most {_count(high, 'character')}"
            return "a string"
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return f"one of {_listed([member.value for member in annotation])}"
        if get_origin(annotation) is Literal:
            return f"one of {_listed(get_args(annotation))}"
        if self.is_list:
            entries = "objects" if _is_model(get_args(annotation)[0]) else "values"
            if low is not None and high is not None:
                return f"an array of {low} to {high} {entries}"
            return f"an array of {entries}"
        if get_origin(annotation) is dict:
            if high is not None:
                return f"an object of at most {_count(high, 'key')}, with string values"
            return "an object with string values"
        if _is_model(annotation):
            names = [info.alias or name for name, info in annotation.model_fields.items()]
            return f"an object with {_listed(names, 'and')}"
        return None


def expected_at(model: type[BaseModel], location: Sequence[str | int]) -> Expected | None:
    """What ``model`` accepts at ``location`` (a pydantic error's ``loc``), or None."""
    annotation: Any = model
    constraints: dict[str, Any] = {}
    is_key = False
    parts = list(location)
    while parts:
        part = parts.pop(0)
        bare = _unwrap(annotation, constraints)
        constraints = {}
        if _is_model(bare) and isinstance(part, str):
            info = _field_named(bare, part)
            if info is None:
                return None
            annotation = info.annotation
            _collect_constraints(info.metadata, constraints)
        elif get_origin(bare) is list and isinstance(part, int):
            annotation = get_args(bare)[0]
        elif get_origin(bare) is dict and isinstance(part, str):
            key_type, value_type = get_args(bare)
            is_key = parts[:1] == ["[key]"]
            annotation = key_type if is_key else value_type
            del parts[:is_key]
        else:
            return None
    return Expected(_unwrap(annotation, constraints), constraints, is_key)
