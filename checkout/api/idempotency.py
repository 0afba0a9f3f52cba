"""``Idempotency-Key`` for POST and PATCH: safe retries for merchants' servers.

Per org and mode, for 24 hours:

- the first request with a key claims it (an ``IdempotencyRecord`` committed before any work,
  so a concurrent request with the same key sees it);
- once it succeeds, its status and exact body are stored and replayed to every later request
  with the same key and the same method, path and body (``Idempotent-Replayed: true``);
- a different method, path or body with that key is a 400 ``idempotency_error``;
- while the first is still running, the same key gets a 409 ``idempotency_error``; a claim
  left by a request that died (no answer within ``CLAIM_LEASE``) is released.

The work (a new session) and its stored response commit in one transaction: a worker killed
between the two leaves neither, so the retry after the lease creates the one session. A
request that outlives its lease finds its claim gone when it comes to store its response, and
rolls its work back (409): the request that took the key over is the one that counts.

Only successful (2xx) responses are kept: after an error the claim is released, so the client
can fix the request and retry with the same key (as Stripe does for failed validation).
"""

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from checkout.api.errors import JSON_CONTENT_TYPE, ApiError
from checkout.models import IdempotencyRecord
from checkout.upkeep import BATCH_SIZE, delete_in_batches
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


def _claim(*, api_key: ApiKey, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """Claim ``key``: the record that holds it, and whether this request just claimed it."""
    scope = {"org": api_key.org, "mode": api_key.mode, "key": key}
    now = timezone.now()
    # This key's record is free again once past the retention window (the worker purges the
    # others in batches: ``purge_expired_keys``), or when it is a claim whose request died
    # without answering (a killed worker): no request runs longer than the lease. Found
    # through the unique index on (org, mode, key) alone: the cost is the same in any org.
    IdempotencyRecord.objects.filter(
        Q(created_at__lte=now - RETENTION)
        | Q(response_status__isnull=True, created_at__lte=now - CLAIM_LEASE),
        **scope,
    ).delete()
    # The holder can disappear between our failed insert and our read (its request failed
    # and released the key): try once more, then answer as if it were still running.
    for _attempt in range(2):
        try:
            with transaction.atomic():
                claim = IdempotencyRecord.objects.create(**scope, request_fingerprint=fingerprint)
            return claim, True
        except IntegrityError:
            holder = IdempotencyRecord.objects.filter(**scope).first()
            if holder is not None:
                return holder, False
    # An unsaved, unanswered holder: the caller answers 409 "still being processed".
    return IdempotencyRecord(**scope, request_fingerprint=fingerprint), False


def purge_expired_keys(*, batch_size: int = BATCH_SIZE) -> int:
    """Delete records past the retention window, of every org, a batch at a time (the
    worker's periodic upkeep); returns how many went."""
    expired = IdempotencyRecord.objects.filter(created_at__lte=timezone.now() - RETENTION)
    return delete_in_batches(expired, batch_size=batch_size)


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
    fingerprint = request_fingerprint(request)
    holder, claimed = _claim(api_key=request.auth, key=key, fingerprint=fingerprint)
    if claimed:
        return _respond_and_store(claim=holder, respond=respond)
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
        raise _key_in_use()
    return _replay(holder)


def _key_in_use() -> ApiError:
    return ApiError(
        409,
        type="idempotency_error",
        code="idempotency_key_in_use",
        param="Idempotency-Key",
        message="A request with this Idempotency-Key is still being processed; retry in a moment.",
    )


def _respond_and_store(
    *, claim: IdempotencyRecord, respond: Callable[[], HttpResponse]
) -> HttpResponse:
    # Only this request's own claim, while unanswered: after its lease another request may
    # hold the key under a new claim, which is not ours to complete or release.
    unanswered_claim = IdempotencyRecord.objects.filter(pk=claim.pk, response_status__isnull=True)
    try:
        # The services' own transactions become savepoints of this one.
        with transaction.atomic():
            response = respond()
            if 200 <= response.status_code < 300 and not _store_response(
                unanswered_claim, response
            ):
                # Our lease ran out and the key was taken over: undo our work, answer as the
                # holder does for a request in flight.
                raise _key_in_use()
    except BaseException:
        unanswered_claim.delete()
        raise
    if not 200 <= response.status_code < 300:
        unanswered_claim.delete()
    return response


def _store_response(unanswered_claim: QuerySet[IdempotencyRecord], response: HttpResponse) -> bool:
    """Complete the claim with ``response``; False if the claim is no longer there."""
    return bool(
        unanswered_claim.update(
            response_status=response.status_code, response_body=response.content.decode()
        )
    )
