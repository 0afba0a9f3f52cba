"""The session timeline, the audit log: every write appends its events here, with who did it
and its data. What follows from an event (the callbacks its kind asks for) hangs off the
``event_recorded`` signal, sent inside the writer's transaction, so the code that records an
event never imports the code that reacts to it."""

from collections.abc import Mapping

from django.dispatch import Signal

from checkout.actors import Actor
from checkout.choices import EventKind
from checkout.models import CheckoutSession, TimelineEvent

# Sent with ``event`` (a saved TimelineEvent) right after it is written, in its transaction.
event_recorded = Signal()


def record_event(
    *, session: CheckoutSession, kind: str, actor: Actor, data: Mapping | None = None
) -> TimelineEvent:
    """Append one event to a session's timeline (inside the caller's transaction)."""
    event = TimelineEvent.objects.create(
        session=session,
        kind=EventKind(kind),
        actor_kind=actor.kind,
        actor_label=actor.label[:150],
        actor_user=actor.user,
        data=dict(data or {}),
    )
    event_recorded.send(sender=TimelineEvent, event=event)
    return event
