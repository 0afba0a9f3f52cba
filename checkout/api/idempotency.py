"""``Idempotency-Key`` for POST and PATCH: safe retries for merchants' servers.

Per org and mode, for 24 hours:

- the first request with a key claims it (an ``IdempotencyRecord`` committed before any work,
  so a concurrent request with the same key sees it);
- once it succeeds, its status and exact body are stored and replayed to every later request
  with the same key and the same method, path and body (``Idempotent-Replayed: true``);
- a different method, path or body with that key is a 400 ``idempotency_error``;
- while the first is still running, the same key gets a 409 ``idempotency_error``; a claim
  left by a request that died (no answer within ``CLAIM_LEASE``) is released.

Only successful (2xx) responses are kept: after an error the claim is released, so the client
can fix the request and retry with the same key (as Stripe does for failed validation).
"""

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from checkout.api.errors import JSON_CONTENT_TYPE, ApiError
from checkout.models import IdempotencyRecord
from orgs.models import ApiKey

RETENTION = timedelta(hours=24)
# Longer than any request may run (gunicorn's timeout is 30 s by default).
CLAIM_LEASE = timedelta(minutes=2)
REPLAY_HEADER = "Idempotent-Replayed"


def request_fingerprint(request: HttpRequest) -> str:
    """What must match for a replay: method, path and the exact body bytes."""
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), request.body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _claim(*, api_key: ApiKey, key: str, fingerprint: str) -> IdempotencyRecord | None:
    """Claim ``key``; None if this request now owns it, else the record that holds it."""
    scope = {"org": api_key.org, "mode": api_key.mode, "key": key}
    now = timezone.now()
    # Keys older than the retention window are free again: this purges all of the org's and
    # mode's (the table never grows past a day of keys; the created_at index finds the few).
    # A claim whose request died without answering (a killed worker) is released too: no
    # request runs longer than the lease.
    IdempotencyRecord.objects.filter(
        Q(created_at__lte=now - RETENTION)
        | Q(key=key, response_status__isnull=True, created_at__lte=now - CLAIM_LEASE),
        org=api_key.org,
        mode=api_key.mode,
    ).delete()
    # The holder can disappear between our failed insert and our read (its request failed
    # and released the key): try once more, then answer as if it were still running.
    for _attempt in range(2):
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(**scope, request_fingerprint=fingerprint)
            return None
        except IntegrityError:
            holder = IdempotencyRecord.objects.filter(**scope).first()
            if holder is not None:
                return holder
    # An unsaved, unanswered holder: the caller answers 409 "still being processed".
    return IdempotencyRecord(**scope, request_fingerprint=fingerprint)


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        record.response_body, status=record.response_status, content_type=JSON_CONTENT_TYPE
    )
    response[REPLAY_HEADER] = "true"
    return response


def run_idempotently(
    request: HttpRequest, *, key: str | None, respond: Callable[[], HttpResponse]
) -> HttpResponse:
    """Run ``respond`` once per ``Idempotency-Key`` (or every time when there is none)."""
    if key is None:
        return respond()
    api_key = request.auth
    fingerprint = request_fingerprint(request)
    holder = _claim(api_key=api_key, key=key, fingerprint=fingerprint)
    if holder is None:
        return _respond_and_store(api_key=api_key, key=key, respond=respond)
    if holder.request_fingerprint != fingerprint:
        raise ApiError(
            400,
            type="idempotency_error",
            code="idempotency_key_reused",
            param="Idempotency-Key",
            message="This Idempotency-Key was already used with a different request "
            "(method, path or body). Use a new key for a new request.",
        )
    if not holder.is_complete:
        raise ApiError(
            409,
            type="idempotency_error",
            code="idempotency_key_in_use",
            param="Idempotency-Key",
            message="A request with this Idempotency-Key is still being processed; "
            "retry in a moment.",
        )
    return _replay(holder)


def _respond_and_store(
    *, api_key: ApiKey, key: str, respond: Callable[[], HttpResponse]
) -> HttpResponse:
    record = IdempotencyRecord.objects.filter(org=api_key.org, mode=api_key.mode, key=key)
    try:
        response = respond()
    except BaseException:
        record.delete()
        raise
    if 200 <= response.status_code < 300:
        record.update(response_status=response.status_code, response_body=response.content.decode())
    else:
        record.delete()
    return response
