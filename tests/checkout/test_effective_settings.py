"""The settings hierarchy (SPEC table): most specific non-empty value wins; required fields
OR-merge across org, payment link and session."""

import pytest

from checkout import effective_settings as resolver
from checkout.effective_settings import RequiredFieldSet, effective_settings
from tests.factories import OrganizationFactory, PaymentLinkFactory, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def org_with_defaults():
    return OrganizationFactory(
        currency="EUR",
        success_url="https://org.example.com/thanks",
        callback_url="https://org.example.com/hook",
        terms_url="https://org.example.com/terms",
        privacy_url="https://org.example.com/privacy",
        support_email="help@org.example.com",
    )


def test_org_defaults_apply_when_nothing_overrides(org_with_defaults):
    settings = effective_settings(make_session(org=org_with_defaults))
    assert settings.currency == "EUR"
    assert settings.success_url == "https://org.example.com/thanks"
    assert settings.callback_url == "https://org.example.com/hook"


def test_payment_link_overrides_currency_success_and_callback(org_with_defaults):
    link = PaymentLinkFactory(
        org=org_with_defaults,
        currency="JPY",
        success_url="https://link.example.com/thanks",
        callback_url="https://link.example.com/hook",
    )
    settings = effective_settings(make_session(link=link))
    assert settings.currency == "JPY"
    assert settings.success_url == "https://link.example.com/thanks"
    assert settings.callback_url == "https://link.example.com/hook"


def test_session_overrides_link_and_org(org_with_defaults):
    link = PaymentLinkFactory(
        org=org_with_defaults,
        success_url="https://link.example.com/thanks",
        callback_url="https://link.example.com/hook",
    )
    session = make_session(
        link=link,
        success_url="https://session.example.com/thanks?id={CHECKOUT_SESSION_ID}",
        callback_url="https://session.example.com/hook",
    )
    settings = effective_settings(session)
    assert settings.success_url == "https://session.example.com/thanks?id={CHECKOUT_SESSION_ID}"
    assert settings.callback_url == "https://session.example.com/hook"


def test_api_session_currency_overrides_org(org_with_defaults):
    assert effective_settings(make_session(org=org_with_defaults, currency="GBP")).currency == "GBP"


def test_empty_strings_never_override(org_with_defaults):
    link = PaymentLinkFactory(org=org_with_defaults, currency="", success_url="", callback_url="")
    settings = effective_settings(make_session(link=link, success_url="", callback_url=""))
    assert settings.currency == "EUR"
    assert settings.success_url == "https://org.example.com/thanks"
    assert settings.callback_url == "https://org.example.com/hook"


def test_terms_privacy_and_support_come_from_the_org_only(org_with_defaults):
    settings = effective_settings(make_session(link=PaymentLinkFactory(org=org_with_defaults)))
    assert settings.terms_url == "https://org.example.com/terms"
    assert settings.privacy_url == "https://org.example.com/privacy"
    assert settings.support_email == "help@org.example.com"


def test_link_requires_phone_and_session_adds_location():
    link = PaymentLinkFactory(require_phone=True)
    session = make_session(link=link, required_fields=RequiredFieldSet(location=True))
    required = effective_settings(session).required_fields
    assert required == RequiredFieldSet(phone=True, location=True, shipping_address=False)
    assert required.as_api() == {"phone": True, "location": True, "shippingAddress": False}


def test_session_cannot_remove_a_field_the_link_requires():
    link = PaymentLinkFactory(require_phone=True, require_shipping_address=True)
    session = make_session(link=link, required_fields=RequiredFieldSet(phone=False))
    required = effective_settings(session).required_fields
    assert required.phone and required.shipping_address


def test_org_level_requirement_stays_required():
    org = OrganizationFactory(require_location=True)
    session = make_session(link=PaymentLinkFactory(org=org), required_fields=RequiredFieldSet())
    assert effective_settings(session).required_fields.location


def test_a_session_resolves_its_settings_once_until_one_of_its_overrides_changes(
    org_with_defaults, monkeypatch
):
    session = make_session(org=org_with_defaults)
    calls = []
    real_resolve = resolver.resolve_settings
    monkeypatch.setattr(
        resolver, "resolve_settings", lambda **kwargs: calls.append(1) or real_resolve(**kwargs)
    )

    first = effective_settings(session)
    assert effective_settings(session) is first  # the page, the form and the check share it
    session.success_url = "https://merchant.example.com/changed"
    changed = effective_settings(session)

    assert len(calls) == 2
    assert changed.success_url == "https://merchant.example.com/changed"
