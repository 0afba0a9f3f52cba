"""JSON API v0 endpoints (django-ninja): create, retrieve, list and extend checkout sessions.

Each view parses with a pydantic schema, calls one service or query, and answers with the
session object; errors become the SPEC's error object (``checkout.api.errors``).
"""

import re
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from ninja import Header, NinjaAPI, Path, Query
from ninja.decorators import decorate_view
from ninja.openapi.docs import Swagger

from checkout.actors import Actor
from checkout.api.auth import ApiKeyAuth
from checkout.api.errors import (
    JSON_CONTENT_TYPE,
    ApiError,
    error_response,
    install_error_handlers,
    missing_parameter,
    not_found,
    only_query_params,
    require_json_body,
)
from checkout.api.idempotency import run_idempotently
from checkout.api.inputs import (
    CREATE_EXAMPLE,
    IDEMPOTENCY_KEY_PATTERN,
    MAX_PAGE_SIZE,
    SESSION_ID_PATTERN,
    UPDATE_EXAMPLE,
    CreateCheckoutSession,
    UpdateCheckoutSession,
)
from checkout.api.schemas import CheckoutSessionList, ErrorObject
from checkout.choices import SessionSource, SessionStatus
from checkout.effective_settings import RequiredFieldSet
from checkout.models import CheckoutSession
from checkout.queries import Cursor
from checkout.services import (
    LineItem,
    PaymentsUnavailable,
    SessionAlreadyPaid,
    SessionNoLongerActive,
    create_checkout_session,
    extend_session_expiry,
)
from checkout.session_json import ApiModel, CheckoutSessionObject, session_object
from orgs.models import ApiKey, PaymentLink

DESCRIPTION = """\
Create and manage checkout sessions from your server.

Authenticate with `Authorization: Bearer sk_test_…` (or `sk_live_…`); the key's mode decides
the mode of the sessions you see and create. Bodies and responses are camelCase JSON, money is
an integer in the currency's minor unit, times are ISO 8601 UTC (`2026-11-22T18:00:00Z`).
Every error is `{"error": {"type", "code", "param", "message"}}`. Send an `Idempotency-Key`
header on POST and PATCH to retry safely.
"""


