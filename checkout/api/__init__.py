"""The JSON API v0 (django-ninja)."""
