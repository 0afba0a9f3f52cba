"""``{{ org.name|sentence_end }}``: end a sentence with a value without doubling its period."""

from django import template

from orgs.text import sentence_end as end_sentence

register = template.Library()


@register.filter(is_safe=True)
def sentence_end(value) -> str:
    """The value with a period, unless it already ends a sentence (``Acme Coffee Co.``)."""
    return end_sentence(value)
