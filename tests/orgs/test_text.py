"""Text rules: organization names stay on one line (they go into email subjects), and a sentence
ending in an interpolated value ends once ("Acme Coffee Co.", never "Acme Coffee Co..")."""

import pytest
from django.core.exceptions import ValidationError

from orgs.text import one_line, sentence_end
from tests.factories import OrganizationFactory, UserFactory


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("Paid to Acme Coffee Co", "Paid to Acme Coffee Co."),
        ("Paid to Acme Coffee Co.", "Paid to Acme Coffee Co."),
        ("Paid to Yahoo!", "Paid to Yahoo!"),
        ("Who made this?", "Who made this?"),
        ("", "."),
    ],
)
def test_sentence_end_adds_a_period_only_when_the_text_does_not_end_one(text, sentence):
    assert sentence_end(text) == sentence


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["Acme\r\nBcc: all@example.com", "Acme\tCoffee", "Acme\u2028Co", "Acme\u202eoC"]
)
def test_organization_names_with_control_characters_are_refused(name):
    org = OrganizationFactory.build(name=name, slug="acme")

    with pytest.raises(ValidationError) as refused:
        org.full_clean()

    assert "control characters" in refused.value.message_dict["name"][0]


@pytest.mark.django_db
def test_the_admin_refuses_an_organization_name_with_a_line_break(client):
    client.force_login(UserFactory(username="operator", is_staff=True, is_superuser=True))
    form = {
        "name": "Acme\r\nBcc: all@example.com",
        "slug": "acme",
        "currency": "USD",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }

    response = client.post("/admin/orgs/organization/add/", form)

    assert response.status_code == 200
    assert "control characters" in response.text
    assert not OrganizationFactory._meta.model.objects.filter(slug="acme").exists()


def test_one_line_turns_control_characters_into_single_spaces():
    assert one_line("Acme\r\n  Coffee\tCo.") == "Acme Coffee Co."
