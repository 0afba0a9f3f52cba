"""Public ids: a type prefix and an unguessable random part (``cs_test_…``, ``ord_…``)."""

from django.utils.crypto import get_random_string

# [A-Za-z0-9] only; get_random_string draws from `secrets`.
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
RANDOM_PART_LENGTH = 32


def new_public_id(prefix: str, length: int = RANDOM_PART_LENGTH) -> str:
    """A fresh id such as ``plink_Ab3…`` (``prefix`` includes no trailing underscore)."""
    return f"{prefix}_{get_random_string(length, ID_ALPHABET)}"
