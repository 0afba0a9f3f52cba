"""The session object: the one JSON shape a merchant's server sees of a checkout session, in
API responses and in callback payloads (``data``). It belongs to the domain, not to the API:
callbacks build it too. Field names are camelCase and times are ISO 8601 UTC with a ``Z``
(``2026-11-22T18:00:00Z``); the pydantic models also give the API its published schema.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

from checkout.choices import SessionStatus
from checkout.effective_settings import effective_settings
from checkout.models import CheckoutSession


def format_timestamp(moment: datetime) -> str:
    """``2026-11-22T18:00:00Z``: UTC, whole seconds, as the API shows every time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2026-11-22T18:00:00Z"}),
]


class ApiModel(BaseModel):
    """Base of every API schema: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        """The camelCase, JSON-ready dict sent to clients."""
        return self.model_dump(mode="json", by_alias=True)


class LineItemObject(ApiModel):
    name: str
    quantity: int
    unit_price: int
    amount: int


class OrderObject(ApiModel):
    id: str
    number: int
    payment_status: Literal["unpaid", "paid"]
    currency: str
    amount_total: int
    items: list[LineItemObject]
    paid_at: Timestamp | None


class RequiredFieldsObject(ApiModel):
    phone: bool
    location: bool
    shipping_address: bool


class CheckoutSessionObject(ApiModel):
    id: str
    object: Literal["checkout.session"] = "checkout.session"
    mode: Literal["test", "live"]
    url: str
    status: Literal["open", "succeeded", "failed", "expired"]
    active: bool
    created_at: Timestamp
    expires_at: Timestamp
    failed_attempts: int
    customer_email: str | None
    currency: str
    success_url: str | None
    callback_url: str | None
    required_fields: RequiredFieldsObject
    payment_link_id: str | None
    metadata: dict[str, str]
    order: OrderObject


def session_url(session: CheckoutSession) -> str:
    """The hosted checkout page of a session, on the public site."""
    return f"{settings.SITE_URL}/checkout/{session.public_id}"


def session_object(session: CheckoutSession) -> CheckoutSessionObject:
    """The API's session object. ``session`` comes from ``with_status().with_details()``."""
    order = session.order
    effective = effective_settings(session)
    return CheckoutSessionObject(
        id=session.public_id,
        mode=session.mode,
        url=session_url(session),
        # Status and active come from the SQL annotations (one ``now``), never recomputed here.
        status=SessionStatus(session.status),
        active=session.active_now,
        created_at=session.created_at,
        expires_at=session.expires_at,
        failed_attempts=session.failed_attempts,
        customer_email=session.customer_email or None,
        currency=order.currency,
        success_url=effective.success_url or None,
        callback_url=effective.callback_url or None,
        required_fields=RequiredFieldsObject(
            phone=effective.required_fields.phone,
            location=effective.required_fields.location,
            shipping_address=effective.required_fields.shipping_address,
        ),
        payment_link_id=session.payment_link.public_id if session.payment_link else None,
        metadata=session.metadata,
        order=OrderObject(
            id=order.public_id,
            number=order.number,
            payment_status=order.payment_status,
            currency=order.currency,
            amount_total=order.amount_total,
            items=[
                LineItemObject(
                    name=item.name,
                    quantity=item.quantity,
                    unit_price=item.unit_price,
                    amount=item.amount,
                )
                for item in order.items.all()
            ],
            paid_at=order.paid_at,
        ),
    )
