"""Who did something: every timeline event names its actor."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from checkout.choices import ActorKind


@dataclass(frozen=True)
class Actor:
    kind: str
    label: str = ""
    user: object | None = None

    @classmethod
    def customer(cls) -> "Actor":
        return cls(ActorKind.CUSTOMER, "customer")

    @classmethod
    def system(cls) -> "Actor":
        return cls(ActorKind.SYSTEM, "system")

    @classmethod
    def for_user(cls, user) -> "Actor":
        return cls(ActorKind.USER, user.get_username(), user)

    @classmethod
    def for_api_key(cls, api_key) -> "Actor":
        return cls(ActorKind.API, api_key.masked)

    def as_task_argument(self) -> dict:
        """The actor as a task argument (JSON): a task names who asked for it on its events."""
        return {"kind": str(self.kind), "label": self.label, "user": getattr(self.user, "pk", None)}

    @classmethod
    def from_task_argument(cls, argument: dict | None) -> "Actor":
        """The actor a task was enqueued with; the system when none was given. A merchant user
        deleted meanwhile is still named by the label they had."""
        if not argument:
            return cls.system()
        user = None
        if argument.get("user") is not None:
            user = get_user_model().objects.filter(pk=argument["user"]).first()
        return cls(ActorKind(argument["kind"]), str(argument.get("label", "")), user)