def only_get(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The schema and docs pages answer GET (and HEAD) only, with the API's 405 otherwise."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method not in {"GET", "HEAD"}:
            return error_response(
                ApiError(
                    405,
                    code="method_not_allowed",
                    message=f"{request.method} is not allowed here; allowed: GET.",
                    headers={"Allow": "GET, HEAD"},
                )
            )
        return view(request, *args, **kwargs)

    return wrapped


api = NinjaAPI(
    title="Hosted Checkout API",
    version="v0",
    description=DESCRIPTION,
    urls_namespace="api-v0",
    auth=ApiKeyAuth(),
    docs=Swagger(settings={"tryItOutEnabled": False}),
    docs_decorator=only_get,
)
install_error_handlers(api)

ERRORS = {status: ErrorObject for status in (400, 401, 404, 405, 409, 411, 413, 415, 429)}
IdempotencyKey = Header(
    None,
    alias="Idempotency-Key",
    pattern=IDEMPOTENCY_KEY_PATTERN,
    description="1–255 printable ASCII characters; replays the first response for 24 h.",
)
StatusFilter = Query(None, description="Only sessions in this status.")
PageSize = Query(10, ge=1, le=MAX_PAGE_SIZE, description=f"How many sessions, 1–{MAX_PAGE_SIZE}.")
StartingAfter = Query(
    None,
    alias="startingAfter",
    pattern=SESSION_ID_PATTERN,
    description="The last session id of the previous page: the list continues after it.",
)


def body_example(example: dict) -> dict:
    """``openapi_extra`` giving the request body an example: the docs page's "Try it out"
    starts from it (Swagger UI prefers the media type's example to one built from the schema)."""
    return {"requestBody": {"content": {JSON_CONTENT_TYPE: {"example": example}}}}


SessionId = Path(..., description="A checkout session id, `cs_test_…` or `cs_live_…`.")


def json_response(status: int, body: ApiModel) -> HttpResponse:
    """Serialize ``body`` to camelCase JSON (the bytes idempotent replays repeat)."""
    return HttpResponse(
        body.model_dump_json(by_alias=True), status=status, content_type=JSON_CONTENT_TYPE
    )


def sessions_of(api_key: ApiKey):
    """Sessions the key may see: its org's, in its mode, with the derived status."""
    return CheckoutSession.objects.for_org(api_key.org, api_key.mode).with_status().with_details()


def get_session(api_key: ApiKey, session_id: str) -> CheckoutSession:
    """The key's session with that id; another org's or mode's session is a 404 too."""
    if not re.fullmatch(SESSION_ID_PATTERN, session_id):
        raise not_found(f"No such checkout session: {session_id!r}.", param="id")
    session = sessions_of(api_key).filter(public_id=session_id).first()
    if session is None:
        raise not_found(f"No such checkout session: {session_id!r}.", param="id")
    return session


def _payment_link(api_key: ApiKey, link_id: str | None) -> PaymentLink | None:
    if link_id is None:
        return None
    link = PaymentLink.objects.filter(org=api_key.org, mode=api_key.mode, public_id=link_id).first()
    if link is None:
        raise ApiError(
            400,
            code="resource_missing",
            param="paymentLinkId",
            message=f"No such payment link: paymentLinkId {link_id!r} is none of this account's "
            f"{api_key.mode} mode payment links.",
        )
    return link


def _create(api_key: ApiKey, payload: CreateCheckoutSession) -> HttpResponse:
    if payload.items is None and payload.payment_link_id is None:
        raise missing_parameter("items", "paymentLinkId")
    required = payload.required_fields
    try:
        session = create_checkout_session(
            org=api_key.org,
            mode=api_key.mode,
            source=SessionSource.API,
            actor=Actor.for_api_key(api_key),
            items=[
                LineItem(name=item.name, quantity=item.quantity, unit_price=item.unit_price)
                for item in payload.items or []
            ],
            link=_payment_link(api_key, payload.payment_link_id),
            currency=payload.currency or "",
            customer_email=payload.customer_email or "",
            success_url=payload.success_url or "",
            callback_url=payload.callback_url or "",
            required_fields=RequiredFieldSet(
                phone=required.phone,
                location=required.location,
                shipping_address=required.shipping_address,
            )
            if required
            else None,
            expires_in_minutes=payload.expires_in_minutes,
            metadata=payload.metadata,
        )
    except PaymentsUnavailable:
        raise ApiError(
            400,
            code="live_mode_unavailable",
            message="Live mode has no payment processor configured, so live sessions cannot "
            "be created. Use a test key (sk_test_…) or configure LIVE_PAYMENT_PROCESSOR.",
        ) from None
    return json_response(201, session_object(get_session(api_key, session.public_id)))


@api.post(
    "/checkout/sessions",
    response={201: CheckoutSessionObject, **ERRORS},
    operation_id="createCheckoutSession",
    openapi_extra=body_example(CREATE_EXAMPLE),
    by_alias=True,
    summary="Create a checkout session",
    url_name="checkout-sessions",
)
@decorate_view(require_json_body("items", "paymentLinkId"), only_query_params())
def create_session(
    request: HttpRequest,
    payload: CreateCheckoutSession,
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    """Create a session for `items` (or a `paymentLinkId`) and its order; 201 with the session."""
    return run_idempotently(
        request, key=idempotency_key, respond=lambda: _create(request.auth, payload)
    )


@api.get(
    "/checkout/sessions",
    response={200: CheckoutSessionList, **ERRORS},
    operation_id="listCheckoutSessions",
    by_alias=True,
    summary="List checkout sessions",
)
@decorate_view(only_query_params("status", "limit", "startingAfter"))
def list_sessions(
    request: HttpRequest,
    status: SessionStatus | None = StatusFilter,
    limit: int = PageSize,
    starting_after: str | None = StartingAfter,
) -> HttpResponse:
    """Sessions newest first, `limit` at a time; pass the last id as `startingAfter` for more."""
    sessions = sessions_of(request.auth)
    if status is not None:
        sessions = sessions.in_status(status)
    cursor = None
    if starting_after is not None:
        row = (
            CheckoutSession.objects.for_org(request.auth.org, request.auth.mode)
            .filter(public_id=starting_after)
            .only("created_at")
            .first()
        )
        if row is None:
            raise ApiError(
                400,
                code="resource_missing",
                param="startingAfter",
                message=f"No such checkout session: startingAfter {starting_after!r} is none of "
                f"this account's {request.auth.mode} mode sessions.",
            )
        cursor = Cursor.of(row)
    page = sessions.page(limit=limit, after=cursor)
    return json_response(
        200,
        CheckoutSessionList(
            data=[session_object(session) for session in page.rows],
            has_more=page.has_older,
        ),
    )


@api.get(
    "/checkout/sessions/{session_id}",
    response={200: CheckoutSessionObject, **ERRORS},
    operation_id="retrieveCheckoutSession",
    by_alias=True,
    summary="Retrieve a checkout session",
)
@decorate_view(only_query_params())
def retrieve_session(request: HttpRequest, session_id: str = SessionId) -> HttpResponse:
    """The session with this id (404 for another org's or mode's session)."""
    return json_response(200, session_object(get_session(request.auth, session_id)))


def _extend(api_key: ApiKey, session_id: str, payload: UpdateCheckoutSession) -> HttpResponse:
    session = get_session(api_key, session_id)
    try:
        extend_session_expiry(
            session=session, minutes=payload.extend_expiry, actor=Actor.for_api_key(api_key)
        )
    except SessionAlreadyPaid:
        raise ApiError(
            409,
            code="session_already_paid",
            message=f"Session {session_id} is already paid; its expiry cannot change.",
        ) from None
    except SessionNoLongerActive:
        raise ApiError(
            409,
            code="session_expired",
            message=f"Session {session_id} has expired; create a new session instead.",
        ) from None
    return json_response(200, session_object(get_session(api_key, session_id)))


@api.patch(
    "/checkout/sessions/{session_id}",
    response={200: CheckoutSessionObject, **ERRORS},
    operation_id="updateCheckoutSession",
    openapi_extra=body_example(UPDATE_EXAMPLE),
    by_alias=True,
    summary="Extend a checkout session's expiry",
)
@decorate_view(require_json_body("extendExpiry"), only_query_params())
def update_session(
    request: HttpRequest,
    payload: UpdateCheckoutSession,
    session_id: str = SessionId,
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    """Add `extendExpiry` minutes (1–1440) to the session's `expiresAt`; 409 once it is paid."""
    return run_idempotently(
        request,
        key=idempotency_key,
        respond=lambda: _extend(request.auth, session_id, payload),
    )
