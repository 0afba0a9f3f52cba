"""Recover sale under concurrency (PostgreSQL row locks): several merchant users clicking
"Email the customer" on one failed session at the same instant send one recovery email and
create one recovery session; the others are refused, saying who sent it."""

import threading

import pytest
from django.core import mail
from django.db import connection

from checkout.actors import Actor
from checkout.choices import EventKind
from checkout.models import CheckoutSession, TimelineEvent
from checkout.services import RecoveryEmailTooSoon, recover_session
from tests.factories import UserFactory, make_session

THREADS = 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_recovery_emails_of_one_session_send_exactly_one():
    old = make_session(failed_attempts=1, customer_email="race@example.com")
    users = [UserFactory(username=f"clerk{n}") for n in range(THREADS)]
    start = threading.Barrier(THREADS)
    recovered, refused, errors = [], [], []

    def one_click(user):
        try:
            start.wait()
            recovered.append(
                recover_session(session=old, actor=Actor.for_user(user), send_email=True)
            )
        except RecoveryEmailTooSoon as error:
            refused.append(error)
        except BaseException as error:  # surfaced below; a thread must not die silently
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_click, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(recovered) == 1 and len(refused) == THREADS - 1
    sender = recovered[0]
    [event] = TimelineEvent.objects.filter(session=old, kind=EventKind.RECOVERED_BY)
    assert all(f"sent by {event.actor_label}" in str(error) for error in refused)
    assert CheckoutSession.objects.filter(recovered_from=old).get() == sender.session
    assert [message.to for message in mail.outbox] == [["race@example.com"]]
