"""The API's one error shape, ``{"error": {"type", "code", "param", "message"}}``, for every
failure under /v0/: validation, auth, unknown ids and paths, wrong methods, bodies that are too
big or not JSON. No HTML error page and no traceback ever reaches a client."""

import logging
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.views import defaults
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationErrorContext
from pydantic.alias_generators import to_camel

from checkout.api.inputs import OWN_ERROR_TYPES, Expected, expected_at
from checkout.api.schemas import ErrorDetail, ErrorObject, ErrorType
from orgs.text import sentence_end

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
API_PATH_PREFIX = "/v0/"


def is_api_request(request: HttpRequest) -> bool:
    """Whether ``request`` is for the JSON API (its path; the Host may not even be valid)."""
    return request.path_info.startswith(API_PATH_PREFIX)


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
        else:
            path += f".{part}" if path else str(part)
    return path or None


def _invalid_input(context: ValidationErrorContext) -> ApiError:
    """A 400 for the first thing ninja's parsing refused, in our words, never pydantic's: it
    names the parameter as the client sent it and says what is allowed there."""
    model = context.model
    error = context.pydantic_validation_error.errors(include_url=False)[0]
    location = list(model.__ninja_flatten_map_reverse__.get(error["loc"], error["loc"]))
    # Body errors are located under the view's argument name; clients never see it.
    named = location[1:] if model.__ninja_param_source__ == "body" else location
    if "[key]" in named:  # a key of an object (metadata's): the object is the parameter
        named = named[: named.index("[key]") - 1]
    param = _param_path(named)
    if param is None:
        return ApiError(400, code="body_invalid", message="The request body must be a JSON object.")
    kind = error["type"]
    if kind == "missing":
        return missing_parameter(param)
    if kind == "extra_forbidden":
        return ApiError(
            400, code="parameter_unknown", param=param, message=f"Unknown parameter: {param}."
        )
    if kind in OWN_ERROR_TYPES:
        message = f"Invalid {param}: {error['msg']}"
    else:
        message = _what_is_allowed(param, kind, expected_at(model, location))
    return ApiError(400, code="parameter_invalid", param=param, message=sentence_end(message))


def _what_is_allowed(param: str, kind: str, expected: Expected | None) -> str:
    allowed = expected.in_words() if expected is not None else None
    if allowed is None:
        return f"Invalid {param}."
    if expected.is_key:
        return f"Each key of {param} must be {allowed}."
    low, high = expected.constraints.get("min_length"), expected.constraints.get("max_length")
    if kind in {"too_short", "too_long"} and expected.is_list and None not in (low, high):
        return f"Give between {low} and {high} {param}."
    if kind == "too_long" and expected.is_object and high is not None:
        return f"Give at most {high} keys in {param}."
    return f"{param} must be {allowed}."


def missing_parameter(name: str, *alternatives: str) -> ApiError:
    """400 ``parameter_missing`` naming ``name`` (and what may stand in for it)."""
    names = " or ".join((name, *alternatives))
    return ApiError(
        400, code="parameter_missing", param=name, message=f"Missing required parameter: {names}."
    )


def invalid_parameter(param: str, message: str) -> ApiError:
    """400 ``parameter_invalid``; the message names ``param`` as the client sent it."""
    if param not in message:
        message = f"Invalid {param}: {message}"
    return ApiError(400, code="parameter_invalid", param=param, message=sentence_end(message))


def _from_django_validation(error: ValidationError) -> ApiError:
    if hasattr(error, "error_dict"):
        field, messages = next(iter(error.message_dict.items()))
        param = {"payment_link": "paymentLinkId", "minutes": "extendExpiry"}.get(
            field, to_camel(field)
        )
        return invalid_parameter(param, messages[0])
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
    # ninja turns pydantic's errors into its own ValidationError, dropping the model that knows
    # each field's bounds: build our error from the model instead (ninja raises what we return).
    api.validation_error_from_error_contexts = lambda contexts: _invalid_input(contexts[0])
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
        return internal_error()


def internal_error() -> ApiError:
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


def _unread_chunked_body(request: HttpRequest) -> bool:
    """A chunked body the server left unread: Django reads only what Content-Length declares
    (config/wsgi.py gives it the length when the server has decoded the chunks, as gunicorn
    does; a server that has not, like runserver's, leaves the body unreadable)."""
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    return chunked and not request.META.get("CONTENT_LENGTH")


def require_json_body(*required: str) -> Callable[[Callable[..., HttpResponse]], Callable]:
    """Refuse bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (413), chunked bodies the server did not
    read (411), non-JSON bodies (415) and an empty body (400 naming the ``required`` field, or
    its alternatives)."""

    def decorator(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(run)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if _declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                return error_response(request_too_large())
            if _unread_chunked_body(request):
                return error_response(
                    ApiError(
                        411,
                        code="length_required",
                        message="This server could not read a chunked request body: send the "
                        "body with a Content-Length header.",
                    )
                )
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
            if not request.body:
                return error_response(missing_parameter(*required))
            return run(request, *args, **kwargs)

        return checked

    return decorator


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


# Django's error handlers (config/urls.py): for an exception raised outside the API's views (a
# middleware refusing the Host header, a crash in a middleware), /v0/ still answers with the
# error object; every other path gets our HTML pages (templates/400.html …).


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api_request(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        error = ApiError(
            400,
            code="bad_host",
            param="Host",
            message="This server does not answer to the Host header sent; use the API's "
            "published address.",
        )
    elif isinstance(exception, RequestDataTooBig):
        error = request_too_large()
    else:
        error = ApiError(400, code="bad_request", message="The request could not be understood.")
    return error_response(error)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api_request(request):
        return defaults.permission_denied(request, exception)
    return error_response(ApiError(403, code="forbidden", message="This request is not allowed."))


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api_request(request):
        return defaults.page_not_found(request, exception)
    return error_response(not_found(f"Unrecognized request URL: {request.path}"))


def server_error(request: HttpRequest) -> HttpResponse:
    if not is_api_request(request):
        return defaults.server_error(request)
    return error_response(internal_error())
