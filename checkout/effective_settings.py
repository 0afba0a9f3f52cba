"""The settings hierarchy: one function resolves what applies to a session.

Most specific non-empty value wins (session > payment link > organization) for currency,
success URL and callback URL; terms / privacy / support come from the org only; required
fields OR-merge (required at any layer stays required).
"""

from dataclasses import dataclass

from orgs.models import Organization, PaymentLink


@dataclass(frozen=True)
class RequiredFieldSet:
    phone: bool = False
    location: bool = False
    shipping_address: bool = False

    def __or__(self, other: "RequiredFieldSet") -> "RequiredFieldSet":
        return RequiredFieldSet(
            phone=self.phone or other.phone,
            location=self.location or other.location,
            shipping_address=self.shipping_address or other.shipping_address,
        )

    @classmethod
    def of(cls, layer) -> "RequiredFieldSet":
        """The fields a layer (org, link or session: anything with ``require_*``) requires."""
        if layer is None:
            return cls()
        return cls(
            phone=layer.require_phone,
            location=layer.require_location,
            shipping_address=layer.require_shipping_address,
        )

    def as_api(self) -> dict[str, bool]:
        return {
            "phone": self.phone,
            "location": self.location,
            "shippingAddress": self.shipping_address,
        }

    @property
    def names(self) -> list[str]:
        return [name for name, required in vars(self).items() if required]


@dataclass(frozen=True)
class EffectiveSettings:
    currency: str
    success_url: str
    callback_url: str
    terms_url: str
    privacy_url: str
    support_email: str
    required_fields: RequiredFieldSet


def _first_non_empty(*values: str) -> str:
    return next((value for value in values if value), "")


def resolve_settings(
    *, org: Organization, link: PaymentLink | None = None, session=None, currency: str = ""
) -> EffectiveSettings:
    """Effective settings for a session, from its org, its payment link and its own overrides.

    ``session`` is a CheckoutSession or anything with its override attributes (``success_url``,
    ``callback_url``, ``require_*``); ``currency`` is the per-session currency (API), if any.
    """
    return EffectiveSettings(
        currency=_first_non_empty(currency, link.currency if link else "", org.currency).upper(),
        success_url=_first_non_empty(
            getattr(session, "success_url", ""), link.success_url if link else "", org.success_url
        ),
        callback_url=_first_non_empty(
            getattr(session, "callback_url", ""),
            link.callback_url if link else "",
            org.callback_url,
        ),
        terms_url=org.terms_url,
        privacy_url=org.privacy_url,
        support_email=org.support_email,
        required_fields=RequiredFieldSet.of(org)
        | RequiredFieldSet.of(link)
        | RequiredFieldSet.of(session),
    )


def effective_settings(session) -> EffectiveSettings:
    """Effective settings of an existing session (its currency is fixed on its order).

    Resolved once per session object: a request's view, forms, checks and templates share the
    result. The session's own overrides are part of the memo's key, so changing one on the
    object resolves again; its org and link are taken as loaded (a request doesn't edit them).
    """
    key = (
        session.org_id,
        session.payment_link_id,
        session.success_url,
        session.callback_url,
        session.require_phone,
        session.require_location,
        session.require_shipping_address,
        session.order.currency,
    )
    memo = session.__dict__.get("_effective_settings")
    if memo is not None and memo[0] == key:
        return memo[1]
    effective = resolve_settings(
        org=session.org, link=session.payment_link, session=session, currency=session.order.currency
    )
    session.__dict__["_effective_settings"] = (key, effective)
    return effective
