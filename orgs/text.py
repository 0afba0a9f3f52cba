"""Rules for text we store and show: no control characters in names, and sentences that end
once (``sentence_end``), whatever the interpolated value itself ends with."""

import unicodedata

from django.core.exceptions import ValidationError

# Cc: C0/C1 controls (NUL, CR, LF, TAB, ESC …); Cs: lone surrogates (PostgreSQL cannot store
# them); Zl/Zp: the Unicode line and paragraph separators, which break a line as LF does.
CONTROL_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Bidirectional embeddings, overrides and isolates: they reorder what follows on screen, so a
# name could display as something it is not ("Acme" + U+202E + "oC").
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
SENTENCE_ENDINGS = (".", "!", "?", "…")


def has_control_characters(value: str) -> bool:
    """Whether ``value`` holds a character that breaks a line, a header or storage."""
    return any(
        unicodedata.category(character) in CONTROL_CATEGORIES or character in BIDI_CONTROLS
        for character in value
    )


def validate_no_control_characters(value: str) -> None:
    """Model and form validator for one-line text: names end up in email subjects (headers)."""
    if has_control_characters(value):
        raise ValidationError(
            "Must not contain control characters (such as line breaks or tabs).",
            code="control_characters",
        )


def sentence_end(text: str) -> str:
    """``text`` ending a sentence: a period added unless it already ends with . ! ? or …

    ``sentence_end("Acme Coffee Co.")`` is ``"Acme Coffee Co."``, not ``"Acme Coffee Co.."``.
    """
    text = str(text)
    return text if text.rstrip().endswith(SENTENCE_ENDINGS) else f"{text}."


def one_line(value: str) -> str:
    """``value`` on one line: control characters become spaces, each run of spaces one space."""
    return " ".join("".join(" " if has_control_characters(c) else c for c in value).split())
