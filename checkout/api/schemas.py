"""What the JSON API sends: the session object (``checkout.session_json``, shared with
callbacks), the list envelope and the error object."""

from typing import Literal

from checkout.session_json import ApiModel, CheckoutSessionObject


class CheckoutSessionList(ApiModel):
    object: Literal["list"] = "list"
    data: list[CheckoutSessionObject]
    has_more: bool


ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "idempotency_error",
    "rate_limit_error",
    "api_error",
]


class ErrorDetail(ApiModel):
    type: ErrorType
    code: str
    param: str | None
    message: str


class ErrorObject(ApiModel):
    error: ErrorDetail
