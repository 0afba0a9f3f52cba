"""The API's one error shape, ``{"error": {"type", "code", "param", "message"}}``, for every
failure under /v0/: validation, auth, unknown ids and paths, wrong methods, bodies that are too
big or not JSON. No HTML error page and no traceback ever reaches a client."""

import logging
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic.alias_generators import to_camel

from checkout.api.schemas import ErrorDetail, ErrorObject, ErrorType
from orgs.text import sentence_end

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"


class ApiError(Exception):
    """An error the API reports to its client as is."""

    def __init__(
        self,
        status: int,
        *,
        code: str,
        message: str,
        param: str | None = None,
        type: ErrorType = "invalid_request_error",  # noqa: A002 - the SPEC's field name
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.detail = ErrorDetail(type=type, code=code, param=param, message=message)
        self.headers = headers or {}


def error_response(error: ApiError) -> HttpResponse:
    """The JSON response for ``error``."""
    body = ErrorObject(error=error.detail).model_dump_json(by_alias=True)
    response = HttpResponse(body, status=error.status, content_type=JSON_CONTENT_TYPE)
    for name, value in error.headers.items():
        response[name] = value
    return response


def not_found(message: str = "No such resource.", param: str | None = None) -> ApiError:
    return ApiError(404, code="resource_missing", message=message, param=param)


def _param_path(location: Sequence[Any]) -> str | None:
    """``("items", 0, "quantity")`` → ``items[0].quantity`` (the name the client sent)."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":  # pydantic marks errors in a dict's keys this way
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or None


def _from_pydantic(errors: list[dict[str, Any]]) -> ApiError:
    first = errors[0]
    source, *location = first["loc"]
    # Body errors are located under the view's argument name; clients never see it.
    if source == "body":
        location = location[1:]
    param = _param_path(location)
    if first["type"] == "missing":
        code, message = "parameter_missing", f"Missing required parameter: {param}."
    elif first["type"] == "extra_forbidden":
        code, message = "parameter_unknown", f"Unknown parameter: {param}."
    elif param is None:
        code, message = "body_invalid", "The request body must be a JSON object."
    else:
        code, message = "parameter_invalid", sentence_end(f"Invalid {param}: {first['msg']}")
    return ApiError(400, code=code, param=param, message=message)


def _from_django_validation(error: ValidationError) -> ApiError:
    if hasattr(error, "error_dict"):
        field, messages = next(iter(error.message_dict.items()))
        param = {"payment_link": "paymentLinkId", "minutes": "extendExpiry"}.get(
            field, to_camel(field)
        )
        return ApiError(400, code="parameter_invalid", param=param, message=messages[0])
    return ApiError(400, code="parameter_invalid", message=error.messages[0])


def install_error_handlers(api: NinjaAPI) -> None:
    """Map every exception the API can meet to the SPEC's error object."""

    def handle(exception_class: type[Exception]):
        def register(to_api_error: Callable[[Exception], ApiError]):
            api.add_exception_handler(
                exception_class, lambda request, exc: error_response(to_api_error(exc))
            )
            return to_api_error

        return register

    handle(ApiError)(lambda exc: exc)
    handle(NinjaValidationError)(lambda exc: _from_pydantic(exc.errors))
    handle(ValidationError)(_from_django_validation)
    handle(Http404)(lambda exc: not_found())
    handle(AuthenticationError)(
        lambda exc: ApiError(
            401,
            type="authentication_error",
            code="invalid_api_key",
            message="Give a valid API key: Authorization: Bearer sk_test_… or sk_live_….",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    )
    # ninja raises HttpError(400) only when the body is not parseable JSON.
    handle(HttpError)(
        lambda exc: ApiError(
            exc.status_code,
            code="body_not_json" if exc.status_code == 400 else "request_failed",
            message="The request body is not valid JSON." if exc.status_code == 400 else str(exc),
        )
    )
    handle(RequestDataTooBig)(lambda exc: request_too_large())

    @handle(Exception)
    def unexpected(exc: Exception) -> ApiError:
        # A bug, not a client error: logged with its traceback, answered in the API's shape.
        logger.error("Unhandled error in the JSON API", exc_info=exc)
        return ApiError(
            500, type="api_error", code="internal_error", message="Something went wrong on our end."
        )


def request_too_large() -> ApiError:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return ApiError(
        413, code="request_too_large", message=f"The request body is larger than {limit} bytes."
    )


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def require_json_body(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (413) and non-JSON bodies (415)."""

    @wraps(run)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return error_response(request_too_large())
        media_type = request.content_type or ""
        is_json = media_type == JSON_CONTENT_TYPE or media_type.endswith("+json")
        if not is_json and (media_type or _declared_length(request)):
            return error_response(
                ApiError(
                    415,
                    code="unsupported_media_type",
                    message="Send the body as JSON with Content-Type: application/json.",
                )
            )
        return run(request, *args, **kwargs)

    return checked


def only_query_params(*allowed: str) -> Callable[[Callable[..., HttpResponse]], Callable]:
    """Refuse query parameters the operation does not know (400), as for unknown body fields."""

    def decorator(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(run)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            unknown = sorted(set(request.GET) - set(allowed))
            if unknown:
                return error_response(
                    ApiError(
                        400,
                        code="parameter_unknown",
                        param=unknown[0],
                        message=f"Unknown query parameter: {unknown[0]}.",
                    )
                )
            return run(request, *args, **kwargs)

        return checked

    return decorator


def json_method_not_allowed(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """ninja answers a wrong method with plain text; answer with the error object instead."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code != 405 or response.get("Content-Type", "").startswith(
            JSON_CONTENT_TYPE
        ):
            return response
        allowed = response.get("Allow", "")
        return error_response(
            ApiError(
                405,
                code="method_not_allowed",
                message=f"{request.method} is not allowed here; allowed: {allowed}.",
                headers={"Allow": allowed},
            )
        )

    return wrapped


def unknown_path(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any URL under /v0/ that is not an endpoint: a JSON 404, never Django's HTML page."""
    return error_response(not_found(f"Unrecognized request URL: {request.method} /v0/{path}"))
