"""Settings for ``make bench``: the project's production settings (``DEBUG=false``, tasks on the
database backend, ``CONN_MAX_AGE`` as configured) plus a bare view (``bench.urls``) to compare
against. The bench database is ``checkout_bench`` unless ``DATABASE_URL`` says otherwise.
``make soak`` serves its two app servers and runs its worker with these settings too."""

import os

from bench import BENCH_DATABASE_URL

os.environ.setdefault("DATABASE_URL", BENCH_DATABASE_URL)
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("SITE_URL", "http://127.0.0.1:8000")
# Served over plain HTTP on 127.0.0.1: no TLS in front of gunicorn here.
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("TASKS_BACKEND", "database")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# wrk sends thousands of requests a second with one key: the per-key limit stays on (its upsert
# is part of what is measured) but so high that it never refuses one.
os.environ.setdefault("API_RATE_LIMIT_REQUESTS", str(10**9))

from config.settings import *  # noqa: E402, F403

ROOT_URLCONF = "bench.urls"
# The in-process timings use Django's test client, whose host is "testserver" (production
# settings refuse it, rightly: this is the bench, not production).
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]  # noqa: F405
