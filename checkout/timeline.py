"""The session timeline: every write appends its events here, with who did it and its data."""

from collections.abc import Mapping

from checkout.actors import Actor
from checkout.choices import EventKind
from checkout.models import CheckoutSession, TimelineEvent


def record_event(
    *, session: CheckoutSession, kind: str, actor: Actor, data: Mapping | None = None
) -> TimelineEvent:
    """Append one event to a session's timeline (inside the caller's transaction)."""
    return TimelineEvent.objects.create(
        session=session,
        kind=EventKind(kind),
        actor_kind=actor.kind,
        actor_label=actor.label[:150],
        actor_user=actor.user,
        data=dict(data or {}),
    )
