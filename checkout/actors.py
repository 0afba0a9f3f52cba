"""Who did something: every timeline event names its actor."""

from dataclasses import dataclass

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
