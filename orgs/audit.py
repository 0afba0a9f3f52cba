"""The org's audit log: who changed what in its settings, links, keys, secrets and team.

Every write service of this app (and the dashboard's owner actions) records one entry in the
same transaction as its change, so the log never claims a change that did not happen. Entries
never hold a secret or a key: a rotation records the masked old and new values only.
"""

from collections.abc import Iterable, Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.db import models

from orgs.models import AuditEntry, Organization


def field_changes(before: models.Model | None, after: models.Model, fields: Iterable[str]) -> dict:
    """``{field: [old, new]}`` for each of ``fields`` that differs between two versions of a
    row (``before`` None: a new row, every non-empty field is listed with ``None`` as old)."""
    changes = {}
    for name in fields:
        new = after.serializable_value(name)
        old = before.serializable_value(name) if before is not None else None
        if old != new and not (before is None and new in ("", None, False)):
            changes[name] = [old, new]
    return changes


def record(
    *,
    org: Organization,
    user: AbstractBaseUser | None,
    action: str,
    target: str = "",
    mode: str = "",
    changes: Mapping | None = None,
) -> AuditEntry:
    """Write one audit entry: ``action`` (``AuditEntry.Action``) on ``target`` (a label such as
    a link's name or a key's masked form) by ``user`` (None: the system), in ``mode`` when the
    thing changed belongs to one mode."""
    return AuditEntry.objects.create(
        org=org,
        user=user,
        actor=user.get_username() if user is not None else "system",
        action=AuditEntry.Action(action),
        target=target[:200],
        mode=mode,
        changes=dict(changes or {}),
    )
